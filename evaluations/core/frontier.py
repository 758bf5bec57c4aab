"""The sparsity-fidelity frontier: of dictionaries on one hook, those that no other beats on both sparsity
(lower L0) and fidelity (higher explained variance, or lower delta loss). No Django."""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    key: str
    x: float  # L0: lower is better
    y: float  # fidelity: better is higher or lower, as the caller says


def pareto_frontier(points: Sequence[Point], *, higher_is_better: bool) -> list[Point]:
    """The points no other point dominates (at least as sparse and at least as faithful, better in one), by
    ascending x. Points with a NaN coordinate are never on it."""

    def better_or_equal(a: float, b: float) -> bool:
        return a >= b if higher_is_better else a <= b

    finite = [point for point in points if math.isfinite(point.x) and math.isfinite(point.y)]
    frontier = [
        point
        for point in finite
        if not any(
            other.x <= point.x and better_or_equal(other.y, point.y) and (other.x, other.y) != (point.x, point.y)
            for other in finite
        )
    ]
    return sorted(frontier, key=lambda point: (point.x, -point.y if higher_is_better else point.y))


def feature_sample(n_features: int, size: int, *, seed: str) -> list[int]:
    """A fixed random sample of feature indices (the same for the same seed, e.g. the source's path), sorted:
    the features whose explanations' scores stand for the whole dictionary."""
    return sorted(random.Random(seed).sample(range(n_features), min(size, n_features)))


@dataclass(frozen=True)
class MeanWithInterval:
    mean: float
    low: float
    high: float
    n: int


def mean_with_interval(values: Sequence[float], z: float = 1.96) -> MeanWithInterval | None:
    """The mean and its normal 95% confidence interval (the standard error from the sample's standard
    deviation); None without values. With one value the interval is the value itself."""
    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    if n == 1:
        return MeanWithInterval(mean, mean, mean, 1)
    sd = math.sqrt(sum((value - mean) ** 2 for value in values) / (n - 1))
    half = z * sd / math.sqrt(n)
    return MeanWithInterval(mean, mean - half, mean + half, n)
