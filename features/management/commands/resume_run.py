from django.core.management.base import BaseCommand, CommandError

from features import services
from features.models import PipelineRun

from ._runs import follow


class Command(BaseCommand):
    help = "Queue again the unfinished shards of an activation run (after a crash or a fixed failure)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--no-wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=7200)

    def handle(self, *args, run_id, no_wait, timeout, **options):
        run = PipelineRun.objects.filter(pk=run_id, kind=PipelineRun.Kind.ACTIVATIONS).first()
        if run is None:
            raise CommandError(f"There is no activation run #{run_id}.")
        if run.status == PipelineRun.Status.SUCCEEDED:
            self.stdout.write(f"Run #{run_id} already succeeded.")
            return
        count = services.activation_run_resume(run_id=run_id)
        self.stdout.write(f"Queued {count} shard(s) of run #{run_id} again.")
        if not no_wait:
            follow(PipelineRun.objects.get(pk=run_id), stdout=self.stdout, timeout_s=timeout)
