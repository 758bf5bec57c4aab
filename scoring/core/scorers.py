"""The registry of scorers. Each takes an explanation and an ExampleSet and returns a ScoreResult: one
value, a per-example breakdown (which examples it got right or wrong, and what it predicted) and the mix
of examples it saw.

    simulation  Pearson correlation of simulated with true activations over every token (OpenAI)
    detection   balanced accuracy of "does this window fit?" (delphi); AUC too when the judge gives probabilities
    fuzzing     balanced accuracy of "do these marked tokens fit?" (delphi); AUC likewise
    embedding   ROC AUC of cosine(explanation, window) between active and silent windows (local MiniLM)
    rule        token-level F1 (with precision and recall) of the explanation's machine-checkable rule
    human       weighted share of verifiers who agree (Verify mode in the game)

Hard negatives (same token, feature silent) are part of the example set for every scorer, so an
explanation that ignores context loses points where the context matters.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .embedding import SentenceEmbedder, default_embedder
from .errors import ScoringInputError
from .examples import HARD_NEGATIVE, KINDS, Example, ExampleSet, feature_key_tokens
from .judges import FuzzItem, Judge, RuleMatcher
from .metrics import balanced_accuracy, pearson, precision_recall_f1, roc_auc
from .offline_judges import offline_judge
from .records import normalise_token, window_text


@dataclass
class ScoreResult:
    scorer: str
    value: float
    details: dict[str, Any]
    example_mix: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "score": self.value, "details": self.details, "example_mix": self.example_mix}


@dataclass(frozen=True)
class HumanVerdict:
    """One verifier's judgement of an explanation in the game's Verify mode: whether they found that it
    describes the examples, weighted by how accurate that verifier is on gold items (0-1)."""

    verifier: str
    agrees: bool
    weight: float = 1.0


class Scorer:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line, for tooltips on the feature page
    uses_judge: ClassVar[bool] = False

    def score(
        self,
        explanation: str,
        examples: ExampleSet,
        *,
        judge: Judge | None = None,
        rule: RuleMatcher | None = None,
        verdicts: Sequence[HumanVerdict] | None = None,
    ) -> ScoreResult:
        raise NotImplementedError


SCORERS: dict[str, type[Scorer]] = {}


def register_scorer(name: str):
    def decorate(cls: type[Scorer]) -> type[Scorer]:
        if name in SCORERS:
            raise ValueError(f"A scorer named {name!r} is already registered.")
        cls.name = name
        SCORERS[name] = cls
        return cls

    return decorate


def get_scorer(name: str, **options) -> Scorer:
    try:
        return SCORERS[name](**options)
    except KeyError:
        raise ScoringInputError(f"Unknown scorer {name!r}; choose one of {', '.join(sorted(SCORERS))}.") from None


def score_explanation(name: str, explanation: str, examples: ExampleSet, **resources) -> ScoreResult:
    """Score one explanation with the scorer registered as `name` (judge, rule, verdicts as it needs)."""
    return get_scorer(name).score(explanation, examples, **resources)


# --- shared pieces ----------------------------------------------------------------------------


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _require_examples(explanation: str, examples: ExampleSet) -> list[Example]:
    if not explanation or not explanation.strip():
        raise ScoringInputError("The explanation is empty.")
    chosen = examples.examples()
    if not chosen:
        raise ScoringInputError("There are no examples to score against.")
    return chosen


def _check_answers(values: Sequence[float], n: int, low: float, high: float, what: str) -> list[float]:
    values = [float(value) for value in values]
    if len(values) != n:
        raise ScoringInputError(f"The judge gave {len(values)} {what} for {n} items.")
    if any(not math.isfinite(value) or not low <= value <= high for value in values):
        raise ScoringInputError(f"The judge gave {what} outside [{low:g}, {high:g}].")
    return values


def _by_kind(rows: list[dict]) -> dict[str, dict]:
    summary: dict[str, dict] = {}
    for row in rows:
        entry = summary.setdefault(row["kind"], {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += int(row["correct"])
    for entry in summary.values():
        entry["accuracy"] = _round(entry["correct"] / entry["n"])
    return summary


def _classification_result(
    name: str, examples: ExampleSet, judge: Judge, rows: list[dict], labels: list[bool], probabilities: list[float]
) -> ScoreResult:
    predictions = [p >= 0.5 for p in probabilities]
    value = balanced_accuracy(labels, predictions)
    if value is None:
        present = "active" if labels and labels[0] else "silent"
        raise ScoringInputError(
            f"{name} needs both active and silent examples; all {len(labels)} are {present}. Add random examples or "
            "hard negatives, or check the activation threshold."
        )
    graded = any(0.0 < p < 1.0 for p in probabilities)
    for row, label, guess in zip(rows, labels, predictions, strict=True):
        row["correct"] = label == guess
    return ScoreResult(
        scorer=name,
        value=value,
        details={
            "metric": "balanced_accuracy",
            "judge": judge.name,
            "auc": _round(roc_auc(labels, probabilities)) if graded else None,
            "threshold": _round(examples.threshold),
            "n_positive": sum(labels),
            "n_negative": len(labels) - sum(labels),
            "by_kind": _by_kind(rows),
            "examples": rows,
        },
        example_mix=examples.mix(),
    )


# --- the scorers --------------------------------------------------------------------------------


@register_scorer("simulation")
class SimulationScorer(Scorer):
    summary = "How well activations simulated from the explanation correlate with the real ones, token by token."
    uses_judge = True

    def score(self, explanation, examples, *, judge=None, rule=None, verdicts=None) -> ScoreResult:
        chosen = _require_examples(explanation, examples)
        judge = judge or offline_judge(rule=rule)
        simulated = judge.simulate(explanation, [example.tokens for example in chosen])
        if len(simulated) != len(chosen):
            raise ScoringInputError(f"The simulator answered {len(simulated)} windows of {len(chosen)}.")
        simulated = [
            _check_answers(values, len(example.tokens), 0, 10, "activations")
            for values, example in zip(simulated, chosen, strict=True)
        ]
        truth = [value for example in chosen for value in example.record.activations]
        if len(set(truth)) <= 1:
            raise ScoringInputError("Every example has the same activation everywhere; simulation needs active ones.")

        def correlation(kinds: Sequence[str]) -> float | None:
            pairs = [
                (t, s)
                for ex, sim in zip(chosen, simulated, strict=True)
                if ex.kind in kinds
                for t, s in zip(ex.record.activations, sim, strict=True)
            ]
            return pearson([t for t, _ in pairs], [s for _, s in pairs]) if pairs else None

        value = correlation(KINDS)
        rows = [
            {
                "kind": example.kind,
                "index": example.index,
                "correlation": _round(pearson(example.record.activations, values)),
                "true_max": _round(example.record.max_activation),
                "predicted_max": _round(max(values)),
                "predicted": [round(v, 1) for v in values],
            }
            for example, values in zip(chosen, simulated, strict=True)
        ]
        return ScoreResult(
            scorer=self.name,
            value=value if value is not None else 0.0,
            details={
                "metric": "pearson",
                "judge": judge.name,
                # Constant predictions carry no information: the score is 0, and says why.
                "note": None if value is not None else "the simulation predicts the same activation on every token",
                "without_hard_negatives": _round(correlation([k for k in KINDS if k != HARD_NEGATIVE])),
                "examples": rows,
            },
            example_mix=examples.mix(),
        )


@register_scorer("detection")
class DetectionScorer(Scorer):
    summary = "Balanced accuracy of telling, from the explanation alone, which whole windows the feature fires in."
    uses_judge = True

    def score(self, explanation, examples, *, judge=None, rule=None, verdicts=None) -> ScoreResult:
        chosen = _require_examples(explanation, examples)
        judge = judge or offline_judge(rule=rule)
        probabilities = _check_answers(
            judge.detect(explanation, [example.tokens for example in chosen]), len(chosen), 0, 1, "probabilities"
        )
        labels = [examples.window_label(example.record) for example in chosen]
        rows = [
            {"kind": ex.kind, "index": ex.index, "label": label, "probability": _round(p)}
            for ex, label, p in zip(chosen, labels, probabilities, strict=True)
        ]
        return _classification_result(self.name, examples, judge, rows, labels, probabilities)


@register_scorer("fuzzing")
class FuzzingScorer(Scorer):
    summary = "Balanced accuracy of telling whether marked tokens are ones the feature fires on, from the explanation."
    uses_judge = True

    def __init__(self, *, max_marks: int = 3, mislabelled: bool = True, seed: int = 0) -> None:
        self.max_marks = max_marks
        self.mislabelled = mislabelled  # delphi: also mark random silent tokens of active windows
        self.seed = seed

    def items(self, examples: ExampleSet) -> list[tuple[Example, str, list[int], bool]]:
        """(example, how it was marked, marked positions, label). Active windows are marked on their most
        active tokens; hard negatives on their silent key tokens ('cat' in 'the cat'); other silent
        windows, and the silent tokens of active windows, at random."""
        rng = random.Random(self.seed)
        keys = set(examples.key_tokens or feature_key_tokens(examples.top))
        items = []
        for example in examples.examples():
            active = examples.token_labels(example.record)
            silent = [i for i, on in enumerate(active) if not on]
            key_positions = [i for i in silent if normalise_token(example.tokens[i]) in keys]
            if example.kind == HARD_NEGATIVE and key_positions:
                # Even when the window fires elsewhere, its silent key tokens are the hard question.
                items.append((example, "key_token", key_positions[: self.max_marks], False))
            if any(active):
                ranked = sorted((i for i, on in enumerate(active) if on), key=lambda i: -example.record.activations[i])
                marked = sorted(ranked[: self.max_marks])
                items.append((example, "active", marked, True))
                if self.mislabelled and len(silent) >= len(marked):
                    items.append((example, "random", sorted(rng.sample(silent, len(marked))), False))
            elif silent and not (example.kind == HARD_NEGATIVE and key_positions):
                count = min(len(silent), rng.randint(1, self.max_marks))
                items.append((example, "random", sorted(rng.sample(silent, count)), False))
        return items

    def score(self, explanation, examples, *, judge=None, rule=None, verdicts=None) -> ScoreResult:
        _require_examples(explanation, examples)
        judge = judge or offline_judge(rule=rule)
        items = self.items(examples)
        fuzz_items: list[FuzzItem] = [(example.tokens, marked) for example, _, marked, _ in items]
        probabilities = _check_answers(judge.fuzz(explanation, fuzz_items), len(items), 0, 1, "probabilities")
        labels = [label for *_, label in items]
        rows = [
            {
                "kind": ex.kind,
                "index": ex.index,
                "marked": marked,
                "marking": how,
                "label": label,
                "probability": _round(p),
            }
            for (ex, how, marked, label), p in zip(items, probabilities, strict=True)
        ]
        return _classification_result(self.name, examples, judge, rows, labels, probabilities)


@register_scorer("embedding")
class EmbeddingScorer(Scorer):
    summary = "ROC AUC of the explanation's embedding similarity to active versus silent windows (MiniLM)."

    def __init__(self, *, embedder: SentenceEmbedder | None = None, max_tokens: int = 32) -> None:
        self.embedder = embedder
        # A sentence embedding of a whole long window is mostly about everything else in it; the tokens
        # around the window's focus say what the explanation must match (and cost half the encoding).
        self.max_tokens = max_tokens

    def focus_text(self, example: Example, examples: ExampleSet, keys: set[str]) -> str:
        """The text of at most `max_tokens` tokens around the example's focus: its strongest token when
        it fires, its first key token when silent (so a hard negative shows its 'cat'), else its middle."""
        tokens = example.tokens
        if len(tokens) <= self.max_tokens:
            return window_text(tokens)
        if examples.window_label(example.record):
            focus = example.record.argmax
        else:
            focus = next((i for i, t in enumerate(tokens) if normalise_token(t) in keys), len(tokens) // 2)
        start = max(0, min(focus - self.max_tokens // 2, len(tokens) - self.max_tokens))
        return window_text(tokens[start : start + self.max_tokens])

    def score(self, explanation, examples, *, judge=None, rule=None, verdicts=None) -> ScoreResult:
        chosen = _require_examples(explanation, examples)
        embedder = self.embedder or default_embedder()
        keys = set(examples.key_tokens or feature_key_tokens(examples.top))
        texts = [self.focus_text(example, examples, keys) for example in chosen]
        similarities = embedder.similarities(explanation, texts)
        labels = [examples.window_label(example.record) for example in chosen]
        value = roc_auc(labels, similarities)
        if value is None:
            raise ScoringInputError("embedding needs both active and silent examples.")
        rows = [
            {"kind": ex.kind, "index": ex.index, "label": label, "similarity": _round(s)}
            for ex, label, s in zip(chosen, labels, similarities, strict=True)
        ]
        mean_by_kind: dict[str, float | None] = {}
        for kind in KINDS:
            values = [row["similarity"] for row in rows if row["kind"] == kind]
            mean_by_kind[kind] = _round(sum(values) / len(values)) if values else None
        return ScoreResult(
            scorer=self.name,
            value=value,
            details={
                "metric": "roc_auc",
                "embedder": embedder.name,
                "max_tokens": self.max_tokens,
                "threshold": _round(examples.threshold),
                "mean_similarity_by_kind": mean_by_kind,
                "examples": rows,
            },
            example_mix=examples.mix(),
        )


@register_scorer("rule")
class RuleScorer(Scorer):
    summary = "Exact token-level F1 (precision and recall) of the explanation's machine-checkable rule."

    def score(self, explanation, examples, *, judge=None, rule=None, verdicts=None) -> ScoreResult:
        chosen = _require_examples(explanation, examples)
        if rule is None:
            raise ScoringInputError("The rule scorer needs the explanation's machine-checkable rule; it has none.")
        all_labels: list[bool] = []
        all_hits: list[bool] = []
        rows = []
        for example in chosen:
            hits = [bool(hit) for hit in rule(example.tokens)]
            if len(hits) != len(example.tokens):
                n = len(example.tokens)
                raise ScoringInputError(f"The rule matched {len(hits)} positions of a {n}-token window.")
            labels = examples.token_labels(example.record)
            tp = sum(h and t for h, t in zip(hits, labels, strict=True))
            fp = sum(h and not t for h, t in zip(hits, labels, strict=True))
            fn = sum(t and not h for h, t in zip(hits, labels, strict=True))
            rows.append(
                {
                    "kind": example.kind,
                    "index": example.index,
                    "true_positives": tp,
                    "false_positives": fp,
                    "false_negatives": fn,
                    "correct": fp == 0 and fn == 0,
                }
            )
            all_labels += labels
            all_hits += hits
        precision, recall, f1 = precision_recall_f1(all_labels, all_hits)
        return ScoreResult(
            scorer=self.name,
            value=f1,
            details={
                "metric": "f1",
                "precision": _round(precision),
                "recall": _round(recall),
                "f1": _round(f1),
                "threshold": _round(examples.threshold),
                "by_kind": _by_kind(rows),
                "examples": rows,
            },
            example_mix=examples.mix(),
        )


@register_scorer("human")
class HumanScorer(Scorer):
    summary = "Share of Verify-mode players who agree with the explanation, weighted by their accuracy on gold items."

    def score(self, explanation, examples=None, *, judge=None, rule=None, verdicts=None) -> ScoreResult:
        if not verdicts:
            raise ScoringInputError("The human score needs verdicts from Verify mode; there are none yet.")
        for verdict in verdicts:
            if not math.isfinite(verdict.weight) or verdict.weight < 0:
                raise ScoringInputError(f"Verifier {verdict.verifier!r} has weight {verdict.weight}; weights are >= 0.")
        total = sum(verdict.weight for verdict in verdicts)
        if total <= 0:
            raise ScoringInputError("Every verdict has weight 0, so there is nothing to average.")
        agreeing = sum(verdict.weight for verdict in verdicts if verdict.agrees)
        return ScoreResult(
            scorer=self.name,
            value=agreeing / total,
            details={
                "metric": "weighted_agreement",
                "total_weight": _round(total),
                "verdicts": [
                    {"verifier": v.verifier, "agrees": v.agrees, "weight": _round(v.weight)} for v in verdicts
                ],
            },
            example_mix={"verdicts": len(verdicts)},
        )
