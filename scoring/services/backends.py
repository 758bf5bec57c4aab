"""Which explainers and judges a run uses, built from its parameters (their LLM settings from the site's
settings, scoring/llm_settings.py, never from the run)."""

from pathlib import Path

from django.conf import settings

from scoring.core.embedding import SentenceEmbedder
from scoring.core.judges import Judge
from scoring.core.offline_judges import DEFAULT_JUDGE, FORMER_NAMES, OFFLINE_JUDGES
from scoring.core.scorers import get_scorer
from scoring.explainers import Explainer, get_explainer


def available_explainers() -> list[str]:
    """The explainers this site can run: token-stats always; the LLM ones when configured."""
    names = ["token-stats"]
    if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL != "https://api.openai.com/v1":
        names.append("openai-compatible")
    if settings.LOCAL_EXPLAINER_MODEL_PATH:
        names.append("local-transformers")
    return names


def explainer_build(*, params: dict) -> Explainer:
    """The explainer a run's parameters name (its LLM settings from the site's settings, never the run)."""
    from scoring.llm_settings import llm_config, local_model_path

    name = params.get("explainer", "token-stats")
    prompt = {"prompt": params["prompt"]} if params.get("prompt") else {}
    if name == "openai-compatible":
        config = llm_config(base_url=params.get("llm_base_url", ""), model=params.get("llm_model", ""))
        return get_explainer(name, config=config, **prompt)
    if name == "local-transformers":
        return get_explainer(
            name,
            model_path=local_model_path(params.get("local_model_path", "")),
            device=settings.NEURONPEDIA_DEVICE,
            dtype=settings.NEURONPEDIA_DTYPE,
            **prompt,
        )
    return get_explainer(name)


def explainer_model_name(*, explainer: Explainer) -> str:
    """What the explainer records as its model, known before it runs (the key of its explanations)."""
    if explainer.name == "openai-compatible":
        return explainer.config.model
    if explainer.name == "local-transformers":
        return Path(explainer.model_path).name
    return "token statistics"


def offline_judge_name(*, params: dict) -> str:
    """The offline judge a run names (`offline`, in runs queued before the semantic judge, is the literal one)."""
    name = params.get("judge", DEFAULT_JUDGE)
    name = FORMER_NAMES.get(name, name)
    return name if name in OFFLINE_JUDGES else DEFAULT_JUDGE


def judge_check(*, judge: str, local_model_path: str = "") -> None:
    """Refuse, before a run is queued, a judge this site cannot build (ScoringInputError says why): a local
    model path that is missing or not a causal LM, or no learned scorer registered yet."""
    from scoring.llm_settings import local_model_path as resolved_path

    if judge == "local-transformers":
        from scoring.core.local_lm import check_model_path

        check_model_path(resolved_path(local_model_path))
    elif judge == "learned":
        from scoring.core.learned_store import registered_version

        registered_version(learned_scorer_dir())


def learned_scorer_dir() -> Path:
    """Where trained learned scorers are kept, one folder per version (under NEURONPEDIA_VAR_DIR)."""
    return Path(settings.VAR_DIR) / "learned-scorer"


def judge_build(*, params: dict) -> Judge | None:
    """None means an offline judge (`offline_judge_name`), built per explanation since it reads its rule."""
    judge = params.get("judge", DEFAULT_JUDGE)
    if judge == "local-transformers":
        from features.placement import default_placement
        from scoring.core.local_lm import local_lm_judge
        from scoring.llm_settings import local_model_path

        return local_lm_judge(local_model_path(params.get("local_model_path", "")), **default_placement())
    if judge == "learned":
        from scoring.core.learned_store import load_registered

        return load_registered(learned_scorer_dir())
    if judge != "openai-compatible":
        return None
    from scoring.core.llm import ChatClient
    from scoring.core.llm_judge import LLMJudge
    from scoring.llm_settings import llm_config

    config = llm_config(base_url=params.get("llm_base_url", ""), model=params.get("llm_model", ""))
    return LLMJudge(ChatClient(config), simulation_mode=params.get("simulation_mode", "json"))


def judge_key(*, scorer: str, judge: Judge | None, offline: str = DEFAULT_JUDGE) -> str:
    """The `judge` a score of this scorer is stored under (see ExplanationScore.from_result)."""
    if scorer == "embedding":
        return SentenceEmbedder.name
    if not get_scorer(scorer).uses_judge:
        return ""
    return judge.name if judge is not None else offline
