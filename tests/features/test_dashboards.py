"""The streaming dashboard accumulator against brute force over all activations at once."""

import numpy as np
import pytest
import torch

from features.pipeline.dashboards import (
    HISTOGRAM_BINS,
    NO_POSITIVE,
    SAMPLE_BINS,
    DashboardAccumulator,
    range_exponent,
    sample_keys,
)


def brute_force(acts: np.ndarray, mask: np.ndarray, top_k: int, per_bin: int) -> dict:
    n_windows, _, n_features = acts.shape
    acts = np.where(mask[:, :, None], acts, 0.0).astype(np.float32)
    window_max = np.where(mask[:, :, None], acts, -np.inf).max(axis=1)
    keys = sample_keys(torch.arange(n_windows), n_features).numpy()
    out = {"top_windows": [], "max": [], "exponent": [], "histogram": [], "samples": []}
    for f in range(n_features):
        order = sorted(range(n_windows), key=lambda w: (-window_max[w, f], w))[:top_k]
        out["top_windows"].append(order)
        top = window_max[:, f].max()
        out["max"].append(top)
        if top <= 0:
            out["exponent"].append(NO_POSITIVE)
            out["histogram"].append(np.zeros(HISTOGRAM_BINS, dtype=np.int64))
            out["samples"].append([[] for _ in range(SAMPLE_BINS)])
            continue
        exponent = int(range_exponent(torch.tensor([top]))[0])
        out["exponent"].append(exponent)
        values = acts[:, :, f][(acts[:, :, f] > 0) & mask]
        bins = np.clip(np.floor(np.ldexp(values, -exponent) * HISTOGRAM_BINS).astype(np.int64), 0, HISTOGRAM_BINS - 1)
        out["histogram"].append(np.bincount(bins, minlength=HISTOGRAM_BINS))
        samples = [[] for _ in range(SAMPLE_BINS)]
        active = [w for w in range(n_windows) if window_max[w, f] > 0]
        for w in sorted(active, key=lambda w: (keys[w, f], w)):
            sample_bin = min(int(np.floor(np.ldexp(window_max[w, f], -exponent) * SAMPLE_BINS)), SAMPLE_BINS - 1)
            if len(samples[sample_bin]) < per_bin:
                samples[sample_bin].append(w)
        out["samples"].append(samples)
    return out


def random_activations(seed: int, n_windows=23, length=9, n_features=7):
    generator = torch.Generator().manual_seed(seed)
    # ReLU-like with varied scales per feature, so ranges and bin merges differ across features.
    scales = torch.tensor([0.01, 0.3, 1.0, 3.0, 17.0, 250.0, 1.0])[:n_features]
    acts = torch.relu(torch.randn(n_windows, length, n_features, generator=generator)) * scales
    acts[:, :, -1] = -1.0  # a feature that never activates
    acts[4] = acts[11]  # equal values in two windows: ties go to the earlier window
    mask = torch.ones(n_windows, length, dtype=torch.bool)
    mask[:, 0] = False
    return acts, mask


def check_equal(result, expected, acts, mask, top_k):
    n_features = acts.shape[2]
    for f in range(n_features):
        assert list(result.top_windows[:top_k, f]) == expected["top_windows"][f], f
        assert result.range_exponent[f] == expected["exponent"][f]
        np.testing.assert_array_equal(result.histogram[f], expected["histogram"][f])
        for sample_bin in range(SAMPLE_BINS):
            got = [int(w) for w in result.sample_windows[sample_bin, :, f] if w >= 0]
            assert got == expected["samples"][f][sample_bin], (f, sample_bin)
    np.testing.assert_allclose(result.max_activation, np.array(expected["max"], dtype=np.float32))
    positive = ((acts > 0) & mask[:, :, None]).sum(dim=(0, 1)).numpy()
    np.testing.assert_array_equal(result.positive_counts, positive)
    assert result.token_count == int(mask.sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("batch_size", [1, 5, 23])
def test_every_dashboard_field_equals_brute_force(seed, batch_size):
    acts, mask = random_activations(seed)
    expected = brute_force(acts.numpy(), mask.numpy(), top_k=4, per_bin=2)
    accumulator = DashboardAccumulator(acts.shape[2], acts.shape[1], top_k=4, samples_per_bin=2)
    for start in range(0, len(acts), batch_size):
        end = start + batch_size
        accumulator.update(acts[start:end], torch.arange(start, min(end, len(acts))), mask[start:end])
    result = accumulator.result()
    check_equal(result, expected, acts, mask, top_k=4)
    # per-token values of the top windows are the feature's activations on those windows
    for f in range(acts.shape[2]):
        for rank, window in enumerate(result.top_windows[:, f]):
            shown = torch.where(mask[window], acts[window, :, f], 0.0).numpy()
            np.testing.assert_array_equal(result.top_token_values[rank, f], shown)


@pytest.mark.parametrize("seed", [0, 3])
def test_shards_merged_in_any_order_equal_one_pass(seed):
    acts, mask = random_activations(seed, n_windows=30)
    whole = DashboardAccumulator(acts.shape[2], acts.shape[1], top_k=5, samples_per_bin=3)
    whole.update(acts, torch.arange(30), mask)
    shards = []
    for start, end in [(0, 7), (7, 19), (19, 30)]:
        shard = DashboardAccumulator(acts.shape[2], acts.shape[1], top_k=5, samples_per_bin=3)
        shard.update(acts[start:end], torch.arange(start, end), mask[start:end])
        shards.append(shard)
    merged = shards[2]
    merged.merge(shards[0])
    merged.merge(shards[1])
    a, b = whole.result(), merged.result()
    for field in (
        "top_windows",
        "top_token_values",
        "range_exponent",
        "histogram",
        "sample_windows",
        "sample_token_values",
        "positive_counts",
        "max_activation",
    ):
        np.testing.assert_array_equal(getattr(b, field), getattr(a, field), err_msg=field)
    assert a.token_count == b.token_count


def test_the_range_lies_strictly_above_every_value_even_at_powers_of_two():
    values = torch.tensor([0.25, 0.3, 1.0, 1.0000001, 3.0, 4.0, 1000.0])
    assert range_exponent(values).tolist() == [-1, -1, 1, 1, 2, 3, 10]


@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_a_max_that_is_a_power_of_two_bins_the_same_whatever_the_batching(batch_size):
    # Window 0's max (1.0) is a power of two; window 2 later doubles the range past it.
    acts = torch.tensor([[[1.0], [0.5]], [[0.75], [0.0]], [[3.0], [1.0]], [[0.25], [2.0]]])
    mask = torch.ones(4, 2, dtype=torch.bool)
    expected = brute_force(acts.numpy(), mask.numpy(), top_k=2, per_bin=2)
    accumulator = DashboardAccumulator(1, 2, top_k=2, samples_per_bin=2)
    for start in range(0, 4, batch_size):
        accumulator.update(
            acts[start : start + batch_size],
            torch.arange(start, min(start + batch_size, 4)),
            mask[start : start + batch_size],
        )
    check_equal(accumulator.result(), expected, acts, mask, top_k=2)
