"""Every feature's dashboard statistics, folded in from a stream of token windows.

For each feature of a source we keep, in memory that does not grow with the corpus:
- the exact top-k windows by max activation (ties: earlier window first), with per-token values;
- interval samples: windows grouped by their max activation into equal-width bins of [0, R], where
  R = 2**(floor(log2(max)) + 1) is the smallest power of two above the max, with the few windows of each bin
  whose deterministic random key (a hash of window and feature) is smallest: a uniform sample;
- a histogram of activating tokens (value > 0) in 1024 equal bins of [0, R]; the interval shares;
- the count of activating tokens (density) and of all tokens.

Power-of-two ranges are what make this exact in one pass: when a feature's max grows past R, R
doubles and pairs of bins merge, which gives exactly what binning with the new R from the start
would have given. The same merge combines two accumulators over disjoint windows, so shards of a
corpus can be computed anywhere and merged into the result of one pass.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from .checks import CheckStatistics

HISTOGRAM_BINS = 1024
SAMPLE_BINS = 16
NO_POSITIVE = -10_000  # the exponent of a feature that has not activated yet
LONG_MAX = torch.iinfo(torch.long).max


def range_exponent(values: torch.Tensor) -> torch.Tensor:
    """The e with 2**(e-1) <= v < 2**e for positive floats (frexp: v = m * 2**e, 0.5 <= m < 1).

    Every value stays strictly below R = 2**e: a value equal to R would have to be clipped into the last
    bin, and after R doubled, that bin's merge would put it one bin below where binning afresh does."""
    return torch.frexp(values)[1].long()


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
    feature's per-token values on each item's window. Groups are sample bins; top-k uses one group.
    Empty slots have priority inf, window -1 and zero values."""

    def __init__(self, n_groups: int, n: int, n_features: int, window_len: int) -> None:
        self.n_groups, self.n, self.n_features = n_groups, n, n_features
        self.priority = torch.full((n_groups, n, n_features), float("inf"), dtype=torch.float64)
        self.windows = torch.full((n_groups, n, n_features), -1, dtype=torch.long)
        self.values = torch.zeros((n_groups, n, n_features, window_len))

    def offer(
        self,
        priority: torch.Tensor,
        windows: torch.Tensor,
        groups: torch.Tensor | None,
        token_values: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        """Offer candidates [C, F] (priority inf = not offered) from groups [C, F] (None: group 0);
        token_values(c, f) returns the per-token values [K, T] of candidate rows c for features f."""
        # A candidate ranked after the worst item of a full (group, feature) cannot enter: most of a
        # batch stops here, and only the few that might enter go on, as a flat list, to admit().
        worst = self.priority.amax(dim=1)  # [G, F]; inf while the group has an empty slot
        worst_window = torch.where(self.priority == worst[:, None, :], self.windows, -1).amax(dim=1)
        if groups is None:
            worst, worst_window = worst.expand_as(priority), worst_window.expand_as(windows)
        else:
            worst, worst_window = torch.gather(worst, 0, groups), torch.gather(worst_window, 0, groups)
        beats = (priority < worst) | ((priority == worst) & (windows < worst_window))
        rows, features = (beats & torch.isfinite(priority)).nonzero(as_tuple=True)
        self.admit(
            torch.zeros_like(rows) if groups is None else groups[rows, features],
            features,
            priority[rows, features],
            windows[rows, features],
            lambda items: token_values(rows[items], features[items]),
        )

    def admit(
        self,
        groups: torch.Tensor,
        features: torch.Tensor,
        priority: torch.Tensor,
        windows: torch.Tensor,
        token_values: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        """Keep, in each (group, feature), the n best of its items and the candidates [K] (finite
        priorities, distinct windows) of that group and feature; token_values(i) returns the
        per-token values [len(i), T] of candidates i."""
        if len(priority) == 0:
            return
        n = self.n
        # Order the candidates by (cell, priority, window), a cell being one (group, feature), and
        # rank them within their cell: only the first n of a cell can enter.
        cells = groups * self.n_features + features
        order = torch.sort(windows, stable=True).indices
        order = order[torch.sort(priority[order], stable=True).indices]
        order = order[torch.sort(cells[order], stable=True).indices]
        unique_cells, counts = torch.unique_consecutive(cells[order], return_counts=True)
        cell_index = torch.repeat_interleave(torch.arange(len(unique_cells)), counts)
        rank = torch.arange(len(order)) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        keep = rank < n
        order, cell_index, rank = order[keep], cell_index[keep], rank[keep]
        # Each touched cell: its n slots, then its best n candidates (inf, -1 where fewer), sorted
        # together. Slots come first, so on a tie (only empty ones can tie) a slot stays.
        shape = (len(unique_cells), n)
        candidate_priority = torch.full(shape, float("inf"), dtype=torch.float64)
        candidate_windows = torch.full(shape, -1, dtype=torch.long)
        candidate_items = torch.zeros(shape, dtype=torch.long)
        candidate_priority[cell_index, rank] = priority[order]
        candidate_windows[cell_index, rank] = windows[order]
        candidate_items[cell_index, rank] = order
        cell_group, cell_feature = unique_cells // self.n_features, unique_cells % self.n_features
        union_order = order_by_priority_then_window(
            torch.cat([self.priority[cell_group, :, cell_feature], candidate_priority], dim=1),
            torch.cat([self.windows[cell_group, :, cell_feature], candidate_windows], dim=1),
            dim=1,
        )
        union_rank = torch.empty_like(union_order)
        union_rank.scatter_(1, union_order, torch.arange(2 * n).expand_as(union_order))
        # As many slots leave a cell as candidates enter it: pair them in index order.
        cell, slot = (union_rank[:, :n] >= n).nonzero(as_tuple=True)
        _, candidate = (union_rank[:, n:] < n).nonzero(as_tuple=True)
        group, feature = cell_group[cell], cell_feature[cell]
        self.priority[group, slot, feature] = candidate_priority[cell, candidate]
        self.windows[group, slot, feature] = candidate_windows[cell, candidate]
        self.values[group, slot, feature] = token_values(candidate_items[cell, candidate])

    def admit_reservoir(self, other: "Reservoir") -> None:
        """Fold in another reservoir's items (over other windows, with the same groups)."""
        group, slot, feature = torch.isfinite(other.priority).nonzero(as_tuple=True)
        self.admit(
            group,
            feature,
            other.priority[group, slot, feature],
            other.windows[group, slot, feature],
            lambda items: other.values[group[items], slot[items], feature[items]],
        )

    def merge_groups(self, features: torch.Tensor, doublings: int) -> None:
        """Merge each run of 2**doublings consecutive groups into one (bins of a doubled range)."""
        if doublings <= 0 or len(features) == 0:
            return
        g, n, k = self.n_groups, self.n, len(features)
        factor = min(2 ** min(doublings, 62), g)
        merged = g // factor  # groups are a power of two, so runs of `factor` groups tile them
        priority = self.priority[:, :, features].reshape(merged, factor * n, k)
        windows = self.windows[:, :, features].reshape(merged, factor * n, k)
        values = self.values[:, :, features]
        values = values.reshape(merged, factor * n, k, values.shape[-1])
        order = order_by_priority_then_window(priority, windows, dim=1)[:, :n]
        self.priority[:, :, features] = float("inf")
        self.windows[:, :, features] = -1
        self.values[:, :, features] = 0.0
        self.priority[:merged, :, features] = torch.gather(priority, 1, order)
        self.windows[:merged, :, features] = torch.gather(windows, 1, order)
        self.values[:merged, :, features] = torch.gather(
            values, 1, order[..., None].expand(-1, -1, -1, values.shape[-1])
        )

    def sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(priority [G, n, F], windows [G, n, F], values [G, n, F, T]), best first within each group."""
        order = order_by_priority_then_window(self.priority, self.windows, dim=1)
        priority = torch.gather(self.priority, 1, order)
        windows = torch.gather(self.windows, 1, order)
        values = torch.gather(self.values, 1, order[..., None].expand(-1, -1, -1, self.values.shape[-1]))
        return priority.numpy(), windows.numpy(), values.numpy()


def order_by_priority_then_window(priority: torch.Tensor, windows: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Order along `dim`: priority ascending, then window ascending (empty slots, -1, last)."""
    sortable = torch.where(windows < 0, LONG_MAX, windows)
    by_window = torch.sort(sortable, dim=dim, stable=True).indices
    by_priority = torch.sort(torch.gather(priority, dim, by_window), dim=dim, stable=True).indices
    return torch.gather(by_window, dim, by_priority)


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
        self.token_count = 0
        # The automatic checks' statistics (checks.py), for dictionary sources: they travel and merge with
        # the dashboards so a sharded run's checks equal a one-shard run's.
        self.checks: CheckStatistics | None = None

    def update(
        self,
        activations: torch.Tensor,
        window_ids: torch.Tensor,
        content_mask: torch.Tensor,
        *,
        workspace: torch.Tensor | None = None,
    ) -> None:
        """Fold in activations [B, T, F] of windows [B]; content_mask [B, T] is False on special tokens.
        A float32 workspace of the activations' shape, reused from batch to batch, saves allocating
        (and page-faulting) a fresh [B, T, F] tensor each time, which costs more than filling it."""
        activations = activations.float()
        content = content_mask[:, :, None]
        if workspace is None or workspace.shape != activations.shape:
            workspace = torch.empty_like(activations)
        values = torch.where(content, activations, torch.zeros(()), out=workspace)  # special tokens show 0
        window_max = values.amax(dim=1)  # [B, F], exact where positive
        if bool(values.amin() < 0):  # (neurons) the exact max over content tokens where it is <= 0
            window_max = torch.where(content, activations, float("-inf")).amax(dim=1)
        else:  # (dictionaries) no negative values: the max is 0, or -inf without content tokens
            window_max[~content_mask.any(dim=1)] = float("-inf")
        self.token_count += int(content_mask.sum())
        batch_max = window_max.amax(dim=0)
        self._grow_range(torch.where(batch_max > 0, range_exponent(batch_max.clamp(min=1e-45)), NO_POSITIVE))
        self._add_to_histogram(values)

        windows = window_ids[:, None].expand(-1, self.n_features).long()

        def token_values(rows, features):
            return values[rows, :, features]

        self.top.offer(-window_max.double(), windows, None, token_values)
        active = window_max > 0
        sample_priority = torch.where(active, sample_keys(window_ids, self.n_features), float("inf"))
        # Features that never activated have no range yet; their (inactive) windows are not offered.
        exponent = self.exponent.clamp(min=-126)[None, :].expand_as(window_max)
        sample_bins = bin_index(window_max.clamp(min=0), exponent, SAMPLE_BINS)
        self.samples.offer(sample_priority, windows, sample_bins, token_values)

    def merge(self, other: "DashboardAccumulator") -> None:
        """Fold in an accumulator over other windows."""
        self.token_count += other.token_count
        self._grow_range(other.exponent)
        other._grow_range(self.exponent)
        self.histogram += other.histogram
        self.top.admit_reservoir(other.top)
        self.samples.admit_reservoir(other.samples)
        if self.checks is not None and other.checks is not None:
            self.checks.merge(other.checks)
        else:  # a partial from before the checks existed: no checks rather than checks of part of the corpus
            self.checks = None

    @property
    def positive_counts(self) -> torch.Tensor:
        """Activating tokens per feature [F]: every one of them is in the histogram."""
        return self.histogram.sum(dim=1)

    def _grow_range(self, needed: torch.Tensor) -> None:
        """Raise each feature's range exponent to `needed` [F] (NO_POSITIVE where nothing new), merging bins."""
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

    def _add_to_histogram(self, values: torch.Tensor) -> None:
        """Count the activating tokens of values [B, T, F] per feature and histogram bin."""
        flat = values.view(-1)
        positions = (flat > 0).nonzero().squeeze(1)
        if len(positions) == 0:
            return
        features = positions % self.n_features
        bins = bin_index(flat[positions], self.exponent[features], HISTOGRAM_BINS)
        self.histogram.view(-1).index_add_(0, features * HISTOGRAM_BINS + bins, torch.ones_like(bins))

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
        if self.checks is not None:
            tensors.update(self.checks.to_tensors("checks."))
        return save_tensors({name: tensor.contiguous() for name, tensor in tensors.items()})

    @classmethod
    def from_bytes(cls, data: bytes) -> "DashboardAccumulator":
        tensors = load_tensors(bytes(data))
        groups, top_k, n_features, window_len = tensors["top.values"].shape
        accumulator = cls(n_features, window_len, top_k=top_k, samples_per_bin=tensors["samples.values"].shape[1])
        accumulator.exponent = tensors["exponent"]
        accumulator.histogram = tensors["histogram"]
        accumulator.token_count = int(tensors["token_count"][0])
        for name, reservoir in (("top", accumulator.top), ("samples", accumulator.samples)):
            reservoir.priority = tensors[f"{name}.priority"]
            reservoir.windows = tensors[f"{name}.windows"]
            reservoir.values = tensors[f"{name}.values"]
        accumulator.checks = CheckStatistics.from_tensors(tensors, "checks.")
        return accumulator

    def result(self) -> Dashboards:
        top_priority, top_windows, top_values = self.top.sorted()
        sample_priority, sample_windows, sample_values = self.samples.sorted()
        counts = self.positive_counts.numpy()
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
