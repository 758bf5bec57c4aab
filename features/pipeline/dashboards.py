"""Every feature's dashboard statistics, folded in from a stream of token windows.

For each feature of a source we keep, in memory that does not grow with the corpus:
- the exact top-k windows by max activation (ties: earlier window first), with per-token values;
- interval samples: windows grouped by their max activation into equal-width bins of [0, R], where
  R = 2**ceil(log2(max)) is the max rounded up to a power of two, with the few windows of each bin
  whose deterministic random key (a hash of window and feature) is smallest: a uniform sample;
- a histogram of activating tokens (value > 0) in 1024 equal bins of [0, R]; the interval shares;
- the count of activating tokens (density) and of all tokens.

Power-of-two ranges are what make this exact in one pass: when a feature's max grows past R, R
doubles and pairs of bins merge, which gives exactly what binning with the new R from the start
would have given. The same merge combines two accumulators over disjoint windows, so shards of a
corpus can be computed anywhere and merged into the result of one pass.
"""

from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

HISTOGRAM_BINS = 1024
SAMPLE_BINS = 16
NO_POSITIVE = -10_000  # the exponent of a feature that has not activated yet
LONG_MAX = torch.iinfo(torch.long).max


def ceil_log2(values: torch.Tensor) -> torch.Tensor:
    """Exact ceil(log2(v)) for positive floats (frexp: v = m * 2**e, 0.5 <= m < 1)."""
    mantissa, exponent = torch.frexp(values)
    return torch.where(mantissa == 0.5, exponent - 1, exponent).long()


def bin_index(values: torch.Tensor, exponent: torch.Tensor, n_bins: int) -> torch.Tensor:
    """floor(v / 2**exponent * n_bins), clipped to the last bin; exact because 2**e is a power of two."""
    scaled = torch.ldexp(values.float(), -exponent.to(torch.int32)) * n_bins
    return scaled.floor().long().clamp(0, n_bins - 1)


def sample_keys(window_ids: torch.Tensor, n_features: int) -> torch.Tensor:
    """A deterministic pseudo-random key in [0, 1) for every (window, feature): [B] -> [B, F]."""
    x = window_ids[:, None].long() * 1_000_003 + torch.arange(n_features)[None, :]
    for _ in range(2):
        x = ((x ^ (x >> 16)) * 0x45D9F3B) & 0xFFFFFFFF
    x = x ^ (x >> 16)
    return x.double() / 2**32


