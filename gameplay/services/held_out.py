"""Held-out pools: the stored windows each feature's Predict and Verify cards come from, with its true
activations on them (models.HeldOutPool), so that starting a round reads them instead of running a model.

They are computed for a whole model at once (`held_out_pools_compute`: one forward pass per batch of windows
serves every feature of every source; `manage.py held_out_pools`, the last step of `build_demo`), and by the
first round of a feature that has none, or whose pool no longer fits (computed live as before, then stored).
A pool is never wrong: its values are the model's (core/held_out.py keeps negatives as 0, below the game's
scale), it is used only with the weights it was computed with (`pool_fingerprint`), and windows the
feature's page shows by now are left out when it is read.
"""

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Collection

import numpy as np
from django.db import IntegrityError, transaction

from features import inference
from features.models import ActivationExample, ContextWindow, Feature, Source, unpack_floats
from scoring.core.examples import feature_key_tokens
from scoring.core.records import ActivationRecord

from .. import items as feature_items
from ..core.cards import HeldOutWindow
from ..core.held_out import held_out_choice, normalised_tokens, pack_pool, unpack_pool
from ..models import HeldOutPool
from ..selectors import playable_features

logger = logging.getLogger(__name__)

# A stored pool with fewer windows left than this (once its feature's shown windows and the round's other
# cards are left out) is computed again.
MIN_STORED_POOL = 24
BATCH_WINDOWS = 32  # windows per forward pass when computing a model's pools


def pool_fingerprint(source: Source) -> str:
    """What a pool's values were computed with: the model's checkpoint and the source's hook and dictionary."""
    return f"{source.model.path}|{source.hook_name}|{source.dictionary_path}"


def _stored_pool(fw: feature_items.FeatureWindows, exclude: set[int]) -> tuple[feature_items.Pool | None, bool]:
    """(the stored pool's windows this round may use, or None when too few are left; whether a stored pool
    that is still valid exists: computed with these weights, every window still there)."""
    pool = HeldOutPool.objects.filter(feature=fw.feature).first()
    if pool is None or pool.fingerprint != pool_fingerprint(fw.feature.source):
        return None, False
    windows = ContextWindow.objects.in_bulk(pool.window_ids)
    if len(windows) != len(set(pool.window_ids)):
        return None, False  # a window is gone: compute the pool again
    ordered = [windows[pk] for pk in pool.window_ids]
    try:
        rows = unpack_pool(pool.values, [len(window.token_ids) for window in ordered])
    except ValueError:
        logger.warning("The held-out pool of %s does not match its windows; computing it again", fw.feature)
        return None, False
    shown = {example.window_id for example in [*fw.top, *fw.intervals]}
    usable = [
        (window, HeldOutWindow(tokens=list(window.tokens), values=values, content=content))
        for window, (values, content) in zip(ordered, rows, strict=True)
        if window.pk not in shown and window.pk not in exclude
    ]
    # A pool that was small from the start (a model with few stored windows) is used as long as it is whole.
    enough = len(usable) >= min(MIN_STORED_POOL, len(ordered))
    return (usable if enough else None), not any(window.pk in shown for window in ordered)


def held_out_pool_save(*, feature: Feature, windows: list[ContextWindow], values, content) -> HeldOutPool:
    """Store a feature's pool: `values` and `content` per window, as inference gives them. When another
    round stores one at the same moment, either is right: the first stays."""
    fields = {
        "window_ids": [window.pk for window in windows],
        "values": pack_pool(values, content),
        "fingerprint": pool_fingerprint(feature.source),
    }
    try:
        with transaction.atomic():
            pool, _ = HeldOutPool.objects.update_or_create(feature=feature, defaults=fields)
    except IntegrityError:
        pool = HeldOutPool.objects.get(feature=feature)
    return pool


def held_out_pool(*, fw: feature_items.FeatureWindows, exclude: Collection[int] = ()) -> feature_items.Pool:
    """The feature's held-out windows with its true values: the stored pool when there is one that fits,
    otherwise drawn and computed by live inference now (one batch), and stored for the next rounds. Raises
    features.inference.InferenceInputError when the model cannot be run here.

    The draw is seeded by the feature, not by the round, and a stored pool keeps its order: a round's cards
    depend only on its own seed, whether its pool was stored or computed (the daily round is the same for
    everyone)."""
    exclude = set(exclude)
    stored, still_valid = _stored_pool(fw, exclude)
    if stored is not None:
        return stored
    windows = feature_items.held_out_windows(fw, random.Random(fw.feature.pk), exclude=exclude)
    measured = inference.feature_activations_on_windows(fw.feature, [list(w.token_ids) for w in windows])
    values = [result.values for result in measured]
    content = [result.content for result in measured]
    if not (still_valid and exclude):  # a valid pool short only of this round's other cards is kept
        held_out_pool_save(feature=fw.feature, windows=windows, values=values, content=content)
    return [
        (window, HeldOutWindow(tokens=list(window.tokens), values=list(row), content=list(mask)))
        for window, row, mask in zip(windows, values, content, strict=True)
    ]


