"""The matching core on cases small enough to check by hand, against brute force."""

from itertools import permutations

import numpy as np
import pytest

from evaluations.core.matching import (
    Match,
    decoder_cosines,
    greedy_matching,
    optimal_matching,
    splits,
    total_cosine,
)

# Feature 0 of A is closest to feature 0 of B (0.9), but 0 of B is also the only good partner of A's feature 1;
# greedy takes 0.9 first and leaves A1 with 0.1: 1.0 in all. The optimum pairs A0-B1 and A1-B0: 0.8 + 0.8 = 1.6.
BY_HAND = np.array([[0.9, 0.8], [0.8, 0.1]])


def test_optimal_and_greedy_differ_on_a_case_checkable_by_hand():
    assert greedy_matching(BY_HAND) == [Match(0, 0, 0.9), Match(1, 1, 0.1)]
    assert optimal_matching(BY_HAND) == [Match(0, 1, 0.8), Match(1, 0, 0.8)]
    assert total_cosine(optimal_matching(BY_HAND)) == pytest.approx(1.6)
    assert total_cosine(greedy_matching(BY_HAND)) == pytest.approx(1.0)


def test_the_optimal_matching_equals_brute_force_on_random_rectangles():
    generator = np.random.default_rng(0)
    for n_a, n_b in [(4, 4), (3, 5), (5, 3)]:
        cosines = generator.uniform(-1, 1, size=(n_a, n_b))
        if n_a <= n_b:
            best = max(sum(cosines[i, p[i]] for i in range(n_a)) for p in permutations(range(n_b), n_a))
        else:
            best = max(sum(cosines[p[j], j] for j in range(n_b)) for p in permutations(range(n_a), n_b))
        matches = optimal_matching(cosines)
        assert len(matches) == min(n_a, n_b)
        assert len({m.index_a for m in matches}) == len({m.index_b for m in matches}) == len(matches)
        assert total_cosine(matches) == pytest.approx(best)


def test_cosines_are_of_directions_whatever_their_norms():
    a = np.array([[2.0, 0.0], [0.0, 0.0]])  # the second feature writes nothing
    b = np.array([[1.0, 1.0], [0.0, -3.0]])
    cosines = decoder_cosines(a, b)
    np.testing.assert_allclose(cosines, [[2**-0.5, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="different widths"):
        decoder_cosines(a, np.ones((3, 4)))


def test_a_feature_that_splits_has_every_child_pointing_back_to_it():
    # The narrow dictionary: two orthogonal directions. The wide one: two children of the first parent (each 30
    # degrees off it), one copy of the second, and one feature unlike either (below the threshold).
    narrow = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    angle = np.pi / 6
    wide = np.array(
        [
            [np.cos(angle), np.sin(angle), 0.0],
            [np.cos(angle), -np.sin(angle), 0.0],
            [0.0, 1.0, 0.0],
            [0.1, 0.1, 1.0],
        ]
    )
    found = splits(decoder_cosines(narrow, wide), threshold=0.5)
    assert [(m.index_a, m.index_b) for m in found] == [(0, 0), (0, 1), (1, 2)]
    assert found[0].cosine == pytest.approx(np.cos(angle))
    # One-to-one, the first parent keeps only one of its children.
    assert len(optimal_matching(decoder_cosines(narrow, wide))) == 2
