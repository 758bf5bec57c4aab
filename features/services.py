"""Writes that span models: registering a model, and the life of an activation run.

An activation run is planned into shards (slices of the corpus's windows). Each shard is a django-q2
task that computes every source's dashboards over its windows and stores the partial result; the
last shard to finish queues the finalize task, which merges the partials (exactly: see
features/pipeline/dashboards.py) and writes all features, examples and windows in one transaction.
A run with one shard finalizes in the shard's own task. Every step is safe to run again.
"""

import itertools
import logging
import math
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from .models import (
    ActivationExample,
    ContextWindow,
    Feature,
    LanguageModel,
    PipelineRun,
    PipelineShard,
    ShardPartial,
    Source,
    pack_floats,
    slug_validator,
    validate_not_reserved,
)
from .pipeline import cache
from .pipeline.corpus import BUILTIN_CORPUS, Windows, corpus_documents, make_windows, token_display_strings
from .pipeline.dashboards import HISTOGRAM_BINS, NO_POSITIVE, SAMPLE_BINS, DashboardAccumulator, Dashboards
from .pipeline.errors import PipelineInputError
from .pipeline.loading import LoadedModel, load_language_model
from .pipeline.logits import logit_effects, similar_features
from .pipeline.sources import SourceSpec, dictionary_source, neuron_source, output_directions
from .pipeline.stream import compute_dashboards

logger = logging.getLogger(__name__)

MAX_WINDOWS = 1_000_000
MAX_WINDOW_LEN = 4096
MAX_TOP_K = 200
HISTOGRAM_BARS = 64  # bars of the feature page's histogram over [0, R]
SHOWN_LOGITS = 10
SHOWN_SIMILAR = 10


def model_register(
    *, slug: str, path: str, display_name: str = "", description: str = "", created_by=None
) -> LanguageModel:
    """Register (or update) a local checkpoint directory as a model. Loads it once to validate it."""
    validate_model_slug(slug)
    loaded = load_language_model(path)
    return _model_save(loaded, slug=slug, display_name=display_name, description=description, created_by=created_by)


def validate_model_slug(slug: str) -> None:
    try:
        slug_validator(slug)
        validate_not_reserved(slug)
    except ValidationError as error:
        raise PipelineInputError(f"Invalid model name {slug!r}: {' '.join(error.messages)}") from error


def _model_save(loaded: LoadedModel, *, slug: str, display_name: str = "", description: str = "", created_by=None):
    fields = {
        "display_name": display_name or slug,
        "path": loaded.path,
        "architecture": loaded.architecture,
        "n_layers": loaded.n_layers,
        "d_model": loaded.d_model,
        "d_mlp": loaded.d_mlp,
        "vocab_size": loaded.vocab_size,
    }
    if description:
        fields["description"] = description
    validate_model_slug(slug)
    model, _ = LanguageModel.objects.update_or_create(
        slug=slug, defaults=fields, create_defaults={**fields, "created_by": created_by}
    )
    return model


def dictionary_register(*, model: LanguageModel, path: str, slug: str, hook_name: str = "") -> Source:
    """Register a SAELens-format dictionary directory as a source of `model`, after checking it loads
    with sae-lens and reads a hook of the model with the right width. Re-registering replaces it."""
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise PipelineInputError(f"Invalid source name {slug!r}: {' '.join(error.messages)}") from error
    from .pipeline.dictionaries import load_dictionary

    dictionary = load_dictionary(path, hook_name=hook_name)
    spec = dictionary_source(cache.models.get(model.path), dictionary, slug)
    set_name = slug.split("-", 1)[1] if "-" in slug and slug.split("-", 1)[0].isdigit() else slug
    source, _ = Source.objects.update_or_create(
        model=model,
        slug=slug,
        defaults={
            "kind": Source.Kind.TRANSCODER if dictionary.is_transcoder else Source.Kind.SAE,
            "hook_name": spec.hook.name,
            "layer": spec.hook.layer,
            "set_name": set_name,
            "dictionary_path": dictionary.path,
            "n_features": dictionary.d_sae,
            "config": {
                "architecture": dictionary.architecture,
                "d_in": dictionary.d_in,
                "d_sae": dictionary.d_sae,
                "hook_name_out": dictionary.hook_name_out,
                "prepend_bos": dictionary.prepend_bos,
            },
        },
    )
    cache.dictionaries.clear()  # a replaced directory must be read again
    return source


