"""Connections between the features of one model: the CONNECTIONS run and the rows it writes.

A run has two parts, each skipped when resumed after it was done:
1. a pass over the corpus (the one the model's dashboards were computed on, its first `windows` windows), which
   measures every normalisation's mean 1/scale (folded into the virtual weights) and counts which dictionary
   features fire on the same tokens (co-activation); its results are written and the scales kept in the params;
2. one step per (upstream source, downstream source) pair that the residual stream connects: each feature's top
   k connections both ways within the pair, written in bulk, the pair recorded as done. The top k of a feature
   over all pairs is among the rows of its pairs, so the panel's query over them is exact.
The math is in circuits/core/ (virtual_weights.py, residual_paths.py, coactivation.py).
"""

import heapq
import logging
import traceback
from collections import defaultdict

import torch
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from features.models import LanguageModel, PipelineRun, Source
from features.pipeline import cache
from features.pipeline.corpus import BUILTIN_CORPUS, corpus_documents, corpus_identity, make_windows
from features.pipeline.devices import check_names, resolve
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations
from features.pipeline.sources import SourceSpec, dictionary_source, neuron_source
from features.pipeline.stream import content_mask
from features.services.runs import Resumption, run_create, run_fail, run_succeed, run_update

from ..core.coactivation import CoactivationCounter
from ..core.residual_paths import feeds, inverse_scale_sum, norms_to_measure, path_folds, stream_roles
from ..core.virtual_weights import top_connections
from ..models import FeatureCoactivation, FeatureConnection

logger = logging.getLogger(__name__)

START_TASK = "circuits.tasks.compute_connections"
MAX_TOP_K = 100
MAX_WINDOWS = 100_000
BATCH_SIZE = 16
WRITE_BATCH = 5000


