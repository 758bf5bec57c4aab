"""Scores of explanations: the one place that writes ExplanationScore rows and an explanation's best score.

An automated score belongs to the revision whose text it scored, one per (revision, scorer, judge) (a database
constraint), so scoring again finds it instead of adding another. The human score (Verify mode) is the exception:
a new one is appended as verdicts come in, and the latest is shown. `best_score` orders an explanation among its
feature's; it only ever rises. Every write here marks the feature's page changed (front/page_cache.py): a
model save through the page cache's receivers, a queryset write explicitly.
"""

from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from explanations.core.rules import rule_matches
from explanations.models import Explanation, ExplanationRevision
from features.services.page_versions import feature_page_changed
from scoring.core.errors import ScoringInputError
from scoring.core.judges import Judge, TokenProbabilityJudge
from scoring.core.offline_judges import DEFAULT_JUDGE, offline_judge
from scoring.core.scorers import ScoreResult, get_scorer
from scoring.models import ExplanationScore
from scoring.stored_examples import FeatureExamples, FeatureRecords

from .backends import judge_key
from .runs import revision_score_queue


class ScoringIncomplete(ScoringInputError):
    """Some scorers could not score an explanation (each says why); the others' scores are saved."""

    def __init__(self, message: str, *, written: list) -> None:
        super().__init__(message)
        self.written = written


def score_save(
    *,
    explanation: Explanation,
    revision: ExplanationRevision,
    result: ScoreResult,
    judge: str | None = None,
    replace: bool = False,
) -> ExplanationScore | None:
    """Store a scorer's result for `revision` of the explanation (under `judge` if given, else the judge the
    result names). A score already there for the same revision, scorer and judge stands and None is returned
    (another run wrote it meanwhile), unless `replace` puts this one in its place. A human score is appended."""
    score = ExplanationScore.from_result(result, explanation=explanation, revision=revision)
    if judge is not None:
        score.judge = judge
    with transaction.atomic():
        if replace:
            ExplanationScore.objects.filter(revision=revision, scorer=score.scorer, judge=score.judge).delete()
        try:
            with transaction.atomic():
                score.save()
        except IntegrityError:
            return None
    return score


def explanation_best_score_raise(
    *, explanation: Explanation, value: float, revision: ExplanationRevision | None = None
) -> bool:
    """Raise the explanation's best score to `value` if it is higher (or the first), in the database, so that a
    stale copy in memory never lowers what another process wrote. A score of `revision` raises it only while
    that revision is still the current text. Returns whether it rose."""
    current = Explanation.objects.filter(pk=explanation.pk)
    if revision is not None:
        current = current.filter(current_revision_id=revision.pk)
    raised = current.filter(Q(best_score__isnull=True) | Q(best_score__lt=value)).update(best_score=value)
    if raised:
        feature_page_changed([explanation.feature_id])
        explanation.best_score = value
    return bool(raised)


def explanation_best_score_refresh(*, explanation: Explanation) -> float | None:
    """Set the explanation's best score from its current text's automated scores (None until it has one)."""
    best = (
        ExplanationScore.objects.filter(revision_id=explanation.current_revision_id)
        .exclude(scorer="human")
        .aggregate(best=Max("value"))["best"]
    )
    Explanation.objects.filter(pk=explanation.pk).update(best_score=best)
    explanation.best_score = best
    feature_page_changed([explanation.feature_id])
    return best


def revision_scores_follow(*, explanation: Explanation, revision: ExplanationRevision, reverted_to=None, **_) -> None:
    """A new revision of an explanation: its scores are its own. A revert restores a text already scored, so the
    restored text's automated scores are carried over to it; then the best score follows the new text, and a
    new text is queued for the offline scorers (WIKI_SCORE_NEW_REVISIONS). (The receiver of
    explanations.signals.revision_added, connected in scoring/apps.py.)"""
    if reverted_to is not None:
        carried = ExplanationScore.objects.filter(revision=reverted_to).exclude(scorer="human")
        ExplanationScore.objects.bulk_create(
            [
                ExplanationScore(
                    explanation_id=explanation.pk,
                    revision=revision,
                    scorer=score.scorer,
                    value=score.value,
                    details=score.details,
                    example_mix=score.example_mix,
                    judge=score.judge,
                )
                for score in carried
            ]
        )
    explanation_best_score_refresh(explanation=explanation)
    if reverted_to is None and settings.WIKI_SCORE_NEW_REVISIONS:
        transaction.on_commit(lambda: revision_score_queue(explanation=explanation, author=revision.author))