def activation_run_create(
    *,
    layers: list[int] = (),
    dictionary_sources: list[Source] = (),
    model: LanguageModel | None = None,
    model_path: str = "",
    model_slug: str = "",
    corpus: str = BUILTIN_CORPUS,
    n_windows: int = 1700,
    window_len: int = 128,
    top_k: int = 20,
    samples_per_bin: int = 3,
    batch_size: int = 32,
    shard_windows: int = 2048,
    sync: bool = False,
    created_by=None,
) -> PipelineRun:
    """Validate what can be validated without loading the model and record a queued run.

    A run either names a registered model, or a checkpoint path (and slug) that the run registers
    when it succeeds, so a failed run leaves no half-registered model behind. Its sources are the
    MLP neurons of `layers` and the registered dictionary sources of the model.
    """
    if model is None and not model_path:
        raise PipelineInputError("Give a registered model or a checkpoint path.")
    if model is None and not model_slug:
        model_slug = Path(model_path).name.lower()
    if model is None:
        validate_model_slug(model_slug)
    layers = sorted(set(layers))
    if not layers and not dictionary_sources:
        raise PipelineInputError("Choose at least one layer or dictionary.")
    if any(layer < 0 for layer in layers):
        raise PipelineInputError("Layers are numbered from 0.")
    for source in dictionary_sources:
        if model is None or source.model_id != model.pk or not source.dictionary_path:
            raise PipelineInputError(f"{source} is not a dictionary of this model.")
    if not 1 <= n_windows <= MAX_WINDOWS:
        raise PipelineInputError(f"The number of windows must be between 1 and {MAX_WINDOWS:,}.")
    if not 2 <= window_len <= MAX_WINDOW_LEN:
        raise PipelineInputError(f"The window length must be between 2 and {MAX_WINDOW_LEN} tokens.")
    if not 1 <= top_k <= MAX_TOP_K:
        raise PipelineInputError(f"top_k must be between 1 and {MAX_TOP_K}.")
    if not 1 <= samples_per_bin <= 20:
        raise PipelineInputError("samples_per_bin must be between 1 and 20.")
    if not 1 <= batch_size <= 1024:
        raise PipelineInputError("The batch size must be between 1 and 1024.")
    if not 1 <= shard_windows <= MAX_WINDOWS:
        raise PipelineInputError(f"shard_windows must be between 1 and {MAX_WINDOWS:,}.")
    params = {
        "layers": layers,
        "dictionary_sources": [source.pk for source in dictionary_sources],
        "corpus": corpus,
        "n_windows": n_windows,
        "window_len": window_len,
        "top_k": top_k,
        "samples_per_bin": samples_per_bin,
        "batch_size": batch_size,
        "shard_windows": shard_windows,
        "model_path": model_path or (model.path if model else ""),
        "model_slug": model.slug if model else model_slug,
        # sync: every step runs in the calling process (the --sync flag, scripts, tests).
        "sync": sync,
    }
    return PipelineRun.objects.create(
        kind=PipelineRun.Kind.ACTIVATIONS, model=model, params=params, created_by=created_by
    )


def feature_page_changed(feature_ids: Iterable[int | None]) -> None:
    """Bump the features' `page_version`, so that no reader is served their page as cached before the write.
    Call it after the write, in its transaction where it has one: a reader who read the old version and then the
    new content only caches the new content under the old key, never the reverse."""
    ids = {pk for pk in feature_ids if pk is not None}
    if ids:
        Feature.objects.filter(pk__in=ids).update(page_version=F("page_version") + 1)


def enqueue(run: PipelineRun, task: str, *args) -> str:
    """Queue a django-q2 task for a run (or, for a sync run, run it here and now)."""
    return (
        async_task(
            task, *args, task_name=f"{task.rsplit('.', 1)[-1]}-{run.pk}-{args[0]}", sync=run.params.get("sync", False)
        )
        or ""
    )


def _run_update(run: PipelineRun, **fields) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    run.heartbeat_at = timezone.now()
    run.save(update_fields=[*fields, "heartbeat_at"])


def _run_failed(run: PipelineRun, error: str) -> None:
    _run_update(run, status=PipelineRun.Status.FAILED, error=error, message="Failed", finished_at=timezone.now())


def _internal_error(error: Exception) -> str:
    return f"Internal error ({type(error).__name__}): {error}\n\n{traceback.format_exc(limit=5)}"


