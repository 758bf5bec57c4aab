"""Which judge reads the game's Explain answers: the best this site has. `GAME_JUDGE` names one; `auto` (the
default) takes an LLM behind an OpenAI-compatible endpoint when one is configured, else a causal LM on disk
when LOCAL_EXPLAINER_MODEL_PATH is set, else the registry's default offline judge (scoring's own choice)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings

from scoring.core.errors import LLMError, ScoringInputError
from scoring.core.judges import Judge
from scoring.core.offline_judges import DEFAULT_JUDGE, OFFLINE_JUDGES, offline_judge
from scoring.services.backends import available_explainers, judge_build

from ..conf import game_setting

EXTERNAL_JUDGES = ("openai-compatible", "local-transformers")


def game_judge_name() -> str:
    """The judge GAME_JUDGE names, `auto` resolved to the best one configured here."""
    wanted = game_setting("GAME_JUDGE")
    if wanted != "auto":
        return wanted
    configured = available_explainers()  # the LLM explainers this site can run use the same settings
    for name in EXTERNAL_JUDGES:
        if name in configured:
            return name
    return DEFAULT_JUDGE


@dataclass(frozen=True)
class GameJudge:
    judge: Judge
    note: str = ""  # why the judge is not the one configured, when it could not be used


def game_judge_build(*, rule: Callable[[Sequence[str]], Sequence[bool]] | None = None) -> GameJudge:
    """The game's judge. An offline judge applies the player's machine-checkable rule exactly; an external one
    that cannot be built (a missing model directory) gives way to the default offline judge, with a note."""
    name = game_judge_name()
    if name in EXTERNAL_JUDGES:
        try:
            return GameJudge(judge_build(params={"judge": name}))
        except (ScoringInputError, LLMError) as error:
            return GameJudge(offline_judge(rule=rule), note=f"The {name} judge is unavailable ({error}).")
    if name not in OFFLINE_JUDGES:
        raise ScoringInputError(
            f"GAME_JUDGE names {name!r}: use auto, {', '.join(EXTERNAL_JUDGES)} or an offline judge "
            f"({', '.join(OFFLINE_JUDGES)})."
        )
    return GameJudge(offline_judge(name, rule=rule))


def fallback_judge(*, rule: Callable[[Sequence[str]], Sequence[bool]] | None, error: Exception) -> GameJudge:
    """When an external judge fails while scoring (its endpoint down), the answer is scored offline instead,
    and the result page says so: a player's answer is never lost to an outage, nor silently zero."""
    return GameJudge(offline_judge(rule=rule), note=f"The configured judge failed ({error}); scored offline.")


def game_judge_label(name: str) -> str:
    """How the result page names a judge."""
    if name.startswith("openai-compatible"):
        return f"an LLM ({name.split(':')[1] if ':' in name else settings.OPENAI_MODEL})"
    if name.startswith("local-transformers"):
        return f"a local language model ({name.split(':', 1)[1] if ':' in name else 'on disk'})"
    return f"the {name} judge (offline)"
