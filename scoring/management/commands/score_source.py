"""Score every explanation of a source on the task queue."""

from django.core.management.base import BaseCommand, CommandError

from scoring import services
from scoring.core.scorers import SCORERS

from ._sources import add_run_arguments, run_and_report, scorer_list, source_arg


class Command(BaseCommand):
    help = (
        "Score every visible explanation of a source with the chosen scorers. A score is kept per explanation "
        "text, scorer and judge, so running it again computes only what is missing (--force recomputes). "
        "A django-q2 worker (`manage.py qcluster`) must be running unless --sync is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="MODEL/SOURCE, e.g. minilm-l6/3-mlp")
        parser.add_argument(
            "--scorers",
            type=scorer_list,
            default=list(services.DEFAULT_SCORERS),
            help=f"Comma-separated, from {', '.join(sorted(SCORERS))} (default: {','.join(services.DEFAULT_SCORERS)})",
        )
        parser.add_argument("--judge", choices=services.JUDGES, default="offline")
        parser.add_argument("--llm-model", default="", help="openai-compatible judge: LLM name (default: OPENAI_MODEL)")
        parser.add_argument("--llm-base-url", default="", help="openai-compatible judge: endpoint")
        parser.add_argument("--force", action="store_true", help="Recompute scores that are already there")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        source = source_arg(options["source"])
        try:
            run, created = services.score_run_create(
                source=source,
                scorers=options["scorers"],
                judge=options["judge"],
                force=options["force"],
                llm_model=options["llm_model"],
                llm_base_url=options["llm_base_url"],
                sync=options["sync"],
            )
        except services.PipelineRequestError as error:
            raise CommandError(str(error)) from error
        run_and_report(self, run, created, options)
