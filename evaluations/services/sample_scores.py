"""Scoring the fixed sample of a dictionary's features whose scores the comparison page averages."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser

from evaluations.selectors import INTERPRETABILITY_SCORERS, SAMPLE_SIZE, sample_best_explanations
from explanations.models import Explanation
from features.models import PipelineRun, Source
from features.services.runs import run_enqueue
from scoring.models import ExplanationScore
from scoring.services.runs import score_run_create


@dataclass
class SampleScoring:
    runs: list[PipelineRun]  # one scoring run per explanation that lacked a score (new, or the same under way)
    unexplained: list[int]  # sampled feature indices with no visible explanation to score
    already_scored: int


def sample_score_runs_create(
    *,
    source: Source,
    judge: str,
    sample_size: int = SAMPLE_SIZE,
    sync: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> SampleScoring:
    """A scoring run (detection and fuzzing, the scores missing) for the best explanation of each sampled
    feature that lacks one; features without an explanation are listed, to be explained first."""
    best = sample_best_explanations(source, sample_size=sample_size)
    explained = {pk for pk in best.values() if pk is not None}
    have: dict[int, set[str]] = {}
    for explanation_id, scorer in ExplanationScore.objects.filter(
        explanation_id__in=explained, scorer__in=INTERPRETABILITY_SCORERS
    ).values_list("explanation_id", "scorer"):
        have.setdefault(explanation_id, set()).add(scorer)
    runs = []
    for explanation in Explanation.objects.filter(pk__in=explained).order_by("pk"):
        missing = [scorer for scorer in INTERPRETABILITY_SCORERS if scorer not in have.get(explanation.pk, set())]
        if missing:
            run, created = score_run_create(
                explanation=explanation, scorers=missing, judge=judge, created_by=created_by, sync=sync
            )
            runs.append(run_enqueue(run=run) if created else run)
    return SampleScoring(
        runs=runs,
        unexplained=sorted(index for index, pk in best.items() if pk is None),
        already_scored=len(explained) - len(runs),
    )