def human_scores_save(*, scores: Sequence[ExplanationScore], cleared: Sequence[Explanation] = ()) -> None:
    """Append new human scores (unsaved ExplanationScore rows, one query however many) and remove the human
    scores of the current revision of each explanation in `cleared` (its verdicts no longer support one)."""
    if not scores and not cleared:
        return
    with transaction.atomic():
        if cleared:
            revisions = [explanation.current_revision_id for explanation in cleared]
            ExplanationScore.objects.filter(revision_id__in=revisions, scorer="human").delete()
        ExplanationScore.objects.bulk_create(scores)
        feature_page_changed(
            [explanation.feature_id for explanation in cleared] + [score.explanation.feature_id for score in scores]
        )


def _rule_matcher(rule: dict | None):
    return (lambda tokens: rule_matches(rule, list(tokens))) if rule else None


def _reading_each_window_once(judge: Judge) -> Judge:
    """The offline judge with its per-token reading (TokenProbabilityJudge.probabilities, which its simulate,
    detect and fuzz all call) remembered per (explanation, tokens), for this judge object only (a new one per
    explanation scored). Other judges are returned as they are."""
    if not isinstance(judge, TokenProbabilityJudge):
        return judge
    read = judge.probabilities
    seen: dict[tuple, list[float]] = {}

    def probabilities(explanation: str, tokens) -> list[float]:
        key = (explanation, tuple(tokens))
        if key not in seen:
            seen[key] = list(read(explanation, tokens))
        return list(seen[key])

    judge.probabilities = probabilities  # an instance attribute: simulate, detect and fuzz call self.probabilities
    return judge


def explanation_score(
    *,
    explanation: Explanation,
    scorers: list[str],
    examples: FeatureExamples,
    records: FeatureRecords | None = None,
    judge: Judge | None = None,
    offline: str = DEFAULT_JUDGE,
    force: bool = False,
) -> list[ExplanationScore]:
    """Score the explanation's current text with each scorer it has no score from yet (with this judge, or
    else the offline judge named `offline`);
    `force` computes them again and replaces them. Returns the scores written. The rule scorer is skipped
    for an explanation without a rule. A scorer that cannot score it (e.g. detection when every example
    window fires) raises ScoringIncomplete after the others' scores are saved."""
    revision = explanation.current_revision
    if revision is None:
        raise ScoringInputError("The explanation has no text to score.")
    rule = revision.rule
    wanted = [name for name in scorers if name != "rule" or rule]
    existing = set(ExplanationScore.objects.filter(revision=revision, scorer__in=wanted).values_list("scorer", "judge"))
    todo = [
        name for name in wanted if force or (name, judge_key(scorer=name, judge=judge, offline=offline)) not in existing
    ]
    if not todo:
        return []
    records = records or examples.feature_records(explanation.feature)
    scoring = examples.example_set(records, explanation=revision.text, rule=rule)
    matcher = _rule_matcher(rule)
    # One offline judge for all the scorers, reading each window once: simulation, detection and fuzzing read
    # mostly the same windows, and an offline judge's reading of a window does not change.
    scoring_judge = judge or _reading_each_window_once(offline_judge(offline, rule=matcher))
    written, errors = [], []
    for name in todo:
        try:
            result = get_scorer(name).score(revision.text, scoring.example_set, judge=scoring_judge, rule=matcher)
        except ScoringInputError as error:  # this scorer cannot score it; the others still may
            errors.append(f"{name}: {error}")
            continue
        result.details["shown"] = scoring.shown
        score = score_save(explanation=explanation, revision=revision, result=result, replace=force)
        if score is not None:
            written.append(score)
    if written:
        explanation_best_score_raise(
            explanation=explanation, value=max(score.value for score in written), revision=revision
        )
    if errors:
        raise ScoringIncomplete(" ".join(errors), written=written)
    return written
