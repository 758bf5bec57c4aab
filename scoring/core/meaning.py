"""What a stored score means, in one sentence for a tooltip: the metric, what it was computed on, and
what chance looks like. Plain Python: it reads a ScoreResult's details and example mix."""

from collections.abc import Mapping
from typing import Any

# scorer: (what the number is, what a meaningless explanation scores)
METRICS = {  # fmt: skip
    "simulation": (
        "Pearson correlation of simulated with true activations, token by token",
        "0 = no relation, 1 = perfect",
    ),
    "detection": ("balanced accuracy of telling which windows the feature fires in", "0.5 = chance, 1 = perfect"),
    "fuzzing": ("balanced accuracy of telling whether marked tokens are ones it fires on", "0.5 = chance, 1 = perfect"),
    "embedding": (
        "ROC AUC of the explanation's similarity to active versus silent windows",
        "0.5 = chance, 1 = perfect",
    ),
    "rule": ("token-level F1 of the explanation's rule against the true activations", "0 = no overlap, 1 = exact"),
    "human": ("share of Verify-mode players who agree, weighted by their accuracy", "0.5 = split, 1 = all agree"),
}


def example_count(example_mix: Mapping[str, int]) -> tuple[int, int]:
    """(all examples, hard negatives) of a stored mix."""
    counts = {key: value for key, value in example_mix.items() if isinstance(value, int) and key != "span_tokens"}
    return sum(counts.values()), counts.get("hard_negatives", 0)


def score_meaning(scorer: str, value: float, details: Mapping[str, Any], example_mix: Mapping[str, int]) -> str:
    """e.g. 'detection 0.812: balanced accuracy of telling which windows the feature fires in, on 46 examples
    incl. 12 hard negatives (judge: offline); 0.5 = chance, 1 = perfect'."""
    metric, scale = METRICS.get(scorer, (scorer, ""))
    if scorer == "human":
        basis = f"from {example_mix.get('verdicts', 0)} verdicts"
    else:
        total, hard = example_count(example_mix)
        unit = f"spans of {example_mix['span_tokens']} tokens" if example_mix.get("span_tokens") else "examples"
        basis = f"on {total} {unit} incl. {hard} hard negatives"
    who = details.get("judge") or details.get("embedder")
    extra = []
    if who:
        extra.append(f"judge: {who}")
    if details.get("auc") is not None:
        extra.append(f"AUC {details['auc']:.3f}")
    if scorer == "rule" and details.get("precision") is not None:
        extra.append(f"precision {details['precision']:.3f}, recall {details['recall']:.3f}")
    if scorer == "simulation" and details.get("without_hard_negatives") is not None:
        extra.append(f"{details['without_hard_negatives']:.3f} without hard negatives")
    suffix = f" ({'; '.join(extra)})" if extra else ""
    return f"{scorer} {value:.3f}: {metric}, {basis}{suffix}" + (f"; {scale}" if scale else "")
