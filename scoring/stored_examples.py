"""The examples a stored feature's explanations are explained from and scored on, read from its stored
dashboard: top examples, interval samples, random corpus windows, and hard negatives (stored corpus
windows that hold the explanation's key tokens where the feature is silent).

Random windows and hard negatives are windows the dashboard has no values for, so the feature's true
activations on them come from live inference (features/inference.py): the hard negatives are real. When
the model cannot be run here (an imported model without a checkpoint), only stored examples are used,
and every score's example mix says so (0 hard negatives).

One `FeatureExamples` serves a whole run: the index of its corpus windows is built once, and windows run
through the model in batches, one pass serving every feature of the source where that fits in memory.

Random windows and hard negatives come from one shared pool per source: the first POOL_WINDOWS windows of a
seeded shuffle of its corpus. A source run (`batched=True`) computes the pool's activations of every feature
in one batched pass the first time a hard negative is looked for, and keeps them for the run, so scoring a
source costs one pass over the pool instead of a pass per feature. Scoring one feature (its page's buttons)
draws from the same pool, computing only the windows it tries, so both give the same examples and scores.
"""

import logging
import random
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.models import ActivationExample, ContextWindow, Feature, Source
from scoring.core.examples import ExampleSet, build_example_set, feature_key_tokens
from scoring.core.mining import WindowTokenIndex, explanation_key_tokens
from scoring.core.records import ActivationRecord, normalise_token

logger = logging.getLogger(__name__)

MAX_INDEXED_WINDOWS = 20_000  # the corpus windows searched for key tokens (a run's memory stays bounded)
N_RANDOM = 10
N_HARD_NEGATIVES = 20
MAX_INFERENCE_WINDOWS = 40  # windows run per explanation, at most, to find its hard negatives
INFERENCE_BATCH = 16  # windows per forward pass
MAX_CACHED_WINDOWS = 5_000
# A window's activations of every feature of the source are computed in one pass and kept when they take at
# most SOURCE_WIDE_MAX_BYTES (MLP neurons, small dictionaries), in a cache of SOURCE_CACHE_BYTES.
SOURCE_WIDE_MAX_BYTES = 2 * 2**20
SOURCE_CACHE_BYTES = 256 * 2**20
# The windows random examples and hard negatives are drawn from (see the module's docstring): 256 windows of
# 128 tokens are 32k tokens, enough to hold most key tokens of a demo feature; a batched run keeps their
# values when they take at most POOL_BYTES (256 x 128 x 1,536 float32 values are 201 MB).
POOL_WINDOWS = 256
POOL_BYTES = 256 * 2**20
POOL_BATCH = 32  # windows per forward pass when the pool is computed


@dataclass(frozen=True)
class WindowRecord:
    window_id: int
    record: ActivationRecord


@dataclass
class FeatureRecords:
    """A feature's stored examples and its random windows, each with the window it came from."""

    feature: Feature
    top: list[WindowRecord]
    intervals: list[WindowRecord]
    random: list[WindowRecord]

    def records(self) -> list[ActivationRecord]:
        """What an explainer reads: top examples first, then the rest to compare them with."""
        return [item.record for item in [*self.top, *self.intervals, *self.random]]

    @property
    def window_ids(self) -> set[int]:
        return {item.window_id for item in [*self.top, *self.intervals, *self.random]}


@dataclass
class ScoringExamples:
    """An explanation's example set, and where each of its examples came from (for the breakdown page)."""

    example_set: ExampleSet
    shown: dict[str, dict]  # "kind:index" -> {"window": pk, "values": {position: value}}


def _record(window: ContextWindow, values: list[float]) -> ActivationRecord:
    n = min(len(window.tokens), len(values))
    return ActivationRecord(tokens=tuple(window.tokens[:n]), activations=tuple(values[:n]))


def _seed(*parts: object) -> int:
    """A stable seed per feature (and explanation): scoring again draws the same examples."""
    return zlib.crc32(":".join(str(part) for part in parts).encode())


