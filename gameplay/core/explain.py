"""Scoring an Explain answer at once: detection and fuzzing with the game's judge over an example set with
hard negatives (the scoring core's scorers, nothing new), plus the rule scorer when the player gave a
machine-checkable rule. The headline is the mean of detection and fuzzing; on a camp rung, whose feature is
a planted rule, it is how well the judged firing matches the rule's firing, window by window and token by
token, instead (`Readout.overlap`).

The reveal says what the judge understood: the words where it read the explanation as firing and the
feature fired, where the feature fired and it did not, and its false alarms (`Readout`), from the judge's
per-token simulation (its public `simulate`), so a player learns why the score is what it is."""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scoring.core.examples import ExampleSet
from scoring.core.judges import Judge
from scoring.core.offline_judges import offline_judge
from scoring.core.records import ActivationRecord, normalise_token
from scoring.core.scorers import ScoreResult, get_scorer

HEADLINE_SCORERS = ("detection", "fuzzing")
# The judge predicts firing where it simulates at least half of the 0-10 scale (a probability of 0.5).
PREDICTS_FIRING = 5.0
# The camp's headline, under this name among the scores.
PLANTED_MATCH = "planted rule"
# How many words each line of the readout names.
READOUT_WORDS = 8

TokenTruth = Callable[[ActivationRecord], Sequence[bool]]


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
class Readout:
    """What the judge understood, token by token over the test windows: the words (with how many times)
    where it predicted firing and the feature fired, where the feature fired unpredicted, and where it
    predicted firing on silence."""

    fired_on: tuple[tuple[str, int], ...]
    missed: tuple[tuple[str, int], ...]
    false_alarms: tuple[tuple[str, int], ...]
    hits: int  # tokens
    misses: int
    false_alarm_count: int
    # Per window where the feature or the reading fires: the share of the tokens where either fires on which
    # both do (Jaccard). Windows where neither fires are left out: they say nothing about the explanation.
    window_overlaps: tuple[float, ...] = ()

    @property
    def overlap(self) -> float:
        """The mean window overlap: each test window counts once, so a look-alike window ("the cat") weighs as
        much as a firing one ("the black cat"), and a wrong token costs as much as a right one gains; a
        two-token phrase read as two loose words is not paid twice. 0 when nothing fires anywhere."""
        return sum(self.window_overlaps) / len(self.window_overlaps) if self.window_overlaps else 0.0

    def to_json(self) -> dict:
        return {
            "fired_on": [list(pair) for pair in self.fired_on],
            "missed": [list(pair) for pair in self.missed],
            "false_alarms": [list(pair) for pair in self.false_alarms],
            "hits": self.hits,
            "misses": self.misses,
            "false_alarm_count": self.false_alarm_count,
            "windows": len(self.window_overlaps),
            "overlap": round(self.overlap, 4),
        }


def _most_common(counter: Counter, limit: int) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))[:limit])


def judge_readout(
    judge: Judge, text: str, records: Sequence[ActivationRecord], truth: TokenTruth, *, limit: int = READOUT_WORDS
) -> Readout:
    """Compare the judge's per-token reading of `text` (its simulation, firing at >= PREDICTS_FIRING) with
    `truth` (where the feature fires) over every token of `records`."""
    simulated = judge.simulate(text, [record.tokens for record in records]) if records else []
    fired_on, missed, false_alarms = Counter(), Counter(), Counter()
    overlaps = []
    for record, predictions in zip(records, simulated, strict=True):
        fires = list(truth(record))
        both = either = 0
        for token, predicted, fired in zip(record.tokens, predictions, fires, strict=True):
            word = normalise_token(token)
            predicted = predicted >= PREDICTS_FIRING
            both += predicted and fired
            either += predicted or fired
            if predicted and fired:
                fired_on[word] += 1
            elif fired:
                missed[word] += 1
            elif predicted:
                false_alarms[word] += 1
        if either:
            overlaps.append(both / either)
    return Readout(
        fired_on=_most_common(fired_on, limit),
        missed=_most_common(missed, limit),
        false_alarms=_most_common(false_alarms, limit),
        hits=sum(fired_on.values()),
        misses=sum(missed.values()),
        false_alarm_count=sum(false_alarms.values()),
        window_overlaps=tuple(overlaps),
    )


@dataclass(frozen=True)
class ExplainOutcome:
    headline: float
    results: dict[str, ScoreResult]
    misses: list[Miss]
    readout: Readout
    judge: str
    planted_match: float | None = None  # a camp rung's headline


def _records_by_kind(examples: ExampleSet) -> dict[str, Sequence[ActivationRecord]]:
    return {"top": examples.top, "interval": examples.intervals, "random": examples.random,
            "hard_negative": examples.hard_negatives}  # fmt: skip


def _all_records(examples: ExampleSet) -> list[ActivationRecord]:
    return [record for records in _records_by_kind(examples).values() for record in records]


def score_explain_answer(
    text: str,
    examples: ExampleSet,
    *,
    judge: Judge | None = None,
    rule: Callable[[Sequence[str]], Sequence[bool]] | None = None,
    planted: Callable[[Sequence[str], int], bool] | None = None,
    max_misses: int = 6,
) -> ExplainOutcome:
    """Score `text` with `judge` (the default offline judge, applying `rule`, unless given). With `planted`, the rule a
    camp feature was generated from, the headline is the readout's mean window overlap with its firing;
    otherwise the mean of detection and fuzzing, the feature firing above the examples' threshold.
    Raises scoring.core.errors.ScoringInputError when the examples cannot score anything."""
    judge = judge if judge is not None else offline_judge(rule=rule)
    results = {name: get_scorer(name).score(text, examples, judge=judge) for name in HEADLINE_SCORERS}
    if rule is not None:
        results["rule"] = get_scorer("rule").score(text, examples, rule=rule)
    if planted is not None:

        def truth(record: ActivationRecord) -> list[bool]:
            return [bool(planted(record.tokens, i)) for i in range(len(record.tokens))]
    else:
        truth = examples.token_labels
    readout = judge_readout(judge, text, _all_records(examples), truth)
    if planted is not None:
        headline = planted_match = readout.overlap
    else:
        headline = sum(results[name].value for name in HEADLINE_SCORERS) / len(HEADLINE_SCORERS)
        planted_match = None
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
    return ExplainOutcome(
        headline=headline, results=results, misses=misses[:max_misses], readout=readout, judge=judge.name,
        planted_match=planted_match,
    )  # fmt: skip
