"""django-q2 entry points. Thin: each calls a service."""

from .services import learned, run_steps, semantic_words


def run_step(run_id: int) -> str:
    run = run_steps.feature_run_step(run_id=run_id)
    return f"run {run.pk}: {run.status}"


def learned_train(run_id: int) -> str:
    run = learned.learned_run_step(run_id=run_id)
    return f"run {run.pk}: {run.status}"


def semantic_words_build(model_slug: str = "") -> str:
    result = semantic_words.semantic_words_build_for(model_slug=model_slug)
    return f"{result.encoded} new words encoded, {result.stored} stored"