class Reservoir:
    """For every (group, feature), the n best items by (priority ascending, window ascending), with the
    feature's per-token values on each item's window. Groups are sample bins; top-k uses one group."""

    def __init__(self, n_groups: int, n: int, n_features: int, window_len: int) -> None:
        self.n_groups, self.n, self.n_features = n_groups, n, n_features
        self.priority = torch.full((n_groups, n, n_features), float("inf"), dtype=torch.float64)
        self.windows = torch.full((n_groups, n, n_features), -1, dtype=torch.long)
        self.values = torch.zeros((n_groups, n, n_features, window_len))

    def offer(self, priority, windows, groups, token_values) -> None:
        """Offer candidates [C, F] (priority inf = not offered) from groups [C, F]; token_values(c, f)
        returns the per-token values [K, T] of candidate rows c for features f."""
        priority = priority.clone()
        n_features = self.n_features
        flat_group = groups * n_features + torch.arange(n_features)[None, :]
        flat = flat_group.reshape(-1)
        while True:
            offered = torch.isfinite(priority)
            if not offered.any():
                return
            best = torch.full((self.n_groups * n_features,), float("inf"), dtype=torch.float64)
            best = best.scatter_reduce(0, flat, priority.reshape(-1), "amin")
            is_best = offered & (priority == best[flat_group])
            best_window = torch.full((self.n_groups * n_features,), LONG_MAX, dtype=torch.long)
            best_window = best_window.scatter_reduce(
                0, flat, torch.where(is_best, windows, LONG_MAX).reshape(-1), "amin"
            )
            rows, features = (is_best & (windows == best_window[flat_group])).nonzero(as_tuple=True)
            group_of = groups[rows, features]

            worst_priority = self.priority.amax(dim=1)  # [G, F]
            ties = self.priority == worst_priority[:, None, :]
            worst_slot = torch.where(ties, self.windows, -2).argmax(dim=1)  # the latest window among ties
            worst_window = torch.gather(self.windows, 1, worst_slot[:, None, :])[:, 0, :]
            p, w = priority[rows, features], windows[rows, features]
            wp, ww = worst_priority[group_of, features], worst_window[group_of, features]
            enters = (p < wp) | ((p == wp) & (w < ww))

            # A group whose best candidate cannot enter is finished: no other candidate of it can.
            finished = torch.zeros(self.n_groups * n_features, dtype=torch.bool)
            finished[(group_of * n_features + features)[~enters]] = True
            priority[finished[flat_group]] = float("inf")
            if not enters.any():
                return
            rows, features, group_of = rows[enters], features[enters], group_of[enters]
            slots = worst_slot[group_of, features]
            self.priority[group_of, slots, features] = p[enters]
            self.windows[group_of, slots, features] = w[enters]
            self.values[group_of, slots, features] = token_values(rows, features)
            priority[rows, features] = float("inf")

    def merge_groups(self, features: torch.Tensor, doublings: int) -> None:
        """Merge each run of 2**doublings consecutive groups into one (bins of a doubled range)."""
        if doublings <= 0 or len(features) == 0:
            return
        factor = 2 ** min(doublings, 62)
        g, n, k = self.n_groups, self.n, len(features)
        priority = self.priority[:, :, features]  # [G, n, k]
        windows = self.windows[:, :, features]
        values = self.values[:, :, features]  # [G, n, k, T]
        new_groups = torch.arange(g) // factor  # old group -> new group
        merged_priority = torch.full((g, n, k), float("inf"), dtype=torch.float64)
        merged_windows = torch.full((g, n, k), -1, dtype=torch.long)
        merged_values = torch.zeros_like(values)
        for target in range(int(new_groups.max()) + 1):
            members = (new_groups == target).nonzero(as_tuple=True)[0]
            p = priority[members].reshape(-1, k)
            w = windows[members].reshape(-1, k)
            v = values[members].reshape(-1, k, values.shape[-1])
            order = order_by_priority_then_window(p, w)[:n]
            merged_priority[target] = torch.gather(p, 0, order)
            merged_windows[target] = torch.gather(w, 0, order)
            merged_values[target] = torch.gather(v, 0, order[:, :, None].expand(-1, -1, v.shape[-1]))
        self.priority[:, :, features] = merged_priority
        self.windows[:, :, features] = merged_windows
        self.values[:, :, features] = merged_values

    def sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(priority [G, n, F], windows [G, n, F], values [G, n, F, T]), best first within each group."""
        order = torch.stack(
            [order_by_priority_then_window(self.priority[g], self.windows[g]) for g in range(self.n_groups)]
        )
        priority = torch.gather(self.priority, 1, order)
        windows = torch.gather(self.windows, 1, order)
        values = torch.gather(self.values, 1, order[..., None].expand(-1, -1, -1, self.values.shape[-1]))
        return priority.numpy(), windows.numpy(), values.numpy()


def order_by_priority_then_window(priority: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Row order for [N, F]: priority ascending, then window ascending (empty slots, -1, last)."""
    sortable = torch.where(windows < 0, LONG_MAX, windows)
    by_window = torch.sort(sortable, dim=0, stable=True).indices
    by_priority = torch.sort(torch.gather(priority, 0, by_window), dim=0, stable=True).indices
    return torch.gather(by_window, 0, by_priority)


