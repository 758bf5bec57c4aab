"""Activation records: a window of tokens and the feature's activation at each token.

The shape is OpenAI automated-interpretability's `ActivationRecord {tokens, activations}`, so records
read from and written to JSON carry over between the two tools.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ScoringInputError


@dataclass(frozen=True)
class ActivationRecord:
    tokens: tuple[str, ...]
    activations: tuple[float, ...]

    def __post_init__(self) -> None:
        # Accept lists for convenience, keep tuples so records hash and cannot change under a scorer.
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "activations", tuple(float(value) for value in self.activations))
        if len(self.tokens) != len(self.activations):
            raise ScoringInputError(f"{len(self.tokens)} tokens but {len(self.activations)} activations.")

    @property
    def max_activation(self) -> float:
        return max(self.activations, default=0.0)

    @property
    def argmax(self) -> int:
        return max(range(len(self.activations)), key=self.activations.__getitem__)

    def to_json(self) -> dict[str, list]:
        return {"tokens": list(self.tokens), "activations": list(self.activations)}


def record_from_json(value: Any, *, where: str = "record") -> ActivationRecord:
    """Validate one `{"tokens": [...], "activations": [...]}` object; errors name `where` and the fault."""
    if not isinstance(value, dict):
        raise ScoringInputError(f"{where}: expected an object with 'tokens' and 'activations', got {_kind(value)}.")
    tokens, activations = value.get("tokens"), value.get("activations")
    if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
        raise ScoringInputError(f"{where}: 'tokens' must be a list of strings.")
    if not isinstance(activations, list):
        raise ScoringInputError(f"{where}: 'activations' must be a list of numbers.")
    if not tokens:
        raise ScoringInputError(f"{where}: the record is empty (no tokens).")
    if len(tokens) != len(activations):
        raise ScoringInputError(f"{where}: {len(tokens)} tokens but {len(activations)} activations.")
    for position, number in enumerate(activations):
        # bool is an int in Python; true/false in an activation list is a mistake, not 1 and 0.
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ScoringInputError(f"{where}: activation {position} is {_kind(number)}, not a number.")
        if not math.isfinite(number):
            raise ScoringInputError(f"{where}: activation {position} is {number} (NaN and infinities are not allowed).")
    return ActivationRecord(tokens=tuple(tokens), activations=tuple(float(number) for number in activations))


def records_from_json(values: Any, *, where: str = "records") -> list[ActivationRecord]:
    if not isinstance(values, list):
        raise ScoringInputError(f"{where}: expected a list of records, got {_kind(values)}.")
    return [record_from_json(value, where=f"{where}[{index}]") for index, value in enumerate(values)]


def max_activation(records: Sequence[ActivationRecord]) -> float:
    return max((record.max_activation for record in records), default=0.0)


def normalise_activations(activations: Sequence[float], max_value: float) -> list[int]:
    """OpenAI's `relu_and_normalize_activations`: integers 0-10, floor(10 x / max), negatives to 0."""
    if max_value <= 0:
        return [0] * len(activations)
    return [min(10, max(0, math.floor(10 * value / max_value))) for value in activations]


def normalise_token(token: str) -> str:
    """How tokens are compared across tokenizers: no surrounding space, lower case, no WordPiece '##'."""
    token = token.strip().lower()
    return token[2:] if token.startswith("##") and len(token) > 2 else token


def window_text(tokens: Sequence[str]) -> str:
    """The text of a window. Display strings that carry their own spaces (BPE, our WordPiece display) are
    joined as they are; bare word tokens (as in hand-written records) are joined with spaces."""
    if len(tokens) > 1 and any(token[:1].isspace() for token in tokens[1:]):
        return "".join(tokens).strip()
    return " ".join(token.strip() for token in tokens)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)
