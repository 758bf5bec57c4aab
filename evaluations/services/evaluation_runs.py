"""Evaluation runs: a dictionary source's quality figures, with the spliced loss, over a corpus's first windows.

One step on the run engine (features/services/runs.py): load the model and the dictionary, cut the windows,
evaluate batch by batch with progress (evaluations/core/metrics.py), store a SourceEvaluation. Safe to run
again: a run that already stored its evaluation is left as it is.
"""

import logging
import time
import traceback

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from evaluations.core.metrics import evaluate_dictionary
from evaluations.models import SourceEvaluation
from features.inference import model_lock
from features.models import PipelineRun, Source
from features.pipeline import cache
from features.pipeline.corpus import BUILTIN_CORPUS, corpus_documents, corpus_identity, make_windows
from features.pipeline.devices import check_names, resolve
from features.pipeline.errors import PipelineInputError
from features.pipeline.sources import dictionary_source
from features.services.runs import Resumption, run_create, run_fail, run_succeed, run_update

logger = logging.getLogger(__name__)

TASK = "evaluations.tasks.evaluate_source"
MAX_WINDOWS = 100_000
MAX_WINDOW_LEN = 4096


def evaluation_run_create(
    *,
    source: Source,
    n_windows: int = 64,
    window_len: int = 128,
    corpus: str = BUILTIN_CORPUS,
    batch_size: int = 8,
    with_loss: bool = True,
    device: str = "",
    dtype: str = "",
    sync: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> tuple[PipelineRun, bool]:
    """Validate and record a queued evaluation of a dictionary source (the same one still under way is reused).
    Returns (run, whether it is new)."""
    if not source.dictionary_path:
        raise PipelineInputError(
            f"{source} is not a dictionary on this server (MLP neurons reconstruct nothing; an imported source "
            "has no weights here), so it cannot be evaluated."
        )
    if not source.model.path:
        raise PipelineInputError(f"{source.model} was imported without a checkpoint on this server.")
    if not 1 <= n_windows <= MAX_WINDOWS:
        raise PipelineInputError(f"The number of windows must be between 1 and {MAX_WINDOWS:,}.")
    if not 2 <= window_len <= MAX_WINDOW_LEN:
        raise PipelineInputError(f"The window length must be between 2 and {MAX_WINDOW_LEN} tokens.")
    if not 1 <= batch_size <= 1024:
        raise PipelineInputError("The batch size must be between 1 and 1024.")
    device, dtype = check_names(device or settings.NEURONPEDIA_DEVICE, dtype or settings.NEURONPEDIA_DTYPE)
    params = {
        "source": source.pk,
        "source_path": str(source),
        "n_windows": n_windows,
        "window_len": window_len,
        "corpus": corpus,
        "batch_size": batch_size,
        "with_loss": with_loss,
        "device": device,
        "dtype": dtype,
    }
    return run_create(
        kind=PipelineRun.Kind.EVALUATION,
        params=params,
        model=source.model,
        created_by=created_by,
        sync=sync,
        same_as=("source", "n_windows", "window_len", "corpus", "with_loss"),
    )


def evaluation_run_resume(run: PipelineRun) -> Resumption:
    return Resumption(
        tasks=[(TASK, run.pk)],
        status=PipelineRun.Status.QUEUED,
        message="Resuming",
        summary=f"Run #{run.pk} evaluates the dictionary again from the start.",
    )


class _Progress:
    """Writes the run's progress at most once a second."""

    def __init__(self, run: PipelineRun, window_len: int) -> None:
        self.run, self.window_len, self.last = run, window_len, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 1.0 and done < total:
            return
        self.last = now
        run_update(
            run=self.run,
            progress=0.05 + 0.9 * done / total,
            tokens_done=done * self.window_len,
            message=f"Evaluating: {done:,} of {total:,} windows",
        )


def evaluation_run_step(*, run_id: int) -> PipelineRun:
    run = PipelineRun.objects.get(pk=run_id)
    if run.is_finished or SourceEvaluation.objects.filter(run=run).exists():
        return run
    params = run.params
    run_update(run=run, status=PipelineRun.Status.RUNNING, started_at=timezone.now(), message="Loading the model")
    try:
        source = Source.objects.select_related("model").filter(pk=params["source"]).first()
        if source is None:
            raise PipelineInputError(f"The source {params['source_path']} no longer exists.")
        device, dtype = resolve(params["device"], params["dtype"])
        loaded = cache.models.get(source.model.path, device=device, dtype=dtype)
        dictionary = cache.dictionaries.get(source.dictionary_path, device=device)
        spec = dictionary_source(loaded, dictionary, source.slug, hook_name=source.hook_name)
        run_update(run=run, message="Tokenizing the corpus", progress=0.02)
        windows = make_windows(
            loaded.tokenizer,
            corpus_documents(params["corpus"]),
            n_windows=params["n_windows"],
            window_len=params["window_len"],
            corpus_name=params["corpus"],
            identity=corpus_identity(params["corpus"]),
            prepend_bos=dictionary.prepend_bos,
        )
        evaluation = evaluate_dictionary(
            loaded,
            spec,
            windows.token_ids,
            batch_size=params["batch_size"],
            with_loss=params["with_loss"],
            on_progress=_Progress(run, params["window_len"]),
            lock=lambda: model_lock(loaded.path),  # the cached model is shared with the pages' live inference
        )
        metrics = evaluation.metrics()
        with transaction.atomic():
            stored = SourceEvaluation.objects.create(
                source=source,
                run=run,
                corpus=params["corpus"],
                n_windows=len(windows.token_ids),
                window_len=params["window_len"],
                tokens=metrics.get("tokens", 0),
                metrics=metrics,
                loss_refusal=evaluation.loss_refusal,
            )
            run_succeed(run=run, message=_summary(stored), tokens_done=len(windows.token_ids) * params["window_len"])
    except PipelineInputError as error:
        run_fail(run=run, error=str(error))
    except Exception as error:
        logger.exception("Evaluation run %s failed", run.pk)
        run_fail(run=run, error=f"Internal error ({type(error).__name__}): {error}\n\n{traceback.format_exc(limit=5)}")
    run.refresh_from_db()
    return run


def _summary(evaluation: SourceEvaluation) -> str:
    metrics = evaluation.metrics
    parts = [f"L0 {metrics['l0']:.1f}"] if "l0" in metrics else []
    if "explained_variance" in metrics:
        parts.append(f"explained variance {metrics['explained_variance']:.3f}")
    if "delta_loss" in metrics:
        parts.append(f"delta loss {metrics['delta_loss']:.4f}")
    return f"Done: {', '.join(parts)} over {evaluation.tokens:,} tokens"
