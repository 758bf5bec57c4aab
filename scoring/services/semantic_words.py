"""The semantic judge's word-vector store: the MiniLM vectors of every word of the stored context windows,
computed once (`manage.py semantic_words`, the task `scoring.tasks.semantic_words_build`, build_demo) and
saved under NEURONPEDIA_VAR_DIR, so that scoring a stored window encodes nothing (scoring/core/semantic.py).
The windows' token forms that token-stats may name a kind for (subwords such as "ability" or "ally", which are
not words of the text) are stored too, so that explaining a source's features encodes nothing either."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django_q.tasks import async_task

from features.models import ContextWindow, LanguageModel, PipelineRun
from scoring.core import semantic
from scoring.core.records import normalise_token
from scoring.explainers.kinds import nameable_words

BATCH_SIZE = 256  # words per encoder call (two texts each)


def semantic_words_path() -> Path:
    return Path(settings.VAR_DIR) / "semantic-words.npz"


@dataclass(frozen=True)
class SemanticWordsResult:
    windows: int
    words: int  # distinct open words of the windows (and the reference words)
    encoded: int  # of which were not stored yet
    stored: int  # words in the store file now


def semantic_words_collect(*, model: LanguageModel | None = None) -> tuple[int, list[str]]:
    """The distinct words the judge may embed in the stored windows (of one model, or all), as it spells them
    from the windows' display tokens (what stored_examples gives it), then the token forms the token-stats
    explainer may name a kind for (kinds.nameable_words of the normalised tokens), and the number of windows
    read."""
    windows = ContextWindow.objects.all() if model is None else ContextWindow.objects.filter(model=model)
    words: dict[str, None] = dict.fromkeys(semantic.REFERENCE_WORDS)
    forms: dict[str, None] = {}
    count = 0
    for tokens in windows.order_by("pk").values_list("tokens", flat=True).iterator(chunk_size=2000):
        count += 1
        words.update(dict.fromkeys(semantic.window_words(tokens)))
        forms.update(dict.fromkeys(nameable_words([normalise_token(token) for token in tokens])))
    return count, list({**words, **forms})


def semantic_words_build(
    *,
    model: LanguageModel | None = None,
    similarity: semantic.WordSimilarity | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> SemanticWordsResult:
    """Encode the words of the stored windows that the store lacks and save the store (only when something was
    added: a second run encodes and writes nothing)."""
    similarity = similarity or semantic.default_similarity()
    if similarity.store_path is None:
        similarity.store_path = semantic_words_path()
    windows, words = semantic_words_collect(model=model)
    missing = similarity.missing_words(words)
    encoded = 0
    for encoded in similarity.store_words(missing, batch_size=batch_size):
        if progress is not None:
            progress(encoded, len(missing))
    stored = similarity.save_store() if missing else len(similarity.stored_words)
    return SemanticWordsResult(windows=windows, words=len(words), encoded=encoded, stored=stored)


def semantic_words_build_for(*, model_slug: str = "") -> SemanticWordsResult:
    """The task's entry: one model's windows by slug (all models' when empty, or when the model is gone)."""
    model = LanguageModel.objects.filter(slug=model_slug).first() if model_slug else None
    return semantic_words_build(model=model)


def semantic_words_after_run(sender, run: PipelineRun, **kwargs) -> None:
    """When an activation run has stored new windows (a researcher's model or dictionary, started from a page,
    the API or a command), queue storing their words, so that the game's Explain mode and score runs on its
    features encode nothing on a click (seconds a window otherwise). Receiver of features' run_succeeded."""
    # A run computed in the caller's process (--sync) may have no worker to hand a task to: its caller runs
    # `manage.py semantic_words` when it wants the store (build_demo does).
    if run.kind != PipelineRun.Kind.ACTIVATIONS or run.params.get("sync") or not settings.SEMANTIC_WORDS_AFTER_RUNS:
        return
    model_slug = run.model.slug if run.model_id else ""
    async_task("scoring.tasks.semantic_words_build", model_slug, task_name=f"semantic words after run {run.pk}")
