"""The numbers scores are made of, in numpy. Undefined cases return None instead of NaN, so every
caller has to decide what a constant input or a missing class means for its score."""

from collections.abc import Sequence

import numpy as np


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant (the correlation is undefined there)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pearson needs equal lengths, got {a.size} and {b.size}")
    if a.size < 2:
        return None
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    # A spread below float rounding is a constant in disguise.
    if denominator <= 1e-12 * max(1.0, float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0))):
        return None
    return float(np.clip((a * b).sum() / denominator, -1.0, 1.0))


def balanced_accuracy(labels: Sequence[bool], predictions: Sequence[bool]) -> float | None:
    """Mean of the true-positive and true-negative rates; None unless both classes are present."""
    truth = np.asarray(labels, dtype=bool)
    guess = np.asarray(predictions, dtype=bool)
    if truth.shape != guess.shape:
        raise ValueError("labels and predictions differ in length")
    n_positive, n_negative = int(truth.sum()), int((~truth).sum())
    if n_positive == 0 or n_negative == 0:
        return None
    true_positive_rate = float((truth & guess).sum()) / n_positive
    true_negative_rate = float((~truth & ~guess).sum()) / n_negative
    return (true_positive_rate + true_negative_rate) / 2


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, ties sharing the mean of the ranks they span (as scipy.stats.rankdata does)."""
    data = np.asarray(values, dtype=np.float64)
    order = np.argsort(data, kind="mergesort")
    sorted_values = data[order]
    ranks = np.empty(data.size, dtype=np.float64)
    # Boundaries of runs of equal values in sorted order.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], data.size]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (as scipy.stats.spearmanr gives it): the Pearson correlation of average
    ranks; None when either side is constant (it ranks nothing)."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs equal lengths, got {len(x)} and {len(y)}")
    return pearson(average_ranks(x), average_ranks(y))


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counting one half
    (Mann-Whitney U). None unless both classes are present."""
    truth = np.asarray(labels, dtype=bool)
    data = np.asarray(scores, dtype=np.float64)
    if truth.shape != data.shape:
        raise ValueError("labels and scores differ in length")
    n_positive, n_negative = int(truth.sum()), int((~truth).sum())
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = average_ranks(data)
    u_statistic = ranks[truth].sum() - n_positive * (n_positive + 1) / 2
    return float(u_statistic / (n_positive * n_negative))


def precision_recall_f1(labels: Sequence[bool], predictions: Sequence[bool]) -> tuple[float, float, float]:
    """Token-level precision, recall and F1. Nothing predicted gives precision 0 (not undefined): a rule
    that never fires has found nothing; nothing to find gives recall 0 for the same reason."""
    truth = np.asarray(labels, dtype=bool)
    guess = np.asarray(predictions, dtype=bool)
    if truth.shape != guess.shape:
        raise ValueError("labels and predictions differ in length")
    true_positives = float((truth & guess).sum())
    precision = true_positives / guess.sum() if guess.any() else 0.0
    recall = true_positives / truth.sum() if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)
