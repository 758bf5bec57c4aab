"""Where the questions about real features come from.

Predict and Verify cards come from held-out windows: stored windows of the feature's model that its page
does not show (neither its top windows nor its interval samples, whose values the page prints), so the answer
cannot be looked up. The feature's true activations on them are its held-out pool, computed by the model
once and stored (gameplay/services/held_out.py), and core/cards.py chooses the marked tokens: strong,
middling, silent look-alikes and plain silent ones. Windows holding the feature's key tokens are drawn
first, as that is where it fires and where its look-alikes are. A model that cannot be run here (no
checkpoint on disk) gives no cards: the player is told, and no round starts.

Explain shows the feature's own examples and scores an answer on them, with hard negatives (silent
look-alikes from other features' stored windows, by live inference where the model can run).
"""

import logging
import random
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from django.core.cache import cache

from features.models import ActivationExample, ContextWindow, Feature
from scoring.core.examples import DEFAULT_RELATIVE_THRESHOLD, ExampleSet, build_example_set, feature_key_tokens
from scoring.core.records import ActivationRecord, normalise_token

from .core.cards import HeldOutWindow, choose_cards, predict_mix, verify_mix
from .core.held_out import held_out_choice, normalised_tokens
from .core.predict import scale_to_ten

logger = logging.getLogger(__name__)

VALUES_CACHE_SECONDS = 7 * 24 * 3600
# How many other windows Explain tries for look-alikes and random windows (each costs a forward pass).
MAX_INFERENCE_WINDOWS = 8
HELD_OUT_POOL = 48  # windows of a feature's held-out pool (services/held_out.py)
HELD_OUT_SCAN = 400  # stored windows drawn to find those holding the feature's key tokens
STUDY_EXAMPLES = 3  # top examples shown with their activations above a Predict round, never asked about


@dataclass
class Candidate:
    """A window with this feature's raw activations on it and a marked position."""

    window: ContextWindow
    values: list[float]
    marked: int
    kind: str  # high, mid, lookalike or silent (core/cards.py)

    @property
    def raw(self) -> float:
        return self.values[self.marked]


@dataclass
class FeatureWindows:
    feature: Feature
    top: list[ActivationExample]
    intervals: list[ActivationExample]

    @property
    def threshold(self) -> float:
        """A token is active above a tenth of the feature's maximum, as the scorers count it."""
        return DEFAULT_RELATIVE_THRESHOLD * self.feature.max_activation

    @property
    def key_tokens(self) -> list[str]:
        return feature_key_tokens([_record(ex.window, ex.activations) for ex in self.top])

    def records(self, examples: list[ActivationExample]) -> list[ActivationRecord]:
        return [_record(ex.window, ex.activations) for ex in examples]


def _record(window: ContextWindow, values: list[float]) -> ActivationRecord:
    n = min(len(window.tokens), len(values))
    return ActivationRecord(tokens=tuple(window.tokens[:n]), activations=tuple(values[:n]))


def feature_windows(feature: Feature) -> FeatureWindows:
    examples = list(ActivationExample.objects.filter(feature=feature).select_related("window"))
    top = sorted((ex for ex in examples if ex.kind == ActivationExample.Kind.TOP), key=lambda ex: ex.rank)
    intervals = sorted(
        (ex for ex in examples if ex.kind == ActivationExample.Kind.INTERVAL),
        key=lambda ex: (ex.interval_index or 0, ex.rank),
    )
    return FeatureWindows(feature=feature, top=top, intervals=intervals)


def scaled_values(values: list[float], max_activation: float) -> list[float]:
    return [scale_to_ten(value, max_activation) for value in values]


# --- Live inference, cached -------------------------------------------------------------------


def inference_available(feature: Feature) -> bool:
    path = feature.source.model.path
    return bool(path) and Path(path).is_dir()


