"""Score the fixed sample of a dictionary's features that the comparison page averages."""

from django.core.management.base import BaseCommand, CommandError

from evaluations.selectors import SAMPLE_SIZE
from evaluations.services.sample_scores import sample_score_runs_create
from scoring.core.offline_judges import DEFAULT_JUDGE, JUDGE_NAMES
from scoring.services.runs import PipelineRequestError

from .evaluate_source import source_arg


class Command(BaseCommand):
    help = (
        f"Score with detection and fuzzing the best explanation of each of a fixed random sample of {SAMPLE_SIZE} "
        "features of a dictionary (the comparison page's interpretability figures), where a score is missing. "
        "Features without an explanation are listed: explain them first (explain_source). A django-q2 worker "
        "must be running unless --sync is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="MODEL/SOURCE")
        parser.add_argument("--judge", choices=JUDGE_NAMES, default=DEFAULT_JUDGE)
        parser.add_argument("--sync", action="store_true", help="Score in this process instead of on a worker")

    def handle(self, *args, **options):
        source = source_arg(options["source"])
        try:
            result = sample_score_runs_create(source=source, judge=options["judge"], sync=options["sync"])
        except PipelineRequestError as error:
            raise CommandError(str(error)) from error
        failed = [run for run in result.runs if run.status == "failed"]
        self.stdout.write(
            f"{len(result.runs)} scoring run(s) for the sample of {source}; {result.already_scored} explanation(s) "
            f"were scored already."
        )
        if result.unexplained:
            listed = ", ".join(str(index) for index in result.unexplained[:20])
            self.stdout.write(f"{len(result.unexplained)} sampled feature(s) have no explanation yet: {listed}.")
        for run in failed:
            self.stdout.write(f"Run #{run.pk} failed: {run.error}")
        for run in result.runs:  # a scorer may refuse one feature (too few silent examples) and score the rest
            for failure in run.failures[:20]:
                self.stdout.write(f"{failure['feature']}: {failure['error']}")
