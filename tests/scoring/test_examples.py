import pytest

from scoring.core.errors import ScoringInputError
from scoring.core.examples import (
    MIN_SILENT_WINDOWS,
    SPAN_TOKENS,
    ExampleSet,
    build_example_set,
    feature_key_tokens,
    select_hard_negatives,
)
from scoring.core.judges import OracleJudge
from scoring.core.records import ActivationRecord
from scoring.core.scorers import get_scorer


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


# --- Dense features: scored on spans -----------------------------------------------------------------


def window(n: int, active: dict[int, float], *, words: dict[int, str] | None = None, tag: str = "w"):
    """A window of n tokens, `tag0 tag1 ...` unless `words` says otherwise, with the given activations."""
    tokens = [(words or {}).get(i, f"{tag}{i}") for i in range(n)]
    return ActivationRecord(tokens, [active.get(i, 0.0) for i in range(n)])


# A feature that fires somewhere in every 64-token window: at its peak (10) in the top examples, and weakly
# (2, above the threshold of 1) once in each other window.
DENSE_RANDOM = [window(64, {5: 2.0}, tag=f"rand{i}-") for i in range(4)]
# Silent on its key token "cat" (at 10) but active at 60: a hard negative, yet an active window.
DENSE_LOOKALIKES = [window(64, {60: 2.0}, words={10: "cat"}, tag=f"look{i}-") for i in range(2)]
DENSE_TOP = [window(64, {40 + i: 10.0, 3: 2.0}, words={40 + i: "cat"}, tag=f"top{i}-") for i in range(3)]


def test_a_dense_feature_is_scored_on_spans_cut_where_it_fires_and_where_it_is_silent():
    windows = {record.tokens: record for record in [*DENSE_TOP, *DENSE_RANDOM, *DENSE_LOOKALIKES]}
    examples = build_example_set(top=DENSE_TOP, random_records=DENSE_RANDOM, candidates=DENSE_LOOKALIKES)

    assert examples.mix() == {"top": 3, "intervals": 0, "random": 4, "hard_negatives": 2, "span_tokens": SPAN_TOKENS}
    assert all(len(example.tokens) == SPAN_TOKENS for example in examples.examples())
    assert [record.max_activation for record in examples.top] == [10.0, 10.0, 10.0], "each span holds its peak"
    assert not any(examples.window_label(record) for record in [*examples.random, *examples.hard_negatives])
    assert all("cat" in record.tokens for record in examples.hard_negatives)
    assert examples.threshold == pytest.approx(1.0), "the threshold is the whole feature's"
    for example in examples.examples():  # each span is found again in its window
        parent, start = examples.span_origin[example.tokens]
        assert windows[parent].tokens[start : start + SPAN_TOKENS] == example.tokens
        assert windows[parent].activations[start : start + SPAN_TOKENS] == example.record.activations
    assert examples.span_origin[examples.random[0].tokens][1] == 6, "the first silent stretch, after the 2.0 at 5"


def test_a_dense_feature_can_be_classified_on_its_spans():
    examples = build_example_set(top=DENSE_TOP, random_records=DENSE_RANDOM, candidates=DENSE_LOOKALIKES)
    fires = {"anything": lambda tokens, i: True}
    judge = OracleJudge({"the word cat": lambda tokens, i: tokens[i] == "cat" and tokens[i - 1].startswith("top")})
    with pytest.raises(ScoringInputError, match="needs both active and silent"):  # whole windows
        get_scorer("detection").score("the word cat", ExampleSet(top=DENSE_TOP, random=DENSE_RANDOM), judge=judge)

    result = get_scorer("detection").score("the word cat", examples, judge=judge)

    assert result.value == pytest.approx(1.0) and result.example_mix["span_tokens"] == SPAN_TOKENS
    assert get_scorer("detection").score("anything", examples, judge=OracleJudge(fires)).value == pytest.approx(0.5)


def test_a_feature_with_enough_silent_windows_keeps_its_whole_windows():
    quiet = [window(64, {}, tag=f"quiet{i}-") for i in range(MIN_SILENT_WINDOWS)]
    examples = build_example_set(top=DENSE_TOP, random_records=[*DENSE_RANDOM, *quiet])
    assert "span_tokens" not in examples.mix() and examples.span_origin == {}
    assert examples.top == tuple(DENSE_TOP) and examples.random == (*DENSE_RANDOM, *quiet)


def test_windows_without_a_silent_stretch_are_left_out_and_short_windows_stay_whole():
    busy = window(64, {i: 2.0 for i in range(0, 64, 20)}, tag="busy-")  # never 32 silent tokens in a row
    short = window(8, {}, tag="short-")
    examples = build_example_set(top=DENSE_TOP, random_records=[busy, short, *DENSE_RANDOM])
    assert busy.tokens[:SPAN_TOKENS] not in {record.tokens for record in examples.random}
    assert examples.random[0] == short and short.tokens not in examples.span_origin
    assert len(examples.random) == 1 + len(DENSE_RANDOM)
