"""The activation pipeline's run: every feature's dashboard of some sources of a model over a corpus.

A run is planned into shards (slices of the corpus's windows). Each shard is a django-q2 task that computes every
source's dashboards over its windows and stores the partial result; the last shard to finish queues the finalize
task, which merges the partials (exactly: see features/pipeline/dashboards.py) and writes all features, examples
and windows in one transaction (dashboard_store.py). A run with one shard finalizes in the shard's own task.
Every step is safe to run again. The run itself (creating, queueing, progress, failure, resuming) is the run
engine's (runs.py); this module holds the steps.
"""

import logging
import math
import time
import traceback
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from features.models import LanguageModel, PipelineRun, PipelineShard, ShardPartial, Source
from features.pipeline import cache
from features.pipeline.checks import RunWarning, check_context_size, check_prepend_bos, check_source
from features.pipeline.corpus import (
    BUILTIN_CORPUS,
    Windows,
    bos_token_id,
    corpus_documents,
    corpus_identity,
    make_windows,
)
from features.pipeline.dashboards import DashboardAccumulator
from features.pipeline.devices import check_names, resolve
from features.pipeline.dictionaries import config_value
from features.pipeline.errors import PipelineInputError
from features.pipeline.loading import LoadedModel, is_causal_lm
from features.pipeline.manifest import run_manifest
from features.pipeline.sources import SourceSpec, dictionary_source, neuron_source
from features.pipeline.stream import compute_dashboards

from .dashboard_store import context_windows_store, neuron_source_save, source_dashboards_save
from .registration import model_save, model_slug_validate
from .runs import Resumption, run_create, run_fail, run_succeed, run_task_enqueue, run_update
from .workers import (
    SHARD_TASK,
    connection_replace_if_dropped,
    host_name,
    run_claim,
    run_claim_holds,
    run_claim_release,
    shard_claim,
    shard_claim_holds,
)

logger = logging.getLogger(__name__)

START_TASK = "features.tasks.start_activation_run"
FINALIZE_TASK = "features.tasks.finalize_activation_run"

MAX_WINDOWS = 1_000_000
MAX_WINDOW_LEN = 4096
MAX_TOP_K = 200


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
    device: str = "",
    dtype: str = "",
    created_by: AbstractBaseUser | None = None,
) -> PipelineRun:
    """Validate what can be validated without loading the model and record a queued run.

    A run either names a registered model, or a checkpoint path (and slug) that the run registers
    when it succeeds, so a failed run leaves no half-registered model behind. Its sources are the
    MLP neurons of `layers` and the registered dictionary sources of the model. `device` and `dtype`
    (default NEURONPEDIA_DEVICE, NEURONPEDIA_DTYPE) are resolved by the worker that starts the run, which
    records what they resolved to ("auto" -> "cuda:0"); every later step runs there and in that dtype.
    """
    device, dtype = check_names(device or settings.NEURONPEDIA_DEVICE, dtype or settings.NEURONPEDIA_DTYPE)
    if model is None and not model_path:
        raise PipelineInputError("Give a registered model or a checkpoint path.")
    if model is None and not model_slug:
        model_slug = Path(model_path).name.lower()
    if model is None:
        model_slug_validate(slug=model_slug)
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
        "device": device,
        "dtype": dtype,
    }
    run, _ = run_create(kind=PipelineRun.Kind.ACTIVATIONS, params=params, model=model, created_by=created_by, sync=sync)
    return run


def _internal_error(error: Exception) -> str:
    return f"Internal error ({type(error).__name__}): {error}\n\n{traceback.format_exc(limit=5)}"


def _check_visible(path: str, what: str) -> None:
    """Refuse, naming the cause, a step on a worker that cannot see the run's files: every worker must see
    them at the path they were registered with (a shared NEURONPEDIA_DATA_DIR, docs/operations.md)."""
    if path and not Path(path).exists():
        raise PipelineInputError(
            f"The {what} path {path} is not a directory or file on this worker ({host_name()}). Check the path; "
            "every worker must also see it: mount the shared data directory (NEURONPEDIA_DATA_DIR, here "
            f"{settings.NEURONPEDIA_DATA_DIR}) at the path the files were registered with, then resume the run."
        )