def inference_available(source: Source) -> bool:
    path = source.model.path
    return bool(path) and Path(path).is_dir()


class FeatureExamples:
    def __init__(
        self,
        source: Source,
        *,
        n_random: int = N_RANDOM,
        n_hard_negatives: int = N_HARD_NEGATIVES,
        max_inference_windows: int = MAX_INFERENCE_WINDOWS,
        pool_windows: int = POOL_WINDOWS,
        batched: bool = False,
    ) -> None:
        self.source = source
        self.pool_windows = pool_windows
        # A run over many features of the source: compute the whole pool in one pass (see _pool_load).
        self.batched = batched
        self.n_random = n_random
        self.n_hard_negatives = n_hard_negatives
        self.max_inference_windows = max_inference_windows
        self.can_infer = inference_available(source)
        self._index: WindowTokenIndex | None = None
        self._window_ids: list[int] = []
        self._random_order: list[int] | None = None
        self._windows: dict[int, ContextWindow] = {}
        self._source_values: OrderedDict[int, np.ndarray] = OrderedDict()  # window pk -> [T, F], LRU
        self._source_bytes = 0
        self._values_feature: int | None = None
        self._values: dict[int, list[float]] = {}  # window pk -> values, of _values_feature only
        self._pool_values: dict[int, np.ndarray] | None = None  # window pk -> [T, F], the whole pool, if batched
        self.forward_windows = 0  # windows run through the model so far (the bench reports it)

    # --- the corpus ------------------------------------------------------------------------------

    def _corpus_windows(self):
        windows = ContextWindow.objects.filter(model_id=self.source.model_id)
        corpus_key = self.source.config.get("corpus_key") if isinstance(self.source.config, dict) else None
        if corpus_key:
            windows = windows.filter(corpus_key=corpus_key)
        return windows.order_by("position", "pk")

    @property
    def index(self) -> WindowTokenIndex:
        if self._index is None:
            rows = list(self._corpus_windows().values_list("pk", "tokens")[:MAX_INDEXED_WINDOWS])
            self._window_ids = [pk for pk, _ in rows]
            self._index = WindowTokenIndex(rows)
        return self._index

    def _load_windows(self, ids: list[int]) -> dict[int, ContextWindow]:
        missing = [pk for pk in ids if pk not in self._windows]
        if missing and len(self._windows) + len(missing) > MAX_CACHED_WINDOWS:
            self._windows.clear()  # a bounded cache: windows are cheap to read again
        if missing:
            self._windows.update(ContextWindow.objects.in_bulk(missing))
        return {pk: self._windows[pk] for pk in ids if pk in self._windows}

    def values(self, feature: Feature, windows: list[ContextWindow]) -> list[list[float]]:
        """The feature's true activations on stored windows, by live inference, batched. When a window's
        activations of the whole source are small enough, one forward pass serves every feature of the
        source and is kept (a bounded cache); otherwise only the current feature's values are kept. Windows of
        the pool, once a batched run has computed it, are read from it."""
        if self._pool_values is not None and all(window.pk in self._pool_values for window in windows):
            return [self._pool_values[window.pk][:, feature.index].tolist() for window in windows]
        if self._source_wide(windows):
            return self._values_from_source(feature, windows)
        if self._values_feature != feature.pk:
            self._values_feature, self._values = feature.pk, {}
        missing = [window for window in windows if window.pk not in self._values]
        if missing:
            from features.inference import feature_activations_on_windows  # imports torch

            computed = feature_activations_on_windows(feature, [list(window.token_ids) for window in missing])
            self.forward_windows += len(missing)
            for window, result in zip(missing, computed, strict=True):
                self._values[window.pk] = result.values
        return [self._values[window.pk] for window in windows]

    def _source_wide(self, windows: list[ContextWindow]) -> bool:
        longest = max((len(window.token_ids) for window in windows), default=0)
        return self.source.n_features * longest * 4 <= SOURCE_WIDE_MAX_BYTES

    def _values_from_source(self, feature: Feature, windows: list[ContextWindow]) -> list[list[float]]:
        missing = [window for window in windows if window.pk not in self._source_values]
        fresh = {}
        if missing:
            from features.inference import source_activations_on_windows  # imports torch

            computed = source_activations_on_windows(self.source, [list(window.token_ids) for window in missing])
            self.forward_windows += len(missing)
            for window, tensor in zip(missing, computed, strict=True):
                fresh[window.pk] = tensor.numpy()
        out = []
        for window in windows:
            array = fresh.get(window.pk)
            if array is None:
                array = self._source_values[window.pk]
                self._source_values.move_to_end(window.pk)
            out.append(array[:, feature.index].tolist())
        for pk, array in fresh.items():
            self._source_values[pk] = array
            self._source_bytes += array.nbytes
        while self._source_bytes > SOURCE_CACHE_BYTES and self._source_values:
            _, dropped = self._source_values.popitem(last=False)
            self._source_bytes -= dropped.nbytes
        return out

    @property
    def pool_ids(self) -> list[int]:
        """The windows random examples and hard negatives are drawn from: the front of the source's seeded
        shuffle of its corpus."""
        return self._shuffled_corpus()[: self.pool_windows]

    def _pool_load(self) -> None:
        """A batched run's pool: every feature's values on every pool window, from one batched pass over the
        windows (a forward pass yields every feature of the layer), kept for the run. Left unloaded when it
        would take more than POOL_BYTES (a wide dictionary): features are then computed as they are tried."""
        if not self.batched or self._pool_values is not None:
            return
        windows = list(self._load_windows(self.pool_ids).values())
        longest = max((len(window.token_ids) for window in windows), default=0)
        if not windows or self.source.n_features * longest * 4 * len(windows) > POOL_BYTES:
            self._pool_values = {}
            return
        from features.inference import source_activations_on_windows  # imports torch

        computed = source_activations_on_windows(
            self.source, [list(window.token_ids) for window in windows], batch_size=POOL_BATCH
        )
        self.forward_windows += len(windows)
        self._pool_values = {window.pk: tensor.numpy() for window, tensor in zip(windows, computed, strict=True)}

    # --- a feature's records -----------------------------------------------------------------------

    def feature_records(self, feature: Feature) -> FeatureRecords:
        examples = list(ActivationExample.objects.filter(feature=feature).select_related("window"))
        top = sorted((ex for ex in examples if ex.kind == ActivationExample.Kind.TOP), key=lambda ex: ex.rank)
        intervals = sorted(
            (ex for ex in examples if ex.kind == ActivationExample.Kind.INTERVAL),
            key=lambda ex: (ex.interval_index or 0, ex.rank),
        )
        records = FeatureRecords(
            feature=feature,
            top=[WindowRecord(ex.window_id, _record(ex.window, ex.activations)) for ex in top],
            intervals=[WindowRecord(ex.window_id, _record(ex.window, ex.activations)) for ex in intervals],
            random=[],
        )
        if self.can_infer and self.n_random:
            own = records.window_ids
            candidates = [pk for pk in self.pool_ids if pk not in own][: self.n_random]
            windows = list(self._load_windows(candidates).values())
            records.random = [
                WindowRecord(window.pk, _record(window, values))
                for window, values in zip(windows, self.values(feature, windows), strict=True)
            ]
        return records

    def _shuffled_corpus(self) -> list[int]:
        self.index  # noqa: B018 - loads the window ids
        if self._random_order is None:
            # One seeded order per source: every feature's random windows come from the front of it, so a
            # run computes them once for all features (see values()).
            self._random_order = list(self._window_ids)
            random.Random(_seed("random", self.source.pk)).shuffle(self._random_order)
        return self._random_order

    # --- an explanation's example set --------------------------------------------------------------

    def example_set(
        self, records: FeatureRecords, *, explanation: str = "", rule: dict | None = None
    ) -> ScoringExamples:
        """Top, interval samples, random windows and hard negatives for one explanation: windows that
        contain its key tokens (and the feature's own) where the feature is silent on every one of them."""
        feature = records.feature
        feature_max = feature.max_activation if feature.max_activation > 0 else None
        threshold = ExampleSet(top=[r.record for r in records.top], feature_max=feature_max).threshold
        explanation_keys = explanation_key_tokens(explanation, rule=rule) if explanation else []
        keys = list(dict.fromkeys([*explanation_keys, *feature_key_tokens([r.record for r in records.top])]))
        seed = _seed("examples", feature.pk, explanation)

        # The feature's own silent interval samples that hold a key token are look-alikes already.
        intervals, candidates = [], []
        for item in records.intervals:
            silent_lookalike = item.record.max_activation <= threshold and any(
                normalise_token(token) in keys for token in item.record.tokens
            )
            (candidates if silent_lookalike else intervals).append(item)
        if self.can_infer and keys:
            candidates += self._silent_windows_with(feature, keys, threshold, exclude=records.window_ids)

        example_set = build_example_set(
            top=[r.record for r in records.top],
            intervals=[r.record for r in intervals],
            random_records=[r.record for r in records.random],
            candidates=[r.record for r in candidates],
            n_hard_negatives=self.n_hard_negatives,
            extra_key_tokens=explanation_keys,
            feature_max=feature_max,
            seed=seed,
        )
        window_of = {item.record.tokens: item.window_id for item in [*records.top, *intervals, *records.random]}
        for item in candidates:
            window_of.setdefault(item.record.tokens, item.window_id)
        return ScoringExamples(example_set=example_set, shown=_shown(example_set, window_of))

    def _silent_windows_with(
        self, feature: Feature, keys: list[str], threshold: float, *, exclude: set[int]
    ) -> list[WindowRecord]:
        """Pool windows holding a key token where the feature is silent on it, by live inference (or the
        batched run's pool values); at most `max_inference_windows` tried, stopping once there are enough."""
        wanted = set(keys)
        self._pool_load()
        pool = set(self.pool_ids)
        # Seeded by the key tokens: features with the same key tokens try the same windows in the same order.
        ordered = self.index.containing(keys, exclude=exclude, seed=_seed("negatives", *sorted(keys)))
        ids = [pk for pk in ordered if pk in pool][: self.max_inference_windows]
        windows = list(self._load_windows(ids).values())
        found = []
        for start in range(0, len(windows), INFERENCE_BATCH):
            batch = windows[start : start + INFERENCE_BATCH]
            for window, values in zip(batch, self.values(feature, batch), strict=True):
                record = _record(window, values)
                positions = [i for i, token in enumerate(record.tokens) if normalise_token(token) in wanted]
                if positions and all(record.activations[i] <= threshold for i in positions):
                    found.append(WindowRecord(window.pk, record))
            if len(found) >= self.n_hard_negatives:
                break
        return found[: self.n_hard_negatives]


def _shown(example_set: ExampleSet, window_of: dict[tuple, int]) -> dict[str, dict]:
    """Each example's window and its activations, sparse (values below 1% of the maximum look blank anyway),
    so the breakdown page can highlight what the scorer saw even after the dashboards are recomputed. An
    example cut from its window (a dense feature's span) also names where in the window it starts and its
    length; its values are by position in the span."""
    floor = 0.01 * example_set.max_activation
    shown = {}
    for example in example_set.examples():
        values = {
            str(position): round(value, 4)
            for position, value in enumerate(example.record.activations)
            if value > floor and value > 0
        }
        entry = {"window": window_of.get(example.record.tokens), "values": values}
        origin = example_set.span_origin.get(example.record.tokens)
        if origin is not None:
            window_tokens, start = origin
            entry.update(window=window_of.get(window_tokens), start=start, length=len(example.record.tokens))
        shown[f"{example.kind}:{example.index}"] = entry
    return shown
