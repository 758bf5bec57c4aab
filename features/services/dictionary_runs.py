"""Training a dictionary on the task queue: a PipelineRun of kind DICTIONARY whose one step trains it
(features/pipeline/training.py), saves it in the SAELens format and registers it as a source, with progress
on the run's page. `manage.py sweep_saes` queues several such runs on one hook (widths x sparsities)."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from features.models import LanguageModel, PipelineRun, slug_validator
from features.pipeline.errors import PipelineInputError

from .runs import Resumption, run_create, run_fail, run_succeed, run_update

TRAIN_TASK = "features.tasks.train_dictionary"
# What a run needs besides its model: train_sae's settings, and the corpus and device options.
TRAINING_SETTINGS = (
    *("architecture", "d_sae", "k", "l1_coefficient", "l0_coefficient", "hook_name_out"),
    *("jumprelu_threshold", "jumprelu_bandwidth"),
    *("steps", "batch_tokens", "lr", "seed"),
)


def dictionary_directory(model: LanguageModel, slug: str) -> Path:
    return Path(settings.NEURONPEDIA_DATA_DIR) / "dictionaries" / model.slug / slug


def dictionary_run_create(
    *,
    model: LanguageModel,
    hook_name: str,
    slug: str,
    training: dict,
    corpus: str,
    text_field: str = "",
    n_windows: int = 1000,
    window_len: int = 128,
    device: str = "",
    dtype: str = "",
    created_by=None,
    sync: bool = False,
) -> tuple[PipelineRun, bool]:
    """Record a queued dictionary training run (queue it with run_enqueue). `training` holds train_sae's
    settings (TRAINING_SETTINGS); the same slug of the same model still under way is reused, not doubled."""
    from features.pipeline.training import ARCHITECTURES

    try:
        slug_validator(slug)
    except ValidationError as error:
        raise PipelineInputError(f"Invalid source name {slug!r}: {' '.join(error.messages)}") from error
    unknown = set(training) - set(TRAINING_SETTINGS)
    if unknown:
        raise PipelineInputError(f"Unknown training setting(s): {', '.join(sorted(unknown))}.")
    if training.get("architecture", "topk") not in ARCHITECTURES:
        raise PipelineInputError(f"Unknown architecture {training['architecture']!r}; choose one of {ARCHITECTURES}.")
    params = {
        "model_id": model.pk,
        "hook_name": hook_name,
        "slug": slug,
        "training": training,
        "corpus": corpus,
        "text_field": text_field,
        "n_windows": n_windows,
        "window_len": window_len,
        "device": device or settings.NEURONPEDIA_DEVICE,
        "dtype": dtype or settings.NEURONPEDIA_DTYPE,
    }
    return run_create(
        kind=PipelineRun.Kind.DICTIONARY,
        params=params,
        model=model,
        created_by=created_by,
        sync=sync,
        same_as=("model_id", "slug"),
    )


def dictionary_run_train(*, run_id: int) -> PipelineRun:
    """The run's one step: train, save, register. Run again after a failure, it trains from the start (the
    result is the same for the same seed) and registering replaces the source."""
    from features.pipeline import cache
    from features.pipeline.corpus import corpus_documents, corpus_identity, make_windows, with_text_field
    from features.pipeline.devices import resolve
    from features.pipeline.training import train_sae

    from .registration import dictionary_register

    run = PipelineRun.objects.select_related("model").get(pk=run_id)
    if run.is_finished:
        return run
    params = run.params
    run_update(run=run, status=PipelineRun.Status.RUNNING, started_at=timezone.now(), message="Loading the model")
    try:
        if run.model is None:
            raise PipelineInputError("The run's model has been deleted.")
        device, dtype = resolve(params["device"], params["dtype"])
        loaded = cache.models.get(run.model.path, device=device, dtype=dtype)
        run_update(run=run, message="Tokenizing the corpus")
        corpus = with_text_field(params["corpus"], params["text_field"])
        windows = make_windows(
            loaded.tokenizer,
            corpus_documents(corpus),
            n_windows=params["n_windows"],
            window_len=params["window_len"],
            corpus_name=corpus,
            identity=corpus_identity(corpus),
        )
        training = params["training"]
        steps = training.get("steps", 800)
        every = max(1, steps // 100)

        def progress(done: int, total: int) -> None:
            if done % every == 0 or done == total:
                # The last 2% are saving and registering.
                run_update(run=run, progress=0.98 * done / total, message=f"Training: step {done:,} of {total:,}")

        trained = train_sae(
            loaded, params["hook_name"], windows.token_ids, model_name=run.model.slug, on_progress=progress, **training
        )
        run_update(run=run, status=PipelineRun.Status.FINALIZING, message="Saving and registering")
        directory = trained.save(dictionary_directory(run.model, params["slug"]))
        source = dictionary_register(model=run.model, path=str(directory), slug=params["slug"])
    except PipelineInputError as error:
        run_fail(run=run, error=str(error))
        return run
    except Exception as error:  # recorded on the run so that its page says why; the worker logs the traceback
        run_fail(run=run, error=f"{type(error).__name__}: {error}")
        raise
    run_update(run=run, params={**params, "source_id": source.pk, "report": trained.report.as_dict()})
    run_succeed(run=run, message=f"Registered {source}: {trained.report.summary()}")
    return run


def dictionary_run_resume(run: PipelineRun) -> Resumption:
    """A dictionary run has one step: resuming queues it again (training starts over)."""
    return Resumption(
        tasks=[(TRAIN_TASK, run.pk)],
        status=PipelineRun.Status.QUEUED,
        message="Queued again",
        summary=f"Queued the training of run #{run.pk} again (it starts over).",
    )
