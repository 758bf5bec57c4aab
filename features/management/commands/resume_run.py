from django.core.management.base import BaseCommand, CommandError

from features.models import PipelineRun
from features.services.runs import run_follow, run_resume


class Command(BaseCommand):
    help = (
        "Queue again what a run has not done, whatever its kind (after a crash, or a failure since fixed): the "
        "unfinished shards of an activation run, the features an explanation or scoring run has not reached."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--no-wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=7200)

    def handle(self, *args, run_id, no_wait, timeout, **options):
        run = PipelineRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"There is no run #{run_id}.")
        if run.status == PipelineRun.Status.SUCCEEDED:
            self.stdout.write(f"Run #{run_id} already succeeded.")
            return
        resumed = run_resume(run_id=run_id)
        self.stdout.write(resumed.summary)
        if not no_wait:
            run_follow(run=resumed.run, stdout=self.stdout, timeout_s=timeout)
