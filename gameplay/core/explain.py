"""Scoring an Explain answer at once, offline: detection and fuzzing with the offline judge over an example
set with hard negatives (the scoring core's scorers, nothing new), plus the rule scorer when the player
gave a machine-checkable rule. The headline is the mean of detection and fuzzing; the misses are the
examples the explanation got wrong, for the reveal."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scoring.core.examples import ExampleSet
from scoring.core.offline_judges import offline_judge
from scoring.core.records import ActivationRecord
from scoring.core.scorers import ScoreResult, get_scorer

HEADLINE_SCORERS = ("detection", "fuzzing")


@dataclass(frozen=True)
class Miss:
    kind: str  # top, interval, random or hard_negative
    record: ActivationRecord
    label: bool  # whether the feature fires there
    marked: tuple[int, ...]  # fuzzing's marked tokens, or () for a whole window (detection)
    scorer: str

    @property
    def summary(self) -> str:
        if self.label:
            return "The feature fires here, but your explanation does not say so."
        if self.kind == "hard_negative":
            return "A look-alike: the feature is silent here, but your explanation says it fires."
        return "The feature is silent here, but your explanation says it fires."


@dataclass(frozen=True)
class ExplainOutcome:
    headline: float
    results: dict[str, ScoreResult]
    misses: list[Miss]


def _records_by_kind(examples: ExampleSet) -> dict[str, Sequence[ActivationRecord]]:
    return {"top": examples.top, "interval": examples.intervals, "random": examples.random,
            "hard_negative": examples.hard_negatives}  # fmt: skip


def score_explain_answer(
    text: str, examples: ExampleSet, *, rule: Callable[[Sequence[str]], Sequence[bool]] | None = None,
    max_misses: int = 6,
) -> ExplainOutcome:  # fmt: skip
    """Raises scoring.core.errors.ScoringInputError when the examples cannot score anything."""
    judge = offline_judge(rule=rule)
    results = {name: get_scorer(name).score(text, examples, judge=judge) for name in HEADLINE_SCORERS}
    if rule is not None:
        results["rule"] = get_scorer("rule").score(text, examples, rule=rule)
    headline = sum(results[name].value for name in HEADLINE_SCORERS) / len(HEADLINE_SCORERS)
    records = _records_by_kind(examples)
    misses: list[Miss] = []
    seen: set[tuple[str, int]] = set()
    # Detection's whole-window mistakes first (the clearest), then fuzzing's marked tokens; one miss per window.
    for name in HEADLINE_SCORERS:
        for row in results[name].details["examples"]:
            key = (row["kind"], row["index"])
            if row["correct"] or key in seen:
                continue
            seen.add(key)
            misses.append(
                Miss(
                    row["kind"],
                    records[row["kind"]][row["index"]],
                    bool(row["label"]),
                    tuple(row.get("marked", ())),
                    name,
                )  # fmt: skip
            )
    # Look-alikes and missed activity teach the most; keep those first.
    misses.sort(key=lambda miss: (miss.kind != "hard_negative", not miss.label))
    return ExplainOutcome(headline=headline, results=results, misses=misses[:max_misses])
