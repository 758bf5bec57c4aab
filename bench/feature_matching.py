"""How long matching two dictionaries' features takes (evaluations/core/matching.py): the cosine matrix, the
optimal one-to-one matching (scipy's linear_sum_assignment) and the splits, for random decoders of widths n and
2n in d = 384 (MiniLM's residual stream), and how much the optimum beats a greedy pairing on them.

    python bench/feature_matching.py [--sizes 512,1024,2048] [--d 384]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluations.core.matching import (  # noqa: E402
    decoder_cosines,
    greedy_matching,
    optimal_matching,
    splits,
    total_cosine,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--d", type=int, default=384)
    args = parser.parse_args()
    generator = np.random.default_rng(0)
    print(
        f"{'n_a x n_b':>13} {'cosines s':>10} {'optimal s':>10} {'greedy s':>9} {'splits s':>9} {'optimal/greedy':>15}"
    )
    for n in [int(size) for size in args.sizes.split(",")]:
        narrow = generator.standard_normal((n, args.d))
        # The wide dictionary: each narrow feature's direction plus noise (two children each), as after splitting.
        wide = np.repeat(narrow, 2, axis=0) + 0.8 * generator.standard_normal((2 * n, args.d))
        started = time.perf_counter()
        cosines = decoder_cosines(narrow, wide)
        t_cosines = time.perf_counter() - started
        started = time.perf_counter()
        optimal = optimal_matching(cosines)
        t_optimal = time.perf_counter() - started
        started = time.perf_counter()
        greedy = greedy_matching(cosines)
        t_greedy = time.perf_counter() - started
        started = time.perf_counter()
        splits(cosines, threshold=0.5)
        t_splits = time.perf_counter() - started
        ratio = total_cosine(optimal) / total_cosine(greedy)
        timings = f"{t_cosines:>10.3f} {t_optimal:>10.3f} {t_greedy:>9.3f} {t_splits:>9.3f}"
        print(f"{n:>6} x {2 * n:<6} {timings} {ratio:>15.4f}")


if __name__ == "__main__":
    main()
