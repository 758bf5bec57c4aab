"""Reading the command line's JSONL lines into example sets, rules and verdicts.

A line holds an explanation (for scoring) and its examples in any of these shapes:

    {"records": [{"tokens": [...], "activations": [...], "kind": "top"}, ...], "negatives": [...]}
        OpenAI ActivationRecords; "kind" (top, interval, random, hard_negative) is optional: active windows
        count as top examples and silent ones as random examples.
    {"top": [...], "intervals": [...], "random": [...], "negatives": [...]}
    {"most_positive_activation_records": [...], "random_sample": [...], "random_sample_by_quantile": [[...]]}
        OpenAI's NeuronRecord.

Optional: "max_activation" (the feature's maximum over the corpus), "rule" (a machine-checkable rule, see
explanations/core/rules.py), "verdicts" (for the human scorer). Without explicit negatives, silent windows that
contain the feature's key tokens are moved from random examples to hard negatives, so the mix says so.
"""

import math
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from .errors import ScoringInputError
from .examples import HARD_NEGATIVE, INTERVAL, KINDS, RANDOM, TOP, ExampleSet, feature_key_tokens, select_hard_negatives
from .judges import RuleMatcher
from .records import ActivationRecord, max_activation, record_from_json, records_from_json
from .scorers import HumanVerdict

KIND_ALIASES = {
    "top": TOP,
    "interval": INTERVAL,
    "intervals": INTERVAL,
    "random": RANDOM,
    "hard_negative": HARD_NEGATIVE,
    "hard_negatives": HARD_NEGATIVE,
    "negative": HARD_NEGATIVE,
}
LIST_KEYS = {
    "top": TOP,
    "intervals": INTERVAL,
    "random": RANDOM,
    "negatives": HARD_NEGATIVE,
    "hard_negatives": HARD_NEGATIVE,
    "most_positive_activation_records": TOP,
    "random_sample": RANDOM,
}


def records_by_kind(line: dict[str, Any]) -> dict[str, list[ActivationRecord]]:
    """Every record of a line, validated, grouped by kind (kind None: decide by activity later)."""
    grouped: dict[Any, list[ActivationRecord]] = {kind: [] for kind in (*KINDS, None)}
    if "records" in line:
        if not isinstance(line["records"], list):
            raise ScoringInputError("'records' must be a list of {tokens, activations} objects.")
        for index, value in enumerate(line["records"]):
            where = f"records[{index}]"
            record = record_from_json(value, where=where)
            kind = value.get("kind")
            if kind is not None and kind not in KIND_ALIASES:
                raise ScoringInputError(f"{where}: kind {kind!r} is not one of top, interval, random, hard_negative.")
            grouped[KIND_ALIASES.get(kind)].append(record)
    for key, kind in LIST_KEYS.items():
        if key in line:
            grouped[kind] += records_from_json(line[key], where=key)
    if "random_sample_by_quantile" in line:
        quantiles = line["random_sample_by_quantile"]
        if not isinstance(quantiles, list):
            raise ScoringInputError("'random_sample_by_quantile' must be a list of lists of records.")
        for index, records in enumerate(quantiles):
            grouped[INTERVAL] += records_from_json(records, where=f"random_sample_by_quantile[{index}]")
    if not any(grouped.values()):
        raise ScoringInputError("The line has no records: give 'records' (or 'top'/'random', or a NeuronRecord).")
    return grouped


def example_set_from_line(
    line: dict[str, Any], *, n_hard_negatives: int = 20, relative_threshold: float = 0.1, seed: int = 0
) -> ExampleSet:
    grouped = records_by_kind(line)
    feature_max = line.get("max_activation")
    if feature_max is not None and (
        isinstance(feature_max, bool) or not isinstance(feature_max, int | float) or not math.isfinite(feature_max)
    ):
        raise ScoringInputError("'max_activation' must be a finite number.")
    everything = [record for records in grouped.values() for record in records]
    probe = ExampleSet(top=everything, feature_max=feature_max, relative_threshold=relative_threshold)
    for record in grouped.pop(None):
        grouped[TOP if probe.window_label(record) else RANDOM].append(record)
    if not grouped[TOP]:
        raise ScoringInputError("No record is active: at least one window must have a non-zero activation.")
    examples = ExampleSet(
        top=grouped[TOP],
        intervals=grouped[INTERVAL],
        random=grouped[RANDOM],
        hard_negatives=grouped[HARD_NEGATIVE],
        feature_max=feature_max if feature_max is not None else max_activation(everything),
        relative_threshold=relative_threshold,
        key_tokens=tuple(feature_key_tokens(grouped[TOP])),
    )
    if not grouped[HARD_NEGATIVE] and n_hard_negatives > 0:
        mined = select_hard_negatives(
            examples.random, examples.key_tokens, threshold=examples.threshold, limit=n_hard_negatives, seed=seed
        )
        chosen = set(mined)
        examples = replace(examples, random=[r for r in examples.random if r not in chosen], hard_negatives=mined)
    return examples


def explanation_from_line(line: dict[str, Any]) -> str:
    explanation = line.get("explanation")
    if not isinstance(explanation, str) or not explanation.strip():
        raise ScoringInputError("'explanation' must be a non-empty string.")
    return explanation.strip()


def rule_from_spec(spec: Any) -> RuleMatcher:
    """A machine-checkable rule (its text, or the stored {source, pattern, target} form) as a matcher."""
    try:
        from explanations.core.rules import RuleError, rule_matches, rule_parse
    except ImportError as error:  # the rule language lives with the explanations; it may be absent
        raise ScoringInputError(f"Rules cannot be read here: {error}") from error
    try:
        if isinstance(spec, str):
            rule = rule_parse(spec)
        elif isinstance(spec, dict):
            from explanations.core.rules import Rule

            rule = Rule.from_json(spec)
        else:
            raise ScoringInputError("'rule' must be the rule's text or its stored {source, pattern, target} form.")
    except (RuleError, KeyError, TypeError, ValueError) as error:
        raise ScoringInputError(f"The rule cannot be read: {error}") from error
    return partial(rule_matches, rule)


def verdicts_from_json(values: Any) -> list[HumanVerdict]:
    if not isinstance(values, list):
        raise ScoringInputError("'verdicts' must be a list of {verifier, agrees, weight} objects.")
    verdicts = []
    for index, value in enumerate(values):
        where = f"verdicts[{index}]"
        if not isinstance(value, dict) or not isinstance(value.get("agrees"), bool):
            raise ScoringInputError(f"{where}: expected an object with a boolean 'agrees'.")
        weight = value.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ScoringInputError(f"{where}: 'weight' must be a number.")
        verdicts.append(HumanVerdict(verifier=str(value.get("verifier", index)), agrees=value["agrees"], weight=weight))
    return verdicts


def records_to_json(records: Sequence[ActivationRecord]) -> list[dict]:
    return [record.to_json() for record in records]
