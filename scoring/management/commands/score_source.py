"""Score every explanation of a source on the task queue."""

import functools

from django.core.management.base import BaseCommand

from scoring.core.scorers import SCORERS
from scoring.services.runs import DEFAULT_SCORERS, score_run_create

from ._sources import add_llm_arguments, add_run_arguments, create_and_report, scorer_list


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
            default=list(DEFAULT_SCORERS),
            help=f"Comma-separated, from {', '.join(sorted(SCORERS))} (default: {','.join(DEFAULT_SCORERS)})",
        )
        add_llm_arguments(parser, who="judge")
        parser.add_argument("--force", action="store_true", help="Recompute scores that are already there")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        create_and_report(
            self,
            functools.partial(score_run_create, scorers=options["scorers"], force=options["force"]),
            options,
        )
