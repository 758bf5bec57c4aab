"""The explainer interface and registry."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scoring.core.records import ActivationRecord


class ExplainerError(RuntimeError):
    """An explainer could not explain: no active records, an LLM endpoint that is down or out of credit,
    a model directory that is not a causal LM. The message says which, and what to do."""


@dataclass
class GeneratedExplanation:
    text: str
    method: str  # the explainer's registered name
    model: str  # the LLM it used, or what it computed with ("token statistics")
    metadata: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None  # a machine-checkable rule (explanations/core/rules.py syntax), when the method gives one

    def to_json(self) -> dict[str, Any]:
        return {
            "explanation": self.text,
            "method": self.method,
            "model": self.model,
            "rule": self.rule,
            "metadata": self.metadata,
        }


class Explainer:
    name: ClassVar[str] = ""

    def explain(
        self, records: Sequence[ActivationRecord], *, max_activation: float | None = None
    ) -> GeneratedExplanation:
        """Explain a feature from its records: top examples, and preferably random windows too (the
        offline explainer compares against them). `max_activation` is the feature's maximum over the
        corpus when known; otherwise the maximum over the records."""
        raise NotImplementedError


EXPLAINERS: dict[str, type[Explainer]] = {}


def register_explainer(name: str):
    def decorate(cls: type[Explainer]) -> type[Explainer]:
        if name in EXPLAINERS:
            raise ValueError(f"An explainer named {name!r} is already registered.")
        cls.name = name
        EXPLAINERS[name] = cls
        return cls

    return decorate


def get_explainer(name: str, **options) -> Explainer:
    if name not in EXPLAINERS:
        raise ExplainerError(f"Unknown explainer {name!r}; choose one of {', '.join(sorted(EXPLAINERS))}.")
    return EXPLAINERS[name](**options)


def active_records(records: Sequence[ActivationRecord], max_activation: float | None) -> tuple[list, float]:
    """The records that fire (above a tenth of the maximum), strongest first, and the maximum used."""
    peak = (
        max_activation if max_activation and max_activation > 0 else max((r.max_activation for r in records), default=0)
    )
    if peak <= 0:
        raise ExplainerError("No record has a positive activation, so there is nothing to explain.")
    firing = sorted((r for r in records if r.max_activation > 0.1 * peak), key=lambda r: -r.max_activation)
    return firing, peak