def values_on_window(feature: Feature, window: ContextWindow) -> list[float] | None:
    """This feature's activations on a stored window, by live inference (cached); None when it cannot run."""
    key = f"game:values:{feature.pk}:{window.pk}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    if not inference_available(feature):
        return None
    from features.inference import feature_activations_for_token_ids

    try:
        values = feature_activations_for_token_ids(feature, list(window.token_ids))
    except Exception:  # noqa: BLE001 - a model that cannot run here only costs the look-alikes
        logger.warning("Live inference failed for %s on window %s", feature, window.pk, exc_info=True)
        return None
    cache.set(key, values, VALUES_CACHE_SECONDS)
    return values


def _other_windows(fw: FeatureWindows, rng: random.Random, exclude: set[int]) -> list[ContextWindow]:
    """Stored windows of other features of the same source, in a seeded random order."""
    ids = list(
        ActivationExample.objects.filter(feature__source_id=fw.feature.source_id)
        .exclude(feature_id=fw.feature.pk)
        .exclude(window_id__in=exclude)
        .values_list("window_id", flat=True)
        .distinct()
        .order_by("window_id")
    )
    rng.shuffle(ids)
    return ids


def _key_positions(tokens: list[str], keys: set[str]) -> list[int]:
    return [i for i, token in enumerate(tokens) if normalise_token(token) in keys]


def lookalikes(fw: FeatureWindows, rng: random.Random, *, count: int, used: set[int]) -> list[Candidate]:
    """Up to `count` silent look-alikes in distinct windows not in `used`: own windows first, then other
    features' windows by inference."""
    keys = set(fw.key_tokens)
    found: list[Candidate] = []
    if not keys or count <= 0:
        return found
    own = [*fw.top, *fw.intervals]
    rng.shuffle(own)
    for example in own:
        if len(found) >= count:
            return found
        if example.window_id in used:
            continue
        values = example.activations
        silent = [
            i for i in _key_positions(example.window.tokens, keys) if i < len(values) and values[i] <= fw.threshold
        ]
        if silent:
            found.append(Candidate(example.window, values, rng.choice(silent), "lookalike"))
            used.add(example.window_id)
    if not inference_available(fw.feature):
        return found
    tried = 0
    window_ids = _other_windows(fw, rng, used)
    for start in range(0, len(window_ids), 100):
        batch = ContextWindow.objects.in_bulk(window_ids[start : start + 100])
        for window_id in window_ids[start : start + 100]:
            if len(found) >= count or tried >= MAX_INFERENCE_WINDOWS:
                return found
            window = batch.get(window_id)
            if window is None or window.pk in used:
                continue
            positions = _key_positions(window.tokens, keys)
            if not positions:
                continue
            tried += 1
            values = values_on_window(fw.feature, window)
            if values is None:
                return found
            silent = [i for i in positions if i < len(values) and values[i] <= fw.threshold]
            if silent:
                found.append(Candidate(window, values, rng.choice(silent), "lookalike"))
                used.add(window.pk)
    return found


def random_windows(fw: FeatureWindows, rng: random.Random, *, count: int, used: set[int]) -> list[Candidate]:
    """Other features' windows with this feature's values (by inference), marked on a random token."""
    found: list[Candidate] = []
    if count <= 0 or not inference_available(fw.feature):
        return found
    window_ids = _other_windows(fw, rng, used)[: count * 2]
    windows = ContextWindow.objects.in_bulk(window_ids)
    for window_id in window_ids:
        if len(found) >= count:
            break
        window = windows.get(window_id)
        values = values_on_window(fw.feature, window) if window is not None else None
        if values is None:
            break
        found.append(Candidate(window, values, rng.randrange(len(values)), "silent"))
        used.add(window.pk)
    return found


# --- Held-out windows: Predict and Verify on real features ----------------------------------------


