"""The scores the game writes to the wiki: an explanation's `human` score, from the verdicts Verify
collects, and the offline scores (with best_score) of an explanation written in Explain mode. Both are written
by scoring's one score writer (scoring/services/scores.py)."""

import json

from explanations.models import Explanation
from scoring.core.errors import ScoringInputError
from scoring.models import ExplanationScore
from scoring.services.scores import explanation_best_score_raise, human_scores_save, score_save

from ..core.explain import ExplainOutcome
from ..core.reliability import Verdict, human_score, verifier_weight
from ..models import Answer


def human_scores_update(*, explanations) -> dict[int, ExplanationScore | None]:
    """Recompute the `human` score of each explanation from the verdicts on its current revision, each
    weighted by its verifier's current reliability, in a fixed number of queries however many there are.
    Verdicts are read in the order they were given, so a verifier's latest on a card is the one that counts,
    and each verifier counts once per revision however many rounds they played (core/reliability.py).

    A score that changed is stored as a new ExplanationScore (the wiki shows the latest); an unchanged one
    writes nothing. Where nothing is left to weigh (every verifier of the revision has weight 0, e.g. after
    gold answers showed the only one guessing), the revision's human scores are removed: they are derived
    from the verdicts, which stay, and a value that the current reliabilities no longer support must not stay
    on the wiki. Returns {explanation id: its current human score, or None}."""
    by_revision = {e.current_revision_id: e for e in explanations if e.current_revision_id is not None}
    if not by_revision:
        return {}
    rows = (
        Answer.objects.filter(item__revision_id__in=by_revision, item__is_gold=False, says_fits__isnull=False)
        .order_by("pk")
        .values_list("item__revision_id", "user_id", "says_fits", "item__label", "user__player__gold_correct",
                     "user__player__gold_total", "item__window_id", "item__marked")
    )  # fmt: skip
    verdicts: dict[int, list[Verdict]] = {revision_id: [] for revision_id in by_revision}
    labels: dict[int, dict[int, str]] = {revision_id: {} for revision_id in by_revision}
    for revision_id, user_id, says_fits, label, gold_correct, gold_total, window_id, marked in rows:
        # Verifiers appear in the stored details as v1, v2, ... (scores are public; who said what is not).
        names = labels[revision_id]
        verdicts[revision_id].append(
            Verdict(
                verifier=names.setdefault(user_id, f"v{len(names) + 1}"),
                says_fits=bool(says_fits),
                label=bool(label),
                weight=verifier_weight(gold_correct or 0, gold_total or 0),
                card=(window_id, marked) if window_id is not None else None,
            )
        )
    latest: dict[int, ExplanationScore] = {}
    for score in ExplanationScore.objects.filter(revision_id__in=by_revision, scorer="human").order_by(
        "revision_id", "-created_at", "-pk"
    ):
        latest.setdefault(score.revision_id, score)
    current: dict[int, ExplanationScore | None] = {}
    fresh: list[ExplanationScore] = []
    unsupported: list[int] = []
    for revision_id, explanation in by_revision.items():
        try:
            result = human_score(explanation.current_revision.text, verdicts[revision_id])
        except ScoringInputError:
            unsupported.append(revision_id)
            current[explanation.pk] = None
            continue
        score = ExplanationScore.from_result(result, explanation=explanation, revision=explanation.current_revision)
        score.judge = "verify"
        previous = latest.get(revision_id)
        if previous is not None and _same_score(previous, score):
            current[explanation.pk] = previous
            continue
        fresh.append(score)
        current[explanation.pk] = score
    human_scores_save(scores=fresh, cleared=[by_revision[revision_id] for revision_id in unsupported])
    return current


def _same_score(stored: ExplanationScore, computed: ExplanationScore) -> bool:
    # The computed details have not been through JSON yet; compare them as they will be stored.
    return (
        abs(stored.value - computed.value) < 1e-12
        and stored.details == json.loads(json.dumps(computed.details))
        and stored.example_mix == json.loads(json.dumps(computed.example_mix))
    )


def human_score_update(*, explanation: Explanation) -> ExplanationScore | None:
    """Recompute one explanation's `human` score (see human_scores_update)."""
    return human_scores_update(explanations=[explanation]).get(explanation.pk)


def explanation_scores_store(*, explanation: Explanation, outcome: ExplainOutcome) -> None:
    """Store the offline scores of an Explain answer on the explanation it became, raise its best_score when
    the headline beats it, and tell the feature page (its scores, and maybe its place in the list)."""
    revision = explanation.current_revision
    for result in outcome.results.values():
        score_save(explanation=explanation, revision=revision, result=result)
    explanation_best_score_raise(explanation=explanation, value=outcome.headline, revision=revision)