class _RunPlan:
    """What every step of a run needs: the loaded model, its sources, and the corpus windows."""

    def __init__(self, run: PipelineRun) -> None:
        params = run.params
        # Runs recorded before devices were a choice ran on the CPU in float32.
        self.device, self.dtype = resolve(params.get("device", "cpu"), params.get("dtype", "float32"))
        _check_visible(params["model_path"], "model's")
        self.loaded = cache.models.get(params["model_path"], device=self.device, dtype=self.dtype)
        self.sources: list[SourceSpec] = [neuron_source(self.loaded, layer) for layer in params["layers"]]
        self.source_rows: dict[str, Source] = {}
        for row in Source.objects.filter(pk__in=params.get("dictionary_sources", [])).order_by("pk"):
            _check_visible(row.dictionary_path, f"dictionary {row.slug}'s")
            dictionary = cache.dictionaries.get(row.dictionary_path, device=self.device)
            self.sources.append(dictionary_source(self.loaded, dictionary, row.slug, hook_name=row.hook_name))
            self.source_rows[row.slug] = row
        if len(params.get("dictionary_sources", [])) != len(self.source_rows):
            raise PipelineInputError("A dictionary source of this run no longer exists.")
        wishes = {spec.dictionary.prepend_bos for spec in self.sources if spec.dictionary} - {None}
        if len(wishes) > 1:
            raise PipelineInputError("The dictionaries disagree on prepend_bos; run them in separate runs.")
        self.prepend_bos = wishes.pop() if wishes else None
        self.params = params

    def manifest(self, windows: Windows) -> dict:
        return {
            **run_manifest(
                loaded=self.loaded,
                dictionaries={spec.slug: (spec.dictionary, spec.hook.name) for spec in self.sources if spec.dictionary},
                corpus=corpus_identity(self.params["corpus"]),
                token_ids=windows.token_ids,
                window_len=self.params["window_len"],
                prepend_bos=self.prepend_bos,
                device=self.device,
                dtype=self.dtype,
            ),
            "sources": {spec.slug: {"kind": spec.kind, "hook_name": spec.hook.name} for spec in self.sources},
        }

    def warnings(self, accumulators: dict[str, DashboardAccumulator], windows: Windows) -> list[RunWarning]:
        """The automatic checks (features/pipeline/checks.py) of every dictionary source."""
        warnings = []
        first_tokens = {window[0] for window in windows.token_ids}
        corpus_tokens = sum(len(window) for window in windows.token_ids)
        for spec in self.sources:
            accumulator = accumulators[spec.slug]
            if spec.dictionary is None or accumulator.checks is None:
                continue
            warnings += check_source(
                accumulator.checks,
                accumulator.positive_counts,
                accumulator.token_count,
                spec.slug,
                target_hook=spec.reconstruction_hook,
            )
            warnings += check_prepend_bos(
                wanted=spec.dictionary.prepend_bos,
                first_tokens=first_tokens,
                bos_token_id=bos_token_id(self.loaded.tokenizer),
                source=spec.slug,
            )
            warnings += check_context_size(
                context_size=config_value(spec.dictionary.config, "context_size"),
                window_len=self.params["window_len"],
                corpus_tokens=corpus_tokens,
                source=spec.slug,
            )
        return warnings

    def windows(self, count: int, display_for: Collection[int] = ()) -> Windows:
        """The run's first `count` windows, cut again from the corpus (with the display strings of those at
        `display_for`); refused if the corpus is no longer the one the run started on (every shard cuts its
        own, maybe on another machine)."""
        windows = make_windows(
            self.loaded.tokenizer,
            corpus_documents(self.params["corpus"]),
            n_windows=count,
            window_len=self.params["window_len"],
            corpus_name=self.params["corpus"],
            identity=corpus_identity(self.params["corpus"]),
            prepend_bos=self.prepend_bos,
            display_for=display_for,
        )
        if self.params.get("windows_key", windows.key) != windows.key:
            raise PipelineInputError(
                f"The corpus {self.params['corpus']!r} is not the one this run started on (it changed, or this "
                "worker has other files): its windows would not match the other shards'."
            )
        return windows


