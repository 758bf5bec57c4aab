"""Matching the features of two dictionaries by the cosine of their decoder directions (no Django).

A feature's decoder row is the direction it writes, so two dictionaries that write into the same space (the
residual stream of one model, or of a base model and its fine-tune, which share d_model) can be compared
feature by feature. Two relations are computed:

- an optimal one-to-one matching: the pairing of features that maximises the summed cosine (the assignment
  problem, solved exactly by scipy's linear_sum_assignment); a greedy pairing (best pair first) can do worse,
  because taking one feature's best partner may rob another of its only good one;
- many-to-one splits: each feature of the second dictionary (usually the wider one) to its single best match
  in the first, kept when the cosine reaches a threshold. As width grows a feature splits into several finer
  ones (Bricken et al. 2023, "Towards Monosemanticity"), which all point back to the same parent.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

# A split with a lower cosine than this is more likely a coincidence than a descendant: in d dimensions two
# random directions have cosines of about 1/sqrt(d) (0.18 for d = 32, 0.03 for d = 768).
DEFAULT_SPLIT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Match:
    index_a: int  # a feature of the first dictionary
    index_b: int  # a feature of the second
    cosine: float


def decoder_cosines(decoder_a: np.ndarray, decoder_b: np.ndarray) -> np.ndarray:
    """[n_a, n_b] cosines between the rows of two decoders [n_a, d] and [n_b, d]. A zero row (a feature that
    writes nothing) has cosine 0 with everything."""
    decoder_a = np.asarray(decoder_a, dtype=np.float64)
    decoder_b = np.asarray(decoder_b, dtype=np.float64)
    if decoder_a.ndim != 2 or decoder_b.ndim != 2:
        raise ValueError("Decoders must be matrices [features, d].")
    if decoder_a.shape[1] != decoder_b.shape[1]:
        raise ValueError(
            f"The dictionaries write into spaces of different widths ({decoder_a.shape[1]} and "
            f"{decoder_b.shape[1]}): their decoder directions cannot be compared."
        )
    norms_a = np.linalg.norm(decoder_a, axis=1, keepdims=True)
    norms_b = np.linalg.norm(decoder_b, axis=1, keepdims=True)
    unit_a = np.divide(decoder_a, norms_a, out=np.zeros_like(decoder_a), where=norms_a > 0)
    unit_b = np.divide(decoder_b, norms_b, out=np.zeros_like(decoder_b), where=norms_b > 0)
    return unit_a @ unit_b.T


def optimal_matching(cosines: np.ndarray) -> list[Match]:
    """The one-to-one pairing with the largest total cosine: min(n_a, n_b) pairs, by index of the first
    dictionary. Exact (Jonker-Volgenant, as scipy implements it)."""
    rows, columns = linear_sum_assignment(cosines, maximize=True)
    return [Match(int(i), int(j), float(cosines[i, j])) for i, j in zip(rows, columns, strict=True)]


def greedy_matching(cosines: np.ndarray) -> list[Match]:
    """The pairing that takes the best remaining pair each time: what optimal_matching improves on. Ties go to
    the lower indices."""
    order = np.argsort(-cosines, axis=None, kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    matches = []
    for flat in order:
        i, j = divmod(int(flat), cosines.shape[1])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        matches.append(Match(i, j, float(cosines[i, j])))
        if len(matches) == min(cosines.shape):
            break
    return sorted(matches, key=lambda match: match.index_a)


def splits(cosines: np.ndarray, *, threshold: float = DEFAULT_SPLIT_THRESHOLD) -> list[Match]:
    """Each feature of the second dictionary (a column) to its best match in the first (a row), when the cosine
    reaches `threshold`; several may share one parent. By index of the second dictionary."""
    if cosines.shape[0] == 0:
        return []
    parents = np.argmax(cosines, axis=0)
    best = cosines[parents, np.arange(cosines.shape[1])]
    return [Match(int(parents[j]), j, float(best[j])) for j in range(cosines.shape[1]) if best[j] >= threshold]


def total_cosine(matches: list[Match]) -> float:
    return float(sum(match.cosine for match in matches))
