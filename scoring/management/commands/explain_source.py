"""Explain every feature of a source on the task queue (and optionally score what it writes)."""

import functools

from django.core.management.base import BaseCommand

from scoring.core.scorers import SCORERS
from scoring.explainers import EXPLAINERS
from scoring.explainers.prompts import PROMPTS
from scoring.services.runs import explain_run_create

from ._sources import add_llm_arguments, add_run_arguments, create_and_report, scorer_list


class Command(BaseCommand):
    help = (
        "Write a machine explanation for every feature of a source that fires, one per feature and explainer "
        "(running it again skips what is written), and score each with --scorers. A django-q2 worker "
        "(`manage.py qcluster`) must be running unless --sync is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="MODEL/SOURCE, e.g. minilm-l6/3-mlp")
        parser.add_argument("--explainer", choices=sorted(EXPLAINERS), default="token-stats")
        parser.add_argument("--prompt", choices=PROMPTS, default="", help="For the LLM explainers")
        parser.add_argument(
            "--scorers",
            type=scorer_list,
            default=[],
            help=f"Comma-separated scorers to score the new explanations with ({', '.join(sorted(SCORERS))})",
        )
        add_llm_arguments(parser, who="explainer or judge")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        create_and_report(
            self,
            functools.partial(
                explain_run_create,
                explainer=options["explainer"],
                scorers=options["scorers"],
                prompt=options["prompt"],
            ),
            options,
        )
