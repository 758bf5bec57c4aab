import pytest

from scoring.core.errors import ScoringInputError
from scoring.core.examples import ExampleSet, build_example_set, feature_key_tokens, select_hard_negatives
from scoring.core.records import ActivationRecord


def record(text: str, *values: float) -> ActivationRecord:
    tokens = text.split()
    padded = list(values) + [0.0] * (len(tokens) - len(values))
    return ActivationRecord(tokens, padded)


BLACK_CAT = record("the black cat sat", 0, 0, 8, 0)
WHITE_CAT = record("a white cat ran", 0, 0, 6, 0)
THE_CAT = record("the cat sat down")
CAT_FOOD = record("cat food is cheap")
CAT_ACTIVE_ELSEWHERE = record("the cat and grey cat", 0, 0, 0, 0, 5)
PARTLY_SILENT = record("dog cat grey cat", 0, 0, 0, 7)  # one silent cat, one active: not a hard negative
DOG = record("the dog sat down")
OTHER_ACTIVITY = record("the cat met a fox", 0, 0, 0, 0, 4)  # silent on cat, active elsewhere


def test_the_mix_counts_every_kind_of_example():
    examples = ExampleSet(top=[BLACK_CAT, WHITE_CAT], random=[DOG], hard_negatives=[THE_CAT, CAT_FOOD])
    assert examples.mix() == {"top": 2, "intervals": 0, "random": 1, "hard_negatives": 2}
    assert len(examples) == 5
    assert [e.kind for e in examples.examples()] == ["top", "top", "random", "hard_negative", "hard_negative"]
    assert examples.without_hard_negatives().mix()["hard_negatives"] == 0


def test_active_means_above_a_tenth_of_the_feature_maximum():
    examples = ExampleSet(top=[BLACK_CAT], feature_max=20.0)
    assert examples.threshold == pytest.approx(2.0)
    assert examples.token_labels(record("a b c", 1.9, 2.1, 0)) == [False, True, False]
    assert ExampleSet(top=[BLACK_CAT]).threshold == pytest.approx(0.8)  # from the examples when unknown


def test_the_feature_key_tokens_are_the_tokens_at_its_peaks():
    assert feature_key_tokens([BLACK_CAT, WHITE_CAT, record("the Cat", 0, 3)]) == ["cat"]


def test_hard_negatives_contain_a_key_token_on_which_the_feature_is_silent():
    candidates = [THE_CAT, CAT_FOOD, PARTLY_SILENT, DOG, OTHER_ACTIVITY, BLACK_CAT]
    chosen = select_hard_negatives(candidates, ["cat"], threshold=0.8, limit=10, exclude=[BLACK_CAT])
    assert set(chosen) == {THE_CAT, CAT_FOOD, OTHER_ACTIVITY}
    assert chosen[-1] == OTHER_ACTIVITY, "entirely silent windows come first"


def test_hard_negative_selection_is_deterministic_normalises_tokens_and_respects_the_limit():
    candidates = [record(f"the {word} cat number {i}") for i, word in enumerate(["big", "old", "fat", "shy"])]
    candidates.append(record("the Cat"))
    first = select_hard_negatives(candidates, [" CAT"], threshold=0.0, limit=3, seed=7)
    assert first == select_hard_negatives(candidates, ["cat"], threshold=0.0, limit=3, seed=7)
    assert len(first) == 3
    assert select_hard_negatives(candidates, [], threshold=0.0, limit=3) == []


def test_the_standard_example_set_mines_hard_negatives_for_the_feature_key_tokens():
    examples = build_example_set(
        top=[BLACK_CAT, WHITE_CAT], random_records=[DOG], candidates=[THE_CAT, CAT_FOOD, DOG, BLACK_CAT]
    )
    assert examples.key_tokens == ("cat",)
    assert set(examples.hard_negatives) == {THE_CAT, CAT_FOOD}
    assert examples.mix() == {"top": 2, "intervals": 0, "random": 1, "hard_negatives": 2}


def test_a_feature_without_top_examples_cannot_be_scored():
    with pytest.raises(ScoringInputError, match="at least one top example"):
        build_example_set(top=[])