def connections_run_create(
    *,
    model: LanguageModel,
    top_k: int = 10,
    windows: int = 128,
    min_together: int = 2,
    sync: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> PipelineRun:
    """Validate and record a queued CONNECTIONS run of `model` (run_enqueue queues it). The same request still
    unfinished is returned instead of a second run."""
    if not model.path:
        raise PipelineInputError(f"{model.slug} has no checkpoint on this server, so its weights cannot be read.")
    if not 1 <= top_k <= MAX_TOP_K:
        raise PipelineInputError(f"top_k must be between 1 and {MAX_TOP_K}.")
    if not 1 <= windows <= MAX_WINDOWS:
        raise PipelineInputError(f"The number of windows must be between 1 and {MAX_WINDOWS:,}.")
    if min_together < 1:
        raise PipelineInputError("min_together must be at least 1.")
    if not Source.objects.filter(model=model, features__isnull=False).exists():
        raise PipelineInputError(f"{model.slug} has no computed features yet: run its activations first.")
    device, dtype = check_names(settings.NEURONPEDIA_DEVICE, settings.NEURONPEDIA_DTYPE)
    params = {
        "model": model.slug,
        "top_k": top_k,
        "windows": windows,
        "min_together": min_together,
        "device": device,
        "dtype": dtype,
    }
    run, _ = run_create(
        kind=PipelineRun.Kind.CONNECTIONS,
        params=params,
        model=model,
        created_by=created_by,
        sync=sync,
        same_as=("model", "top_k", "windows", "min_together"),
    )
    return run


def connections_run_resume(run: PipelineRun) -> Resumption:
    """Resuming queues the run's one task again; it skips what is done (the corpus pass, the finished pairs)."""
    return Resumption(
        tasks=[(START_TASK, run.pk)],
        status=PipelineRun.Status.QUEUED,
        message="Resuming",
        summary=f"Queued run #{run.pk} again; it goes on from the pairs it has not done.",
    )


class _Plan:
    """The model, its computed sources, and their places in the residual stream."""

    def __init__(self, run: PipelineRun) -> None:
        model = run.model
        if model is None:
            raise PipelineInputError("The run's model no longer exists.")
        self.device, self.dtype = resolve(run.params.get("device", "cpu"), run.params.get("dtype", "float32"))
        self.loaded = cache.models.get(model.path, device=self.device, dtype=self.dtype)
        self.rows: dict[str, Source] = {}
        self.specs: list[SourceSpec] = []
        for row in Source.objects.filter(model=model, features__isnull=False).distinct().order_by("layer", "slug"):
            if row.kind == Source.Kind.NEURONS:
                spec = neuron_source(self.loaded, row.layer)
                spec.slug = row.slug
            else:
                dictionary = cache.dictionaries.get(row.dictionary_path, device=self.device)
                spec = dictionary_source(self.loaded, dictionary, row.slug, hook_name=row.hook_name)
            self.specs.append(spec)
            self.rows[row.slug] = row
        self.stream, self.roles = stream_roles(self.loaded, self.specs)
        self.pairs = [
            (up.slug, down.slug)
            for up in self.specs
            for down in self.specs
            if feeds(self.stream, self.roles[up.slug], self.roles[down.slug])
        ]

    def corpus(self) -> tuple[str, int]:
        """The corpus and window length the model's dashboards were computed on (the built-in one otherwise)."""
        for row in self.rows.values():
            if row.dashboards_run is not None:
                return row.dashboards_run.params.get("corpus", BUILTIN_CORPUS), row.dashboards_run.params.get(
                    "window_len", 64
                )
        return BUILTIN_CORPUS, 64

    def feature_pks(self, slug: str) -> dict[int, int]:
        return dict(self.rows[slug].features.values_list("index", "pk"))


def connections_run_step(*, run_id: int) -> PipelineRun:
    """Do (or go on with) a CONNECTIONS run: the corpus pass if not done, then every pair not done."""
    run = PipelineRun.objects.select_related("model").get(pk=run_id)
    if run.is_finished:
        return run
    run_update(
        run=run, status=PipelineRun.Status.RUNNING, started_at=run.started_at or timezone.now(), message="Loading"
    )
    try:
        plan = _Plan(run)
        if not plan.pairs and not any(spec.dictionary for spec in plan.specs):
            raise PipelineInputError(
                f"No two computed sources of {run.model.slug} are connected through the residual stream: compute "
                "the dashboards of more layers or dictionaries first."
            )
        if "inverse_scales" not in run.params:
            _corpus_pass(run, plan)
        _pairs(run, plan)
        _prune(run, plan)
        counted = "co-activation over" if any(spec.dictionary for spec in plan.specs) else "normalisations measured on"
        run_succeed(
            run=run, message=f"Done: {len(plan.pairs)} pair(s) of sources, {counted} {run.params['tokens']:,} tokens"
        )
    except PipelineInputError as error:
        run_fail(run=run, error=str(error))
    except Exception as error:
        logger.exception("Connections run %s failed", run.pk)
        run_fail(
            run=run,
            error=f"Internal error ({type(error).__name__}): {error}\n\n{traceback.format_exc(limit=5)}",
        )
    run.refresh_from_db()
    return run


def _corpus_pass(run: PipelineRun, plan: _Plan) -> None:
    corpus, window_len = plan.corpus()
    run_update(run=run, message="Tokenizing the corpus")
    prepend = {spec.dictionary.prepend_bos for spec in plan.specs if spec.dictionary} - {None}
    windows = make_windows(
        plan.loaded.tokenizer,
        corpus_documents(corpus),
        n_windows=run.params["windows"],
        window_len=window_len,
        corpus_name=corpus,
        identity=corpus_identity(corpus),
        prepend_bos=prepend.pop() if len(prepend) == 1 else None,
    ).token_ids
    norms = norms_to_measure(plan.stream, plan.roles)
    dictionaries = [spec for spec in plan.specs if spec.dictionary is not None]
    offsets, total = {}, 0
    for spec in dictionaries:
        offsets[spec.slug] = total
        total += spec.n_features
    hooks = [spec.hook for spec in dictionaries]
    # Each norm's scale is measured on its own input: some (the MLP's output before Gemma 2's post-feedforward norm,
    # the block input a parallel block's MLP norms) are no hook point between blocks.
    norm_inputs = {f"norm:{key}": norm.module for key, norm in norms.items()}
    sums = {key: [0.0, 0] for key in norms}
    counter = CoactivationCounter(total) if total else None
    for start in range(0, len(windows), BATCH_SIZE):
        input_ids = torch.tensor(windows[start : start + BATCH_SIZE], dtype=torch.long)
        captured = capture_activations(plan.loaded, hooks, input_ids, norm_inputs) if hooks or norm_inputs else {}
        mask = content_mask(plan.loaded, input_ids)
        for key, norm in norms.items():
            inverse_sum, count = inverse_scale_sum(norm, captured[f"norm:{key}"], mask)
            sums[key][0] += inverse_sum
            sums[key][1] += count
        if counter is not None:
            active = torch.cat([spec.encode(captured)[mask] > 0 for spec in dictionaries], dim=-1)
            counter.update(active)
        done = min(start + BATCH_SIZE, len(windows))
        run_update(
            run=run, progress=0.3 * done / len(windows), message=f"Corpus pass: {done} of {len(windows)} windows"
        )
    if any(count == 0 for _, count in sums.values()):
        raise PipelineInputError("The corpus windows have no content tokens to measure the normalisations on.")
    inverse_scales = {key: inverse_sum / count for key, (inverse_sum, count) in sums.items()}
    tokens = int(content_mask(plan.loaded, torch.tensor(windows, dtype=torch.long)).sum())
    with transaction.atomic():
        FeatureCoactivation.objects.filter(feature__source__model=run.model).delete()
        if counter is not None:
            _coactivations_write(run, plan, dictionaries, offsets, counter)
        run_update(
            run=run,
            params={**run.params, "inverse_scales": inverse_scales, "tokens": tokens, "corpus": corpus},
            progress=0.3,
        )


def _coactivations_write(run, plan, dictionaries, offsets, counter: CoactivationCounter) -> None:
    result = counter.result(k=run.params["top_k"], min_together=run.params["min_together"])
    # Global feature number -> Feature pk.
    pk_of = {}
    for spec in dictionaries:
        for index, pk in plan.feature_pks(spec.slug).items():
            pk_of[offsets[spec.slug] + index] = pk
    fires = result.fires.tolist()
    rows = []
    for feature, other, together, jaccard, lift in zip(
        result.feature.tolist(),
        result.other.tolist(),
        result.together.tolist(),
        result.jaccard.tolist(),
        result.lift.tolist(),
        strict=True,
    ):
        if feature in pk_of and other in pk_of:
            rows.append(
                FeatureCoactivation(
                    feature_id=pk_of[feature],
                    other_id=pk_of[other],
                    jaccard=jaccard,
                    lift=lift,
                    together=together,
                    feature_fires=fires[feature],
                    other_fires=fires[other],
                    tokens=result.tokens,
                    run=run,
                )
            )
    FeatureCoactivation.objects.bulk_create(rows, batch_size=WRITE_BATCH)


def _pairs(run: PipelineRun, plan: _Plan) -> None:
    done = {tuple(pair) for pair in run.params.get("pairs_done", [])}
    if not done:  # a fresh computation: no stale pair (of a source since remapped) survives it
        FeatureConnection.objects.filter(upstream__source__model=run.model).delete()
    run_update(run=run, items_total=len(plan.pairs), items_done=len(done & set(plan.pairs)))
    for number, (up_slug, down_slug) in enumerate(plan.pairs):
        if (up_slug, down_slug) in done:
            continue
        upstream, downstream = plan.roles[up_slug], plan.roles[down_slug]
        run_update(run=run, message=f"Virtual weights {up_slug} -> {down_slug}")
        folds = path_folds(plan.stream, upstream, downstream, run.params["inverse_scales"])
        top = top_connections(upstream.decoder(), downstream.encoder(), folds, k=run.params["top_k"])
        up_pks, down_pks = plan.feature_pks(up_slug), plan.feature_pks(down_slug)
        rows = [
            FeatureConnection(upstream_id=up_pks[up], downstream_id=down_pks[down], weight=weight, run=run)
            for (up, down), weight in top.pairs().items()
            if up in up_pks and down in down_pks
        ]
        with transaction.atomic():
            FeatureConnection.objects.filter(
                upstream__source=plan.rows[up_slug], downstream__source=plan.rows[down_slug]
            ).delete()
            FeatureConnection.objects.bulk_create(rows, batch_size=WRITE_BATCH)
            done.add((up_slug, down_slug))
            run_update(
                run=run,
                params={**run.params, "pairs_done": sorted(done)},
                items_done=len(done),
                progress=0.3 + 0.7 * (number + 1) / len(plan.pairs),
            )


def _prune(run: PipelineRun, plan: _Plan) -> None:
    """Keep only the rows among the top k (by |weight|, then pk: the panel's order) of their upstream feature or of
    their downstream one over all pairs: a pair's rows hold each feature's top k within the pair, most of which
    another pair's stronger rows push out. Source by source, so memory stays bounded by one source's rows. Safe to
    run again: it keeps what a second pass would keep."""
    run_update(run=run, message="Keeping each feature's strongest connections")
    k = run.params["top_k"]
    keep: set[int] = set()
    connections = FeatureConnection.objects.filter(upstream__source__model=run.model)
    for row in plan.rows.values():
        for side in ("upstream", "downstream"):
            best: dict[int, list[tuple[float, int]]] = defaultdict(list)
            rows = connections.filter(**{f"{side}__source": row}).values_list("pk", f"{side}_id", "weight")
            for pk, feature, weight in rows.iterator(chunk_size=WRITE_BATCH):
                best[feature].append((-abs(weight), pk))
            for candidates in best.values():
                keep.update(pk for _, pk in heapq.nsmallest(k, candidates))
    for row in plan.rows.values():
        pks = connections.filter(upstream__source=row).values_list("pk", flat=True)
        stale = [pk for pk in pks.iterator(chunk_size=WRITE_BATCH) if pk not in keep]
        for start in range(0, len(stale), WRITE_BATCH):
            FeatureConnection.objects.filter(pk__in=stale[start : start + WRITE_BATCH]).delete()