# --- A whole model at once ---------------------------------------------------------------------------


def _key_tokens(features: list[Feature]) -> dict[int, list[str]]:
    """Each feature's key tokens, from its top examples (as FeatureWindows.key_tokens reads them)."""
    rows = list(
        ActivationExample.objects.filter(feature__in=features, kind=ActivationExample.Kind.TOP)
        .order_by("feature_id", "rank")
        .values_list("feature_id", "window_id", "values")
    )
    tokens = dict(ContextWindow.objects.filter(pk__in={w for _, w, _ in rows}).values_list("pk", "tokens"))
    records: dict[int, list[ActivationRecord]] = defaultdict(list)
    for feature_id, window_id, blob in rows:
        values = unpack_floats(blob)
        n = min(len(tokens[window_id]), len(values))
        records[feature_id].append(ActivationRecord(tokens=tuple(tokens[window_id][:n]), activations=tuple(values[:n])))
    return {feature.pk: feature_key_tokens(records[feature.pk]) for feature in features}


def held_out_pools_compute(
    *,
    sources: list[Source],
    force: bool = False,
    size: int = feature_items.HELD_OUT_POOL,
    scan: int = feature_items.HELD_OUT_SCAN,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Store the held-out pool of every playable feature of `sources` (of one model) that has none (every one,
    with `force`), and return how many were stored. The features draw their windows from one seeded scan of
    the model's stored windows, and each batch of windows runs through the model once for every source.
    Raises features.inference.InferenceInputError when the model cannot be run here."""
    if not sources:
        return 0
    model_id = sources[0].model_id
    fingerprints = {source.pk: pool_fingerprint(source) for source in sources}
    features = list(
        playable_features().filter(source__in=sources).select_related("source__model").order_by("source_id", "index")
    )
    if not force:
        done = {
            feature_id
            for feature_id, source_id, fingerprint in HeldOutPool.objects.filter(
                feature__source__in=sources
            ).values_list("feature_id", "feature__source_id", "fingerprint")
            if fingerprints.get(source_id) == fingerprint
        }
        features = [feature for feature in features if feature.pk not in done]
    if not features:
        return 0
    shown: dict[int, set[int]] = defaultdict(set)
    for feature_id, window_id in ActivationExample.objects.filter(feature__in=features).values_list(
        "feature_id", "window_id"
    ):
        shown[feature_id].add(window_id)
    keys = _key_tokens(features)
    ids = list(ContextWindow.objects.filter(model_id=model_id).order_by("pk").values_list("pk", flat=True))
    random.Random(model_id).shuffle(ids)
    # Enough to leave `scan` windows to every feature once its own shown windows are left out.
    scan_ids = ids[: scan + max((len(windows) for windows in shown.values()), default=0)]
    by_id = ContextWindow.objects.in_bulk(scan_ids)
    scanned = [by_id[pk] for pk in scan_ids if pk in by_id]

    tokens = {window.pk: normalised_tokens(window.tokens) for window in scanned}
    chosen: dict[int, list[int]] = {}  # feature id -> its pool's window ids
    users: dict[int, list[Feature]] = defaultdict(list)  # window id -> the features whose pool holds it
    for feature in features:
        candidates = [window.pk for window in scanned if window.pk not in shown[feature.pk]][:scan]
        choice = held_out_choice([tokens[pk] for pk in candidates], keys[feature.pk], size=size)
        picked = [candidates[i] for i in choice]
        chosen[feature.pk] = picked
        for pk in picked:
            users[pk].append(feature)

    needed = sorted(users)
    columns: dict[tuple[int, int], np.ndarray] = {}  # (feature id, window id) -> its values
    content: dict[int, np.ndarray] = {}
    done_windows = 0
    for start in range(0, len(needed), BATCH_WINDOWS):
        batch = needed[start : start + BATCH_WINDOWS]
        token_ids = [list(by_id[pk].token_ids) for pk in batch]
        for rows, values, mask in inference.sources_activations_on_windows(sources, token_ids):
            for row, position in enumerate(rows):
                pk = batch[position]
                content[pk] = mask[row].numpy()
                for feature in users[pk]:
                    columns[(feature.pk, pk)] = values[feature.source_id][row, :, feature.index].numpy().copy()
            done_windows += len(rows)
            if progress is not None:
                progress(done_windows, len(needed))

    pools = [
        HeldOutPool(
            feature=feature,
            window_ids=chosen[feature.pk],
            values=pack_pool(
                [columns[(feature.pk, pk)] for pk in chosen[feature.pk]], [content[pk] for pk in chosen[feature.pk]]
            ),
            fingerprint=fingerprints[feature.source_id],
        )
        for feature in features
    ]
    with transaction.atomic():
        HeldOutPool.objects.filter(feature__in=features).delete()
        HeldOutPool.objects.bulk_create(pools, batch_size=500)
    return len(pools)
