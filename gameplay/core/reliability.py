"""Verify mode: how reliable each verifier is, and how their verdicts become an explanation's `human` score.

A Verify card shows an explanation and a window with one marked token, and asks whether a feature that
does what the explanation says would fire there. Each card's truth is known on the server: whether the
feature really was active on that token. Some cards are gold: a real window with an explanation whose
planted rule decides the answer (gold.py), so the right verdict is certain whatever the explanation under
test, and the card looks like any other.

Reliability is the posterior mean of a verifier's accuracy on gold cards under a Beta(1, 1) prior, and a
verdict's weight is 2 x reliability - 1, clipped at 0: chance-level and adversarial verifiers (who answer
the opposite of what they read) count for nothing, a verifier with no gold answers yet counts for nothing,
and a perfect one approaches 1.

An explanation's human score is the weighted balanced accuracy of what verifiers read from it against the
truth: the weighted share of "fits" on active tokens and of "does not fit" on silent ones, averaged. It is
computed by the scoring core's `human` scorer, whose interface is a weighted share of agreeing verdicts: a
verdict "agrees" when the reading matches the truth, and weights are normalised per class so that the share
is balanced. A good explanation makes careful readers right; a context-blind one makes them wrong on the
silent look-alikes; an unrelated one makes them wrong everywhere.

Each verifier counts once per explanation revision, however many rounds they play on it: only their latest
verdict on a card (a window and its marked token) counts, and their weight on each class (active cards,
silent cards) is shared among their verdicts there, so a verifier who judged forty cards of an explanation
weighs as much as one who judged four, and replaying cannot let one reliable player outvote the others.
"""

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

from scoring.core.scorers import HumanVerdict, ScoreResult, get_scorer

PRIOR_CORRECT = 1.0
PRIOR_WRONG = 1.0


def gold_accuracy(correct: int, total: int) -> float:
    """Posterior mean of the accuracy on gold cards: (correct + 1) / (total + 2)."""
    if total < 0 or not 0 <= correct <= total:
        raise ValueError(f"{correct} correct of {total} gold cards is impossible")
    return (correct + PRIOR_CORRECT) / (total + PRIOR_CORRECT + PRIOR_WRONG)


def verifier_weight(correct: int, total: int) -> float:
    """2 x accuracy - 1, clipped at 0: what a verdict of this verifier counts for."""
    return max(0.0, 2.0 * gold_accuracy(correct, total) - 1.0)


@dataclass(frozen=True)
class Verdict:
    """One verifier's answer on one (non-gold) card of an explanation."""

    verifier: str
    says_fits: bool  # what the verifier read from the explanation
    label: bool  # whether the feature really was active on the marked token
    weight: float = 1.0
    card: Hashable | None = None  # which card (window, marked token); None: a card of its own


def counted_verdicts(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts that count, in order: each verifier's latest on each card, with the verifier's weight on
    each class shared among their verdicts of that class, so that every verifier counts once."""
    latest: dict[tuple, Verdict] = {}
    for position, verdict in enumerate(verdicts):
        key = (verdict.verifier, verdict.card if verdict.card is not None else ("own", position))
        latest.pop(key, None)  # a later verdict on the same card replaces the earlier one, and takes its place
        latest[key] = verdict
    kept = list(latest.values())
    shares = Counter((verdict.verifier, verdict.label) for verdict in kept)
    return [replace(v, weight=v.weight / shares[(v.verifier, v.label)]) for v in kept]


def human_score(explanation: str, verdicts: Sequence[Verdict]) -> ScoreResult:
    """The explanation's human score from its verdicts, through the scoring core's `human` scorer.

    Raises scoring.core.errors.ScoringInputError when there is nothing to score (no verdicts, or every
    verdict has weight 0)."""
    verdicts = counted_verdicts(verdicts)
    class_weight = {True: 0.0, False: 0.0}
    for verdict in verdicts:
        class_weight[verdict.label] += verdict.weight
    present = [label for label, total in class_weight.items() if total > 0]
    scaled = [
        HumanVerdict(
            verifier=verdict.verifier,
            agrees=verdict.says_fits == verdict.label,
            weight=verdict.weight / (len(present) * class_weight[verdict.label]) if verdict.weight > 0 else 0.0,
        )
        for verdict in verdicts
    ]
    result = get_scorer("human").score(explanation, verdicts=scaled)

    def rate(label: bool) -> float | None:
        total = class_weight[label]
        if total <= 0:
            return None
        right = sum(v.weight for v in verdicts if v.label == label and v.says_fits == label)
        return round(right / total, 4)

    result.details.update(
        {
            "metric": "weighted_balanced_accuracy",
            "true_positive_rate": rate(True),
            "true_negative_rate": rate(False),
            "n_cards": len(verdicts),
            "n_verifiers": len({v.verifier for v in verdicts}),
            "raw_weight": {"active": round(class_weight[True], 4), "silent": round(class_weight[False], 4)},
        }
    )
    result.example_mix = {"verdicts": len(verdicts), "active": sum(v.label for v in verdicts)}
    return result
