"""Every feature's examples (top windows and interval samples) as plain row tuples, computed with array operations a
block of features at a time: a 24,576-feature dictionary has about 1.7 million examples, which a Python loop per
example spent longer building than the database spent storing.

The rows come in the order the feature pages read them: by feature, the top examples by rank, then each interval's
samples by rank. Each row holds, in order: feature id, window id, kind, rank, the window's per-token values (packed
as little-endian float32), its maximum, the position of that maximum, then for an interval sample its interval
index, the interval's bounds and the share of the feature's activating tokens that fall in it (None for a top
example)."""

from collections.abc import Iterator, Sequence

import numpy as np

from .dashboards import HISTOGRAM_BINS, NO_POSITIVE, SAMPLE_BINS, Dashboards
from .figures import stored_figures

FEATURES_PER_BLOCK = 512


def _leading(present: np.ndarray, axis: int) -> np.ndarray:
    """True up to the first False along `axis`: a reservoir's slots are filled from the front, and a slot after
    an empty one is never shown."""
    return np.cumprod(present, axis=axis, dtype=np.int8).astype(bool)


def example_rows(
    dashboards: Dashboards,
    feature_ids: Sequence[int],
    window_ids: dict[int, int],
    *,
    top_kind: str = "top",
    interval_kind: str = "interval",
    features_per_block: int = FEATURES_PER_BLOCK,
) -> Iterator[tuple]:
    """The rows of the examples of features 0..F-1 of `dashboards`; feature_ids[i] is feature i's id and
    window_ids maps a corpus position to its window's id."""
    n_features = len(feature_ids)
    feature_ids = np.asarray(feature_ids, dtype=np.int64)
    max_activation = stored_figures(dashboards.max_activation, what="a feature's maximum").astype(np.float64)
    exponent = np.asarray(dashboards.range_exponent)
    positives = np.asarray(dashboards.positive_counts)
    sampled = (exponent != NO_POSITIVE) & (positives != 0)
    width = np.where(sampled, np.ldexp(1.0, np.where(sampled, exponent, 0)) / SAMPLE_BINS, 0.0)
    bins_per_sample_bin = HISTOGRAM_BINS // SAMPLE_BINS
    for start in range(0, n_features, features_per_block):
        block = slice(start, min(start + features_per_block, n_features))
        yield from _block_rows(
            dashboards, block, feature_ids, window_ids, max_activation, sampled, width, positives,
            bins_per_sample_bin, top_kind, interval_kind,
        )  # fmt: skip


def _block_rows(
    dashboards, block, feature_ids, window_ids, max_activation, sampled, width, positives, bins_per_sample_bin,
    top_kind, interval_kind,
) -> Iterator[tuple]:  # fmt: skip
    # Top examples: [K, f] slots.
    top_windows = dashboards.top_windows[:, block]
    top_rank, top_feature = np.nonzero(_leading(top_windows >= 0, axis=0))
    top_values = dashboards.top_token_values[:, block][top_rank, top_feature]
    top_max = dashboards.top_values[:, block][top_rank, top_feature]

    # Interval samples: [S, n, f] slots, in the intervals below the feature's maximum (an interval's share of the
    # feature's activating tokens comes from its 2**e range, R = 2**e over HISTOGRAM_BINS bins).
    block_width = width[block]
    low = np.arange(SAMPLE_BINS, dtype=np.float64)[:, None] * block_width[None, :]  # [S, f]
    shown_bins = sampled[block][None, :] & _leading(low < max_activation[block][None, :], axis=0)
    sample_windows = dashboards.sample_windows[:, :, block]
    present = shown_bins[:, None, :] & _leading(sample_windows >= 0, axis=1)
    sample_bin, sample_rank, sample_feature = np.nonzero(present)
    sample_values = dashboards.sample_token_values[:, :, block][sample_bin, sample_rank, sample_feature]
    sample_max = dashboards.sample_values[:, :, block][sample_bin, sample_rank, sample_feature]
    histogram = np.asarray(dashboards.histogram[block])
    share = histogram.reshape(histogram.shape[0], SAMPLE_BINS, bins_per_sample_bin).sum(axis=2).T  # [S, f]
    bin_low = low[sample_bin, sample_feature]
    bin_high = np.minimum(bin_low + block_width[sample_feature], max_activation[block][sample_feature])
    contains = share[sample_bin, sample_feature].astype(np.float64) / positives[block][sample_feature]

    # Both kinds in page order: feature, kind (top first), interval, rank.
    n_top = len(top_rank)
    feature = np.concatenate([top_feature, sample_feature])
    kind = np.concatenate([np.zeros(n_top, np.int8), np.ones(len(sample_feature), np.int8)])
    interval = np.concatenate([np.zeros(n_top, np.int64), sample_bin])
    rank = np.concatenate([top_rank, sample_rank])
    order = np.lexsort((rank, interval, kind, feature))
    if not len(order):
        return
    values = stored_figures(np.concatenate([top_values, sample_values]), what="an example's activation")
    values = np.ascontiguousarray(values[order], dtype="<f4")
    maxima = stored_figures(np.concatenate([top_max, sample_max]), what="an example's maximum").astype(np.float64)
    windows = np.concatenate(
        [top_windows[top_rank, top_feature], sample_windows[sample_bin, sample_rank, sample_feature]]
    )
    # The columns that are NULL on top examples, in the order before sorting.
    nothing = [None] * n_top
    interval_index = nothing + sample_bin.tolist()
    bin_min = nothing + stored_figures(bin_low, what="an interval's lower bound").tolist()
    bin_max = nothing + stored_figures(bin_high, what="an interval's upper bound").tolist()
    bin_contains = nothing + stored_figures(contains, what="an interval's share").tolist()
    ordered = order.tolist()
    buffer, stride = values.tobytes(), values.shape[1] * 4
    yield from zip(
        feature_ids[block][feature[order]].tolist(),
        [window_ids[position] for position in windows[order].tolist()],
        np.where(kind[order] == 0, top_kind, interval_kind).tolist(),
        rank[order].tolist(),
        [buffer[i * stride : (i + 1) * stride] for i in range(len(ordered))],
        maxima[order].tolist(),
        values.argmax(axis=1).tolist(),
        [interval_index[i] for i in ordered],
        [bin_min[i] for i in ordered],
        [bin_max[i] for i in ordered],
        [bin_contains[i] for i in ordered],
        strict=True,
    )
