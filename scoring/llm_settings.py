"""The explainers' and LLM judge's settings, read from Django settings (see settings.py: "Explainers and
scorers"), with per-run overrides from a command line or a task's parameters."""

from django.conf import settings

from scoring.core.llm import LLMConfig


def llm_config(
    *,
    base_url: str = "",
    model: str = "",
    api_key: str = "",
    timeout_s: float | None = None,
    max_retries: int | None = None,
) -> LLMConfig:
    """OPENAI_BASE_URL, OPENAI_MODEL and OPENAI_API_KEY unless given; raises LLMError when unusable."""
    return LLMConfig(
        base_url=base_url or settings.OPENAI_BASE_URL,
        model=model or settings.OPENAI_MODEL,
        api_key=api_key or settings.OPENAI_API_KEY,
        timeout_s=timeout_s if timeout_s is not None else settings.OPENAI_TIMEOUT_S,
        max_retries=max_retries if max_retries is not None else settings.OPENAI_MAX_RETRIES,
    )


def local_model_path(path: str = "") -> str:
    return path or settings.LOCAL_EXPLAINER_MODEL_PATH
