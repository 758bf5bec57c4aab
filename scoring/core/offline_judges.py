"""The judges a scoring run, command or game can name, and the offline ones built by name: `semantic` (the
default: MiniLM reads the explanation, semantic.py) and `literal` (its words read literally, judges.py).
An explanation's machine-checkable rule, when it has one, is applied exactly by either."""

from collections.abc import Callable

from .errors import ScoringInputError
from .judges import Judge, LiteralJudge, RuleMatcher
from .semantic import SemanticJudge

OFFLINE_JUDGES: dict[str, Callable[..., Judge]] = {
    "semantic": SemanticJudge,
    "literal": LiteralJudge,
}
DEFAULT_JUDGE = "semantic"
# Scores stored before the semantic judge say `offline`: the literal judge wrote them (a migration renamed
# the stored ones; a run queued before it still names `offline`).
FORMER_NAMES = {"offline": "literal"}
# Built by the services, with settings: an LLM behind an OpenAI-compatible endpoint (llm_judge.LLMJudge), a
# causal LM on disk (local_lm.LocalLMJudge) and the registered learned scorer (learned.LearnedJudge).
JUDGE_NAMES = (*OFFLINE_JUDGES, "openai-compatible", "local-transformers", "learned")


def offline_judge(name: str = DEFAULT_JUDGE, *, rule: RuleMatcher | None = None) -> Judge:
    name = FORMER_NAMES.get(name, name)
    try:
        return OFFLINE_JUDGES[name](rule=rule)
    except KeyError:
        choices = ", ".join(OFFLINE_JUDGES)
        raise ScoringInputError(f"Unknown offline judge {name!r}; choose one of {choices}.") from None


def default_offline_judge() -> Judge:
    """The judge that scores when none is named and no rule is known: the one others must beat (the learned
    scorer registers only if it does)."""
    return offline_judge(DEFAULT_JUDGE)
