"""Where the questions about real features come from: the feature's stored examples (top windows and
interval samples), and silent look-alikes, windows that contain the feature's key tokens where it is silent.

Look-alikes come first from the feature's own stored windows (a key token elsewhere in a window, silent
there), then from the stored windows of other features of the same source that contain a key token; this
feature's values on those are computed by live inference (features.inference) and cached. When a model
cannot be run here (no checkpoint on disk), only stored examples are used.
"""

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from django.core.cache import cache

from features.models import ActivationExample, ContextWindow, Feature
from scoring.core.examples import DEFAULT_RELATIVE_THRESHOLD, ExampleSet, build_example_set, feature_key_tokens
from scoring.core.records import ActivationRecord, normalise_token

from .rules.predict import scale_to_ten

logger = logging.getLogger(__name__)

VALUES_CACHE_SECONDS = 7 * 24 * 3600
# How many other windows to try for look-alikes and random windows before giving up (each costs a forward pass).
MAX_INFERENCE_WINDOWS = 8
STUDY_EXAMPLES = 3  # top examples shown with their activations above a Predict round, never asked about


@dataclass
class Candidate:
    """A window with this feature's raw activations on it and a marked position."""

    window: ContextWindow
    values: list[float]
    marked: int
    kind: str  # top, interval, lookalike or silent

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


def _from_examples(examples, kind: str, count: int, used: set[int]) -> list[Candidate]:
    chosen = []
    for example in examples:
        if len(chosen) >= count:
            break
        if example.window_id in used:
            continue
        chosen.append(Candidate(example.window, example.activations, example.max_token_index, kind))
        used.add(example.window_id)
    return chosen


# --- Predict, Verify and Explain on real features ------------------------------------------------


def study_examples(fw: FeatureWindows) -> list[ActivationExample]:
    """The top examples shown above a Predict round: never the windows it asks about."""
    return fw.top[: min(STUDY_EXAMPLES, len(fw.top) // 2)]


def predict_candidates(fw: FeatureWindows, rng: random.Random, *, size: int = 10) -> list[Candidate]:
    """A Predict round: top windows, interval samples and silent look-alikes (about 3/4/3 of 10), in distinct
    windows and shuffled; short of look-alikes, more interval samples and top windows fill in."""
    study = study_examples(fw)
    used = {ex.window_id for ex in study}
    found = lookalikes(fw, rng, count=round(size * 0.3), used=used)
    intervals = list(fw.intervals)
    rng.shuffle(intervals)
    tops = fw.top[len(study) :]
    n_top = round(size * 0.3)
    chosen = _from_examples(tops, "top", n_top, used)
    chosen += _from_examples(intervals, "interval", size - len(found) - len(chosen), used)
    chosen += _from_examples(tops, "top", size - len(found) - len(chosen), used)
    items = (found + chosen)[:size]
    rng.shuffle(items)
    return items


def verify_candidates(fw: FeatureWindows, rng: random.Random, *, active: int = 2, silent: int = 2) -> list[Candidate]:
    """Cards for one explanation: held-out active windows (interval samples above the threshold, then the
    lower-ranked top windows) and silent look-alikes (or silent windows when there are none)."""
    used: set[int] = set()
    strong = [ex for ex in fw.intervals if ex.max_value > fw.threshold]
    rng.shuffle(strong)
    held_out_top = sorted(fw.top, key=lambda ex: -ex.rank)  # the feature page leads with rank 0
    cards = _from_examples([*strong, *held_out_top], "active", active, used)
    quiet = lookalikes(fw, rng, count=silent, used=used)
    if len(quiet) < silent:
        weak = [ex for ex in fw.intervals if ex.max_value <= fw.threshold and ex.window_id not in used]
        for example in weak[: silent - len(quiet)]:
            values = example.activations
            quiet.append(Candidate(example.window, values, rng.randrange(len(values)), "silent"))
            used.add(example.window_id)
    if len(quiet) < silent:
        quiet += random_windows(fw, rng, count=silent - len(quiet), used=used)
    # A "silent" card must really be silent at its mark.
    quiet = [card for card in quiet if card.raw <= fw.threshold]
    return cards + quiet


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