class _RunPlan:
    """What every step of a run needs: the loaded model, its sources, and the corpus windows."""

    def __init__(self, run: PipelineRun) -> None:
        params = run.params
        self.loaded = cache.models.get(params["model_path"])
        self.sources: list[SourceSpec] = [neuron_source(self.loaded, layer) for layer in params["layers"]]
        self.source_rows: dict[str, Source] = {}
        for row in Source.objects.filter(pk__in=params.get("dictionary_sources", [])).order_by("pk"):
            dictionary = cache.dictionaries.get(row.dictionary_path)
            self.sources.append(dictionary_source(self.loaded, dictionary, row.slug, hook_name=row.hook_name))
            self.source_rows[row.slug] = row
        if len(params.get("dictionary_sources", [])) != len(self.source_rows):
            raise PipelineInputError("A dictionary source of this run no longer exists.")
        wishes = {spec.dictionary.prepend_bos for spec in self.sources if spec.dictionary} - {None}
        if len(wishes) > 1:
            raise PipelineInputError("The dictionaries disagree on prepend_bos; run them in separate runs.")
        self.prepend_bos = wishes.pop() if wishes else None
        self.params = params

    def windows(self, count: int) -> Windows:
        return make_windows(
            self.loaded.tokenizer,
            corpus_documents(self.params["corpus"]),
            n_windows=count,
            window_len=self.params["window_len"],
            corpus_name=self.params["corpus"],
            prepend_bos=self.prepend_bos,
        )


def activation_run_start(*, run_id: int) -> PipelineRun:
    """Validate a run against its model, cut its corpus into shards and queue them."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.is_finished or run.shards.exists():
        return run
    _run_update(run, status=PipelineRun.Status.RUNNING, started_at=timezone.now(), message="Loading the model")
    try:
        plan = _RunPlan(run)
        _run_update(run, message="Tokenizing the corpus")
        n_windows = len(plan.windows(run.params["n_windows"]).token_ids)
        shard_windows = run.params["shard_windows"]
        shard_count = math.ceil(n_windows / shard_windows)
        with transaction.atomic():
            # Two start tasks for one run (a resume racing a slow worker) must not both cut shards.
            run = PipelineRun.objects.select_for_update().get(pk=run.pk)
            if run.shards.exists():
                return run
            PipelineShard.objects.bulk_create(
                PipelineShard(
                    run=run,
                    index=index,
                    first_window=index * shard_windows,
                    n_windows=min(shard_windows, n_windows - index * shard_windows),
                )
                for index in range(shard_count)
            )
            params = {**run.params, "windows_available": n_windows}
            _run_update(
                run, params=params, shards_total=shard_count, progress=0.02, message=f"Queued {shard_count} shard(s)"
            )
    except PipelineInputError as error:
        _run_failed(run, str(error))
        return run
    except Exception as error:
        logger.exception("Starting activation run %s failed", run.pk)
        _run_failed(run, _internal_error(error))
        return run
    for shard in run.shards.all():
        enqueue(run, "features.tasks.compute_activation_shard", shard.pk)
    run.refresh_from_db()
    return run


def activation_run_resume(*, run_id: int) -> int:
    """Queue again every shard of a run that is not done (after a crash, or a failure since fixed)."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.status == PipelineRun.Status.SUCCEEDED:
        return 0
    if not run.shards.exists():
        PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.QUEUED, error="", finished_at=None)
        enqueue(run, "features.tasks.start_activation_run", run.pk)
        return 1
    pending = list(run.shards.exclude(status=PipelineShard.Status.DONE))
    PipelineRun.objects.filter(pk=run.pk).update(
        status=PipelineRun.Status.RUNNING, error="", finished_at=None, message=f"Resuming {len(pending)} shard(s)"
    )
    PipelineShard.objects.filter(pk__in=[shard.pk for shard in pending]).update(
        status=PipelineShard.Status.QUEUED, error=""
    )
    for shard in pending:
        enqueue(run, "features.tasks.compute_activation_shard", shard.pk)
    if not pending:
        enqueue(run, "features.tasks.finalize_activation_run", run.pk)
    return len(pending)


class _ShardProgress:
    """Adds a shard's processed tokens to its run at most once a second (F() expressions, so shards on
    several workers add up correctly)."""

    def __init__(self, run: PipelineRun, window_len: int, total_windows: int) -> None:
        self.run_pk = run.pk
        self.window_len = window_len
        self.total_windows = total_windows
        self.reported = 0
        self.last_write = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last_write < 1.0 and done < total:
            return
        self.last_write = now
        new_windows = done - self.reported
        self.reported = done
        PipelineRun.objects.filter(pk=self.run_pk).update(
            tokens_done=F("tokens_done") + new_windows * self.window_len,
            heartbeat_at=timezone.now(),
        )
        run = PipelineRun.objects.only("tokens_done").get(pk=self.run_pk)
        fraction = min(run.tokens_done / (self.total_windows * self.window_len), 1.0)
        PipelineRun.objects.filter(pk=self.run_pk).update(
            progress=0.02 + 0.88 * fraction, message=f"Computing activations: {fraction:.0%} of the windows"
        )