def study_examples(fw: FeatureWindows) -> list[ActivationExample]:
    """The top examples shown above a Predict round (the feature page shows them too): never asked about."""
    return fw.top[: min(STUDY_EXAMPLES, len(fw.top) // 2)]


def explain_examples(fw: FeatureWindows) -> list[ActivationExample]:
    """What Explain shows a player to explain from: the top examples and a few interval samples where the
    feature is active."""
    return fw.top[:8] + [ex for ex in fw.intervals if ex.max_value > fw.threshold][:4]


def held_out_windows(
    fw: FeatureWindows, rng: random.Random, *, exclude: Collection[int] = (), size: int = HELD_OUT_POOL
) -> list[ContextWindow]:
    """Up to `size` stored windows of the feature's model that are not among its examples (nor in `exclude`),
    in a seeded random order: of HELD_OUT_SCAN drawn, those holding a key token make up to two thirds
    (core/held_out.py)."""
    feature = fw.feature
    shown = ActivationExample.objects.filter(feature=feature).values("window_id")
    ids = list(
        ContextWindow.objects.filter(model_id=feature.source.model_id)
        .exclude(pk__in=shown)
        .exclude(pk__in=list(exclude))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rng.shuffle(ids)
    drawn = ContextWindow.objects.in_bulk(ids[:HELD_OUT_SCAN])
    windows = [drawn[i] for i in ids[:HELD_OUT_SCAN] if i in drawn]
    tokens = [normalised_tokens(w.tokens) for w in windows]
    return [windows[i] for i in held_out_choice(tokens, fw.key_tokens, size=size)]


# A held-out pool: windows with the feature's true activations on them (gameplay/services/held_out.py).
Pool = list[tuple[ContextWindow, HeldOutWindow]]


def held_out_candidates(fw: FeatureWindows, pool: Pool, rng: random.Random, *, mix: dict[str, int]) -> list[Candidate]:
    """Cards in the pool's windows with the feature's true values, chosen by core/cards.py to follow `mix`."""
    values = [held for _, held in pool]
    cards = choose_cards(values, mix=mix, maximum=fw.feature.max_activation, keys=fw.key_tokens, rng=rng)
    return [Candidate(pool[c.window][0], list(values[c.window].values), c.marked, c.kind) for c in cards]


def predict_candidates(fw: FeatureWindows, pool: Pool, rng: random.Random, *, size: int = 10) -> list[Candidate]:
    """A Predict round: high, mid, look-alike and silent tokens (about 3/3/2/2 of 10) in distinct held-out
    windows, shuffled."""
    items = held_out_candidates(fw, pool, rng, mix=predict_mix(size))
    rng.shuffle(items)
    return items


def verify_candidates(
    fw: FeatureWindows, pool: Pool, rng: random.Random, *, active: int = 2, silent: int = 2
) -> list[Candidate]:
    """Cards for one explanation: `active` tokens where the feature fires and `silent` ones where it does not
    (its look-alikes first), in the pool's windows."""
    return held_out_candidates(fw, pool, rng, mix=verify_mix(active, silent))


def feature_example_set(fw: FeatureWindows, *, seed: int = 0) -> ExampleSet:
    """What an Explain answer on a real feature is scored on: its top windows and interval samples, random
    windows, and hard negatives (silent look-alikes) with this feature's true values."""
    rng = random.Random(seed)
    used = {ex.window_id for ex in [*fw.top, *fw.intervals]}
    others = lookalikes(fw, rng, count=12, used=set(used)) + random_windows(fw, rng, count=8, used=set(used))
    random_records = [_record(c.window, c.values) for c in others if c.kind == "silent"]
    candidates = [_record(c.window, c.values) for c in others if c.kind == "lookalike"]
    # Interval samples that are silent windows holding a key token are look-alikes themselves: score them as
    # hard negatives (they are what tells "cat after a colour" from "cat"), not as interval samples.
    keys = set(fw.key_tokens)
    intervals = []
    for record in fw.records(fw.intervals):
        own_lookalike = record.max_activation <= fw.threshold and _key_positions(list(record.tokens), keys)
        (candidates if own_lookalike else intervals).append(record)
    return build_example_set(
        top=fw.records(fw.top),
        intervals=intervals,
        random_records=random_records,
        candidates=candidates,
        n_hard_negatives=10,
        feature_max=fw.feature.max_activation or None,
        seed=seed,
    )