@dataclass
class Dashboards:
    """Everything the feature pages show, as numpy arrays over F features."""

    max_activation: np.ndarray  # [F]
    density: np.ndarray  # [F] activating tokens / tokens
    positive_counts: np.ndarray  # [F]
    token_count: int
    top_values: np.ndarray  # [K, F]
    top_windows: np.ndarray  # [K, F], -1 where fewer windows were seen
    top_token_values: np.ndarray  # [K, F, T]
    range_exponent: np.ndarray  # [F] R = 2**e; NO_POSITIVE for a feature that never activated
    histogram: np.ndarray  # [F, HISTOGRAM_BINS] activating tokens per bin of [0, R]
    sample_windows: np.ndarray  # [SAMPLE_BINS, n, F]
    sample_values: np.ndarray  # [SAMPLE_BINS, n, F] the window's max
    sample_token_values: np.ndarray  # [SAMPLE_BINS, n, F, T]


class DashboardAccumulator:
    def __init__(self, n_features: int, window_len: int, *, top_k: int = 20, samples_per_bin: int = 3) -> None:
        self.n_features = n_features
        self.window_len = window_len
        self.top = Reservoir(1, top_k, n_features, window_len)
        self.samples = Reservoir(SAMPLE_BINS, samples_per_bin, n_features, window_len)
        self.exponent = torch.full((n_features,), NO_POSITIVE, dtype=torch.long)
        self.histogram = torch.zeros((n_features, HISTOGRAM_BINS), dtype=torch.long)
        self.positive_counts = torch.zeros(n_features, dtype=torch.long)
        self.token_count = 0

    def update(self, activations: torch.Tensor, window_ids: torch.Tensor, content_mask: torch.Tensor) -> None:
        """Fold in activations [B, T, F] of windows [B]; content_mask [B, T] is False on special tokens."""
        activations = activations.float().masked_fill(~content_mask[:, :, None], 0.0)
        positive = activations > 0
        self.positive_counts += positive.sum(dim=(0, 1))
        self.token_count += int(content_mask.sum())

        window_max = activations.masked_fill(~content_mask[:, :, None], float("-inf")).amax(dim=1)  # [B, F]
        self._grow_range(window_max.amax(dim=0))
        self._add_to_histogram(activations, positive)

        windows = window_ids[:, None].expand(-1, self.n_features).long()

        def token_values(rows, features):
            return activations[rows, :, features]

        self.top.offer(-window_max.double(), windows, torch.zeros_like(windows), token_values)
        active = window_max > 0
        sample_priority = torch.where(active, sample_keys(window_ids, self.n_features), float("inf"))
        # Features that never activated have no range yet; their (inactive) windows are not offered.
        exponent = self.exponent.clamp(min=-126)[None, :].expand_as(window_max)
        sample_bins = bin_index(window_max.clamp(min=0), exponent, SAMPLE_BINS)
        self.samples.offer(sample_priority, windows, sample_bins, token_values)

    def merge(self, other: "DashboardAccumulator") -> None:
        """Fold in an accumulator over other windows."""
        self.positive_counts += other.positive_counts
        self.token_count += other.token_count
        self._grow_range(other.range_max())
        other._grow_range(self.range_max())
        self.histogram += other.histogram
        for mine, theirs in ((self.top, other.top), (self.samples, other.samples)):
            groups = torch.arange(theirs.n_groups)[:, None, None].expand_as(theirs.windows)
            flat = theirs.windows.shape[0] * theirs.windows.shape[1]
            values = theirs.values.reshape(flat, self.n_features, -1)
            mine.offer(
                theirs.priority.reshape(flat, -1),
                theirs.windows.reshape(flat, -1),
                groups.reshape(flat, -1),
                lambda rows, features, values=values: values[rows, features],
            )

    def range_max(self) -> torch.Tensor:
        """R = 2**exponent per feature, 0 for features that never activated."""
        ranges = torch.ldexp(torch.ones(self.n_features), self.exponent.clamp(min=-126).to(torch.int32))
        return torch.where(self.exponent > NO_POSITIVE, ranges, 0.0)

    def _grow_range(self, new_max: torch.Tensor) -> None:
        """Raise each feature's range R to cover new_max [F] (0 where nothing new), merging bins."""
        needed = torch.where(new_max > 0, ceil_log2(new_max.clamp(min=1e-45)), NO_POSITIVE)
        grows = needed > self.exponent
        if not grows.any():
            return
        first_time = grows & (self.exponent == NO_POSITIVE)
        self.exponent[first_time] = needed[first_time]
        doublings = torch.where(grows & ~first_time, needed - self.exponent, 0)
        for amount in doublings.unique().tolist():
            if amount <= 0:
                continue
            features = (doublings == amount).nonzero(as_tuple=True)[0]
            self._merge_histogram_bins(features, amount)
            self.samples.merge_groups(features, amount)
            self.exponent[features] += amount

    def _merge_histogram_bins(self, features: torch.Tensor, doublings: int) -> None:
        factor = 2 ** min(doublings, 62)
        rows = self.histogram[features]
        if factor >= HISTOGRAM_BINS:
            merged = torch.zeros_like(rows)
            merged[:, 0] = rows.sum(dim=1)
        else:
            merged = torch.zeros_like(rows)
            merged[:, : HISTOGRAM_BINS // factor] = rows.reshape(len(features), -1, factor).sum(dim=2)
        self.histogram[features] = merged

    def _add_to_histogram(self, activations: torch.Tensor, positive: torch.Tensor) -> None:
        batch, length, features = positive.nonzero(as_tuple=True)
        if len(features) == 0:
            return
        bins = bin_index(activations[batch, length, features], self.exponent[features], HISTOGRAM_BINS)
        counts = torch.bincount(features * HISTOGRAM_BINS + bins, minlength=self.n_features * HISTOGRAM_BINS)
        self.histogram += counts.reshape(self.n_features, HISTOGRAM_BINS)

    def to_bytes(self) -> bytes:
        """The whole state as safetensors bytes, to carry a shard's partial result between machines."""
        tensors = {
            "exponent": self.exponent,
            "histogram": self.histogram,
            "positive_counts": self.positive_counts,
            "token_count": torch.tensor([self.token_count]),
        }
        for name, reservoir in (("top", self.top), ("samples", self.samples)):
            tensors[f"{name}.priority"] = reservoir.priority
            tensors[f"{name}.windows"] = reservoir.windows
            tensors[f"{name}.values"] = reservoir.values
        return save_tensors({name: tensor.contiguous() for name, tensor in tensors.items()})

    @classmethod
    def from_bytes(cls, data: bytes) -> "DashboardAccumulator":
        tensors = load_tensors(bytes(data))
        groups, top_k, n_features, window_len = tensors["top.values"].shape
        accumulator = cls(n_features, window_len, top_k=top_k, samples_per_bin=tensors["samples.values"].shape[1])
        accumulator.exponent = tensors["exponent"]
        accumulator.histogram = tensors["histogram"]
        accumulator.positive_counts = tensors["positive_counts"]
        accumulator.token_count = int(tensors["token_count"][0])
        for name, reservoir in (("top", accumulator.top), ("samples", accumulator.samples)):
            reservoir.priority = tensors[f"{name}.priority"]
            reservoir.windows = tensors[f"{name}.windows"]
            reservoir.values = tensors[f"{name}.values"]
        return accumulator

    def result(self) -> Dashboards:
        top_priority, top_windows, top_values = self.top.sorted()
        sample_priority, sample_windows, sample_values = self.samples.sorted()
        counts = self.positive_counts.numpy().copy()
        sample_max = np.where(sample_windows >= 0, sample_values.max(axis=-1), 0.0)
        return Dashboards(
            max_activation=np.where(top_windows[0, 0] >= 0, -top_priority[0, 0], 0.0).astype(np.float32),
            density=counts / max(self.token_count, 1),
            positive_counts=counts,
            token_count=self.token_count,
            top_values=(-top_priority[0]).astype(np.float32),
            top_windows=top_windows[0],
            top_token_values=top_values[0],
            range_exponent=self.exponent.numpy().copy(),
            histogram=self.histogram.numpy().copy(),
            sample_windows=sample_windows,
            sample_values=sample_max.astype(np.float32),
            sample_token_values=sample_values,
        )
