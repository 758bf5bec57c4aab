from django.core.management.base import BaseCommand, CommandError

from circuits.services.connections import MAX_TOP_K, connections_run_create
from features.models import LanguageModel
from features.pipeline.errors import PipelineInputError
from features.services.runs import run_enqueue_and_follow


class Command(BaseCommand):
    help = (
        "Compute every feature's strongest upstream and downstream features of a model (virtual weights through the "
        "residual stream) and the dictionary features that fire on the same tokens (co-activation), as a run on the "
        "task queue. A django-q2 worker (`manage.py qcluster`) must be running unless --sync is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="The registered model's slug")
        parser.add_argument(
            "--top-k", type=int, default=10, help=f"Connections kept per feature each way (1-{MAX_TOP_K})"
        )
        parser.add_argument("--windows", type=int, default=128, help="Corpus windows of the co-activation pass")
        parser.add_argument("--min-together", type=int, default=2, help="Tokens two features must share to be listed")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")
        parser.add_argument("--no-wait", action="store_true", help="Enqueue and return at once")
        parser.add_argument("--timeout", type=float, default=7200, help="Seconds to wait for the run")

    def handle(self, *args, model, top_k, windows, min_together, sync, no_wait, timeout, **options):
        language_model = LanguageModel.objects.filter(slug=model).first()
        if language_model is None:
            raise CommandError(f"There is no model {model!r}; register it first.")
        try:
            run = connections_run_create(
                model=language_model, top_k=top_k, windows=windows, min_together=min_together, sync=sync
            )
        except PipelineInputError as error:
            raise CommandError(str(error)) from error
        run_enqueue_and_follow(run=run, wait=not no_wait, stdout=self.stdout, timeout_s=timeout)