def activation_shard_compute(*, shard_id: int) -> PipelineShard:
    shard = PipelineShard.objects.select_related("run").get(pk=shard_id)
    run = shard.run
    if shard.status == PipelineShard.Status.DONE or run.is_finished:
        return shard
    PipelineShard.objects.filter(pk=shard.pk).update(
        status=PipelineShard.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    started = time.monotonic()
    try:
        plan = _RunPlan(run)
        windows = plan.windows(shard.first_window + shard.n_windows)
        shard_windows = windows.token_ids[shard.first_window : shard.first_window + shard.n_windows]
        accumulators = compute_dashboards(
            plan.loaded,
            plan.sources,
            shard_windows,
            first_window_id=shard.first_window,
            top_k=run.params["top_k"],
            samples_per_bin=run.params["samples_per_bin"],
            batch_size=run.params["batch_size"],
            on_progress=_ShardProgress(run, run.params["window_len"], run.params["windows_available"]),
        )
        if run.shards_total == 1:
            # Nothing to merge: finalize here rather than store a partial only to read it back.
            PipelineShard.objects.filter(pk=shard.pk).update(
                status=PipelineShard.Status.DONE, seconds=time.monotonic() - started, finished_at=timezone.now()
            )
            PipelineRun.objects.filter(pk=run.pk).update(shards_done=1)
            _finalize(run, plan, accumulators, windows)
            return shard
        with transaction.atomic():
            ShardPartial.objects.filter(shard=shard).delete()
            ShardPartial.objects.bulk_create(
                ShardPartial(shard=shard, source_slug=slug, data=accumulator.to_bytes())
                for slug, accumulator in accumulators.items()
            )
            PipelineShard.objects.filter(pk=shard.pk).update(
                status=PipelineShard.Status.DONE, seconds=time.monotonic() - started, finished_at=timezone.now()
            )
            run = PipelineRun.objects.select_for_update().get(pk=run.pk)
            done = run.shards.filter(status=PipelineShard.Status.DONE).count()
            all_done = done == run.shards_total and run.status == PipelineRun.Status.RUNNING
            PipelineRun.objects.filter(pk=run.pk).update(
                shards_done=done,
                **({"status": PipelineRun.Status.FINALIZING, "message": "Merging shards"} if all_done else {}),
            )
        if all_done:  # after the commit, so the finalize task sees every shard's partial
            enqueue(run, "features.tasks.finalize_activation_run", run.pk)
    except PipelineInputError as error:
        PipelineShard.objects.filter(pk=shard.pk).update(status=PipelineShard.Status.FAILED, error=str(error))
        _run_failed(run, str(error))
    except Exception as error:
        logger.exception("Shard %s of activation run %s failed", shard.pk, run.pk)
        PipelineShard.objects.filter(pk=shard.pk).update(
            status=PipelineShard.Status.FAILED, error=_internal_error(error)
        )
        _run_failed(run, f"Shard {shard.index} failed; resume the run to retry it. " + _internal_error(error))
    return shard


def activation_run_finalize(*, run_id: int) -> PipelineRun:
    """Merge the shards' partial results (in shard order; the merge is exact in any order) and save."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.status == PipelineRun.Status.SUCCEEDED:
        return run
    try:
        plan = _RunPlan(run)
        accumulators: dict[str, DashboardAccumulator] = {}
        for partial in ShardPartial.objects.filter(shard__run=run).order_by("shard__index", "source_slug").iterator():
            piece = DashboardAccumulator.from_bytes(partial.data)
            if partial.source_slug in accumulators:
                accumulators[partial.source_slug].merge(piece)
            else:
                accumulators[partial.source_slug] = piece
        missing = {spec.slug for spec in plan.sources} - set(accumulators)
        if missing or run.shards.exclude(status=PipelineShard.Status.DONE).exists():
            raise PipelineInputError("Some shards have no result yet; resume the run.")
        _finalize(run, plan, accumulators, plan.windows(run.params["windows_available"]))
    except PipelineInputError as error:
        _run_failed(run, str(error))
    except Exception as error:
        logger.exception("Finalizing activation run %s failed", run.pk)
        _run_failed(run, _internal_error(error))
    run.refresh_from_db()
    return run


def _finalize(run: PipelineRun, plan: _RunPlan, accumulators: dict[str, DashboardAccumulator], windows: Windows):
    _run_update(run, progress=0.9, message="Saving features")
    results = {spec.slug: accumulators[spec.slug].result() for spec in plan.sources}
    with transaction.atomic():
        model = run.model or _model_save(plan.loaded, slug=run.params["model_slug"], created_by=run.created_by)
        needed = set()
        for dashboards in results.values():
            needed.update(int(w) for w in dashboards.top_windows.ravel() if w >= 0)
            needed.update(int(w) for w in dashboards.sample_windows.ravel() if w >= 0)
        window_pk = _store_windows(model, plan.loaded, windows.key, windows.token_ids, sorted(needed))
        for spec in plan.sources:
            source = plan.source_rows.get(spec.slug) or _neuron_source_row(model, spec)
            _save_source_dashboards(plan.loaded, spec, source, results[spec.slug], window_pk, windows.key)
        ShardPartial.objects.filter(shard__run=run).delete()
        _run_update(
            run,
            model=model,
            status=PipelineRun.Status.SUCCEEDED,
            progress=1.0,
            tokens_done=sum(len(window) for window in windows.token_ids),
            message=f"Done: {len(plan.sources)} source(s), {len(windows.token_ids):,} windows",
            finished_at=timezone.now(),
        )


def _neuron_source_row(model: LanguageModel, spec: SourceSpec) -> Source:
    source, _ = Source.objects.update_or_create(
        model=model,
        slug=spec.slug,
        defaults={
            "kind": Source.Kind.NEURONS,
            "hook_name": spec.hook.name,
            "layer": spec.hook.layer,
            "set_name": "mlp",
            "n_features": spec.n_features,
        },
    )
    return source


def _token_list(loaded: LoadedModel, ids, values) -> list[dict]:
    strings = token_display_strings(loaded.tokenizer, [int(i) for i in ids])
    return [
        {"token": text, "id": int(token_id), "value": round(float(value), 4)}
        for text, token_id, value in zip(strings, ids, values, strict=True)
    ]


def _save_source_dashboards(
    loaded: LoadedModel,
    spec: SourceSpec,
    source: Source,
    dashboards: Dashboards,
    window_pk: dict[int, int],
    corpus_key: str,
) -> None:
    """Replace a source's stored dashboards. Features are updated in place, so explanations and
    comments attached to them survive a re-run; their examples are replaced."""
    directions = output_directions(loaded, spec)
    unembedding = loaded.unembedding()
    top_logits = bottom_logits = None
    if unembedding is not None and directions.shape[1] == unembedding.shape[0]:
        top_logits, bottom_logits = logit_effects(directions, unembedding, k=SHOWN_LOGITS)
    similar = similar_features(directions, k=SHOWN_SIMILAR) if len(directions) > 1 else None

    source.n_features = spec.n_features
    source.config = {**source.config, "corpus_key": corpus_key, "token_count": dashboards.token_count}
    source.save(update_fields=["n_features", "config"])

    existing = {feature.index: feature for feature in source.features.all()}
    now = timezone.now()
    features = []
    for index in range(spec.n_features):
        feature = existing.get(index) or Feature(source=source, index=index)
        feature.max_activation = float(dashboards.max_activation[index])
        feature.density = float(dashboards.density[index])
        feature.histogram = _histogram_json(dashboards, index)
        feature.top_logits = (
            _token_list(loaded, top_logits.ids[index], top_logits.values[index]) if top_logits else None
        )
        feature.bottom_logits = (
            _token_list(loaded, bottom_logits.ids[index], bottom_logits.values[index]) if bottom_logits else None
        )
        feature.similar = (
            [
                {"index": int(j), "similarity": round(float(v), 4)}
                for j, v in zip(similar.ids[index], similar.values[index], strict=True)
            ]
            if similar
            else None
        )
        feature.updated_at = now
        features.append(feature)
    fields = ["max_activation", "density", "histogram", "top_logits", "bottom_logits", "similar", "updated_at"]
    Feature.objects.bulk_update([f for f in features if f.pk], fields, batch_size=1000)
    Feature.objects.bulk_create([f for f in features if not f.pk], batch_size=1000)
    features = list(source.features.order_by("index"))

    ActivationExample.objects.filter(feature__source=source).delete()
    _insert_examples(_examples(features, dashboards, window_pk))


# The columns _examples() yields, in order.
_EXAMPLE_FIELDS = [
    "feature", "window", "kind", "rank", "values", "max_value", "max_token_index", "interval_index", "bin_min",
    "bin_max", "bin_contains",
]  # fmt: skip


def _insert_examples(rows: Iterable[tuple], batch_size: int = 5000) -> None:
    """INSERT the examples' rows (tuples of _EXAMPLE_FIELDS) with executemany, a batch at a time. A run writes
    up to 68 examples a feature (565,336 for the demo's 10,752 features); bulk_create spent three times as long
    building a model instance per row as inserting it."""
    meta = ActivationExample._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _EXAMPLE_FIELDS)
    placeholders = ", ".join(["%s"] * len(_EXAMPLE_FIELDS))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
    rows = iter(rows)
    with connection.cursor() as cursor:
        while batch := list(itertools.islice(rows, batch_size)):
            cursor.executemany(sql, batch)


def _histogram_json(dashboards: Dashboards, index: int) -> dict | None:
    exponent = int(dashboards.range_exponent[index])
    if exponent == NO_POSITIVE:
        return None
    top = float(2.0**exponent)
    bars = dashboards.histogram[index].reshape(HISTOGRAM_BARS, -1).sum(axis=1)
    bar_width = top / HISTOGRAM_BARS
    last = min(int(dashboards.max_activation[index] / bar_width), HISTOGRAM_BARS - 1)
    return {"bin_width": bar_width, "counts": [int(count) for count in bars[: last + 1]]}


def _examples(features: list[Feature], dashboards: Dashboards, window_pk: dict[int, int]):
    """The rows of every feature's examples, as tuples of _EXAMPLE_FIELDS."""
    bins_per_sample_bin = HISTOGRAM_BINS // SAMPLE_BINS
    for index, feature in enumerate(features):
        for rank, position in enumerate(dashboards.top_windows[:, index]):
            if position < 0:
                break
            values = dashboards.top_token_values[rank, index]
            yield (
                feature.pk, window_pk[int(position)], ActivationExample.Kind.TOP.value, rank, pack_floats(values),
                float(dashboards.top_values[rank, index]), int(values.argmax()), None, None, None, None,
            )  # fmt: skip
        exponent = int(dashboards.range_exponent[index])
        positives = int(dashboards.positive_counts[index])
        if exponent == NO_POSITIVE or positives == 0:
            continue
        width = 2.0**exponent / SAMPLE_BINS
        histogram = dashboards.histogram[index]
        for sample_bin in range(SAMPLE_BINS):
            low = sample_bin * width
            if low >= dashboards.max_activation[index]:
                break
            share = histogram[sample_bin * bins_per_sample_bin : (sample_bin + 1) * bins_per_sample_bin].sum()
            for rank, position in enumerate(dashboards.sample_windows[sample_bin, :, index]):
                if position < 0:
                    break
                values = dashboards.sample_token_values[sample_bin, rank, index]
                yield (
                    feature.pk, window_pk[int(position)], ActivationExample.Kind.INTERVAL.value, rank,
                    pack_floats(values), float(dashboards.sample_values[sample_bin, rank, index]),
                    int(np.argmax(values)), sample_bin, float(low),
                    min(float(low + width), float(dashboards.max_activation[index])), float(share) / positives,
                )  # fmt: skip


def _store_windows(
    model: LanguageModel, loaded: LoadedModel, corpus_key: str, token_ids: list[list[int]], positions: list[int]
) -> dict[int, int]:
    """Store the windows at `positions` once per (model, corpus); return {position: primary key}."""
    if not positions:
        return {}
    # A range scan on the unique index, not IN (...): a corpus can have a million windows.
    in_range = ContextWindow.objects.filter(
        model=model, corpus_key=corpus_key, position__gte=positions[0], position__lte=positions[-1]
    )
    wanted = set(positions)
    stored = {position: pk for position, pk in in_range.values_list("position", "pk") if position in wanted}
    missing = [
        ContextWindow(
            model=model,
            corpus_key=corpus_key,
            position=position,
            token_ids=token_ids[position],
            tokens=token_display_strings(loaded.tokenizer, token_ids[position]),
        )
        for position in positions
        if position not in stored
    ]
    ContextWindow.objects.bulk_create(missing, batch_size=500)
    return {position: pk for position, pk in in_range.values_list("position", "pk") if position in wanted}