def activation_run_start(*, run_id: int) -> PipelineRun:
    """Validate a run against its model, cut its corpus into shards and queue them."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.is_finished or run.shards.exists():
        return run
    claim = run_claim(run_id=run.pk)
    if claim is None:  # a live worker is starting it already
        return run
    try:
        cut = _activation_run_start(run)
    finally:
        run_claim_release(run_id=run.pk, claim=claim)
    # Queued once the claim is released: a one-shard run's shard claims the run to write its results.
    if cut:
        for shard in run.shards.all():
            run_task_enqueue(run=run, task=SHARD_TASK, arg=shard.pk)
    run.refresh_from_db()
    return run


def _activation_run_start(run: PipelineRun) -> bool:
    """Load, check and cut the run into shards; whether this call cut them (and they are to be queued)."""
    run_update(run=run, status=PipelineRun.Status.RUNNING, started_at=timezone.now(), message="Loading the model")
    try:
        plan = _RunPlan(run)
        run_update(run=run, message="Tokenizing the corpus")
        windows = plan.windows(run.params["n_windows"])
        n_windows = len(windows.token_ids)
        run_update(run=run, message="Hashing the model's and dictionaries' files")
        run_update(run=run, manifest=plan.manifest(windows))
        shard_windows = run.params["shard_windows"]
        shard_count = math.ceil(n_windows / shard_windows)
        with transaction.atomic():
            # Two start tasks for one run (a resume racing a slow worker) must not both cut shards.
            run = PipelineRun.objects.select_for_update().get(pk=run.pk)
            if run.shards.exists():
                return False
            PipelineShard.objects.bulk_create(
                PipelineShard(
                    run=run,
                    index=index,
                    first_window=index * shard_windows,
                    n_windows=min(shard_windows, n_windows - index * shard_windows),
                )
                for index in range(shard_count)
            )
            # What "auto" resolved to here: the shards, resumed or not, run on that device in that dtype.
            params = {
                **run.params,
                "windows_available": n_windows,
                "windows_key": windows.key,
                "device": plan.device,
                "dtype": plan.dtype,
            }
            run_update(
                run=run,
                params=params,
                shards_total=shard_count,
                progress=0.02,
                message=f"Queued {shard_count} shard(s)",
            )
    except PipelineInputError as error:
        run_fail(run=run, error=str(error))
        return False
    except Exception as error:
        logger.exception("Starting activation run %s failed", run.pk)
        connection_replace_if_dropped()
        run_fail(run=run, error=_internal_error(error))
        return False
    return True


def activation_run_resume(run: PipelineRun) -> Resumption:
    """What resuming an activation run queues (the run engine's run_resume calls it): every shard that is not
    done, or the finalize step if they all are, or the start step if the run was never cut into shards."""
    if not run.shards.exists():
        return Resumption(
            tasks=[(START_TASK, run.pk)],
            status=PipelineRun.Status.QUEUED,
            message="Resuming",
            summary=f"Queued 1 step(s) of run #{run.pk} again.",
        )
    # Every shard not done, a running one too: a person resuming knows better than a heartbeat that may still
    # look alive for WORKER_DEAD_AFTER_S after its worker died. If that worker does live on, its claim is void
    # (the shard was reset), so it writes nothing and the new attempt's result stands.
    pending = list(run.shards.exclude(status=PipelineShard.Status.DONE))
    PipelineShard.objects.filter(pk__in=[shard.pk for shard in pending]).update(
        status=PipelineShard.Status.QUEUED, error=""
    )
    tasks = [(SHARD_TASK, shard.pk) for shard in pending] or [(FINALIZE_TASK, run.pk)]
    return Resumption(
        tasks=tasks,
        status=PipelineRun.Status.RUNNING,
        message=f"Resuming {len(pending)} shard(s)",
        summary=f"Queued {len(tasks)} step(s) of run #{run.pk} again.",
    )


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
    attempt = shard_claim(shard_id=shard.pk)
    if attempt is None:  # done meanwhile, or a live worker has it: this task is a duplicate
        return shard
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
            claim = run_claim(run_id=run.pk)
            if claim is None:
                return shard
            try:
                # The shard is marked done in the transaction that writes the results: if that fails, it fails.
                done = _ShardDone(shard_id=shard.pk, attempt=attempt, seconds=time.monotonic() - started)
                _finalize(run, plan, accumulators, len(windows.token_ids), claim=claim, shard_done=done)
            finally:
                run_claim_release(run_id=run.pk, claim=claim)
            return shard
        with transaction.atomic():
            if not shard_claim_holds(shard_id=shard.pk, attempt=attempt):
                # The watchdog gave this attempt up (its worker looked dead) or another attempt finished it:
                # that one's result stands, this one writes nothing.
                logger.warning("Shard %s attempt %s was superseded; its result is dropped", shard.pk, attempt)
                return shard
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
            run_task_enqueue(run=run, task=FINALIZE_TASK, arg=run.pk)
    except PipelineInputError as error:
        if _shard_failed(shard, attempt, str(error)):
            run_fail(run=run, error=f"Shard {shard.index}: {error}")
    except Exception as error:
        logger.exception("Shard %s of activation run %s failed", shard.pk, run.pk)
        if _shard_failed(shard, attempt, _internal_error(error)):
            run_fail(
                run=run, error=f"Shard {shard.index} failed; resume the run to retry it. " + _internal_error(error)
            )
    return shard


def _shard_failed(shard: PipelineShard, attempt: int, error: str) -> bool:
    """Mark a shard failed if this attempt still owns it (a superseded attempt's failure is not the run's)."""
    connection_replace_if_dropped()  # so that the failure can be written
    return bool(
        PipelineShard.objects.filter(pk=shard.pk, attempts=attempt, status=PipelineShard.Status.RUNNING).update(
            status=PipelineShard.Status.FAILED, error=error
        )
    )


def activation_run_finalize(*, run_id: int) -> PipelineRun:
    """Merge the shards' partial results (in shard order; the merge is exact in any order) and save."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.status == PipelineRun.Status.SUCCEEDED:
        return run
    claim = run_claim(run_id=run.pk)
    if claim is None:  # a live worker is merging it already, or it finished
        return run
    try:
        _activation_run_finalize(run, claim)
    finally:
        run_claim_release(run_id=run.pk, claim=claim)
    run.refresh_from_db()
    return run


def _activation_run_finalize(run: PipelineRun, claim: int) -> None:
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
        _finalize(run, plan, accumulators, run.params["windows_available"], claim=claim)
    except PipelineInputError as error:
        _fail_if_claimed(run, claim, str(error))
    except Exception as error:
        logger.exception("Finalizing activation run %s failed", run.pk)
        _fail_if_claimed(run, claim, _internal_error(error))


def _pass_quality(accumulator: DashboardAccumulator, run: PipelineRun, loaded: LoadedModel) -> dict:
    """A dictionary source's quality figures from the pass (features/pipeline/quality.py): sparsity over every
    window, reconstruction over the checks' sampled windows; {} for neurons or a partial without them. The pass
    measures no loss; an encoder's figures say that none applies (pages show "does not apply", not "not
    measured", as evaluations/ stores it)."""
    checks = accumulator.checks
    if checks is None or checks.quality is None:
        return {}
    applies = {} if is_causal_lm(loaded) else {"loss_applies": False}
    return {**checks.quality.metrics(accumulator.positive_counts), **applies, "run": run.pk}


def _fail_if_claimed(run: PipelineRun, claim: int, error: str) -> None:
    connection_replace_if_dropped()  # so that the failure can be written
    with transaction.atomic():
        if run_claim_holds(run_id=run.pk, claim=claim):
            run_fail(run=run, error=error)


@dataclass(frozen=True)
class _ShardDone:
    shard_id: int
    attempt: int
    seconds: float


def _finalize(
    run: PipelineRun,
    plan: _RunPlan,
    accumulators: dict[str, DashboardAccumulator],
    n_windows: int,
    *,
    claim: int,
    shard_done: _ShardDone | None = None,
) -> None:
    """Write the run's results in one transaction, only while `claim` is still this step's (the run's row stays
    locked until the commit, so a second merge waits and then finds the run succeeded)."""
    run_update(run=run, progress=0.9, message="Saving features")
    results = {spec.slug: accumulators[spec.slug].result() for spec in plan.sources}
    needed = set()
    for dashboards in results.values():
        needed.update(int(w) for w in dashboards.top_windows.ravel() if w >= 0)
        needed.update(int(w) for w in dashboards.sample_windows.ravel() if w >= 0)
    # Cut once more, now that the examples' windows are known, to show them in the corpus's own characters.
    windows = plan.windows(n_windows, display_for=needed)
    warnings = [warning.as_dict() for warning in plan.warnings(accumulators, windows)]
    with transaction.atomic():
        if not run_claim_holds(run_id=run.pk, claim=claim) or (
            shard_done and not shard_claim_holds(shard_id=shard_done.shard_id, attempt=shard_done.attempt)
        ):
            logger.warning("The merge of run %s (claim %s) was superseded; it writes nothing", run.pk, claim)
            return
        if shard_done:
            PipelineShard.objects.filter(pk=shard_done.shard_id).update(
                status=PipelineShard.Status.DONE, seconds=shard_done.seconds, finished_at=timezone.now()
            )
            PipelineRun.objects.filter(pk=run.pk).update(shards_done=1)
        model = run.model or model_save(loaded=plan.loaded, slug=run.params["model_slug"], created_by=run.created_by)
        window_pk = context_windows_store(
            model=model,
            loaded=plan.loaded,
            corpus_key=windows.key,
            token_ids=windows.token_ids,
            positions=sorted(needed),
            display=windows.display,
        )
        for spec in plan.sources:
            source = plan.source_rows.get(spec.slug) or neuron_source_save(model=model, spec=spec)
            source_dashboards_save(
                loaded=plan.loaded,
                spec=spec,
                source=source,
                dashboards=results[spec.slug],
                window_pk=window_pk,
                corpus_key=windows.key,
            )
            Source.objects.filter(pk=source.pk).update(dashboards_run=run)
            quality = _pass_quality(accumulators[spec.slug], run, plan.loaded)
            if quality:
                source.refresh_from_db(fields=["config"])
                Source.objects.filter(pk=source.pk).update(config={**source.config, "quality": quality})
        ShardPartial.objects.filter(shard__run=run).delete()
        run_succeed(
            run=run,
            message=f"Done: {len(plan.sources)} source(s), {len(windows.token_ids):,} windows",
            model=model,
            tokens_done=sum(len(window) for window in windows.token_ids),
            warnings=warnings,
        )
