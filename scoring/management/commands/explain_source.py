"""Explain every feature of a source on the task queue (and optionally score what it writes)."""

from django.core.management.base import BaseCommand, CommandError

from explanations.explainers import EXPLAINERS
from explanations.explainers.prompts import PROMPTS
from scoring import services
from scoring.core.scorers import SCORERS

from ._sources import add_run_arguments, run_and_report, scorer_list, source_arg


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
        parser.add_argument("--judge", choices=services.JUDGES, default="offline")
        parser.add_argument("--llm-model", default="", help="openai-compatible: LLM name (default: OPENAI_MODEL)")
        parser.add_argument("--llm-base-url", default="", help="openai-compatible: endpoint (default: OPENAI_BASE_URL)")
        add_run_arguments(parser)

    def handle(self, *args, **options):
        source = source_arg(options["source"])
        try:
            run, created = services.explain_run_create(
                source=source,
                explainer=options["explainer"],
                scorers=options["scorers"],
                judge=options["judge"],
                prompt=options["prompt"],
                llm_model=options["llm_model"],
                llm_base_url=options["llm_base_url"],
                sync=options["sync"],
            )
        except services.PipelineRequestError as error:
            raise CommandError(str(error)) from error
        run_and_report(self, run, created, options)
