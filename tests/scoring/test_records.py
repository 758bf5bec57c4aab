import math

import pytest

from scoring.core.errors import ScoringInputError
from scoring.core.records import (
    ActivationRecord,
    normalise_activations,
    normalise_token,
    record_from_json,
    records_from_json,
    window_text,
)


def test_a_record_keeps_tokens_and_activations_as_immutable_tuples():
    record = ActivationRecord(["the", "cat"], [0, 2])
    assert record.tokens == ("the", "cat")
    assert record.activations == (0.0, 2.0)
    assert record.max_activation == 2.0 and record.argmax == 1
    assert record.to_json() == {"tokens": ["the", "cat"], "activations": [0.0, 2.0]}


def test_a_record_refuses_a_length_mismatch():
    with pytest.raises(ScoringInputError, match="2 tokens but 1 activations"):
        ActivationRecord(["a", "b"], [1.0])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"tokens": ["a", "b"], "activations": [1]}, r"records\[0\]: 2 tokens but 1 activations"),
        ({"tokens": ["a"], "activations": [math.nan]}, r"activation 0 is nan"),
        ({"tokens": ["a"], "activations": [math.inf]}, r"activation 0 is inf"),
        ({"tokens": ["a"], "activations": ["1"]}, r"activation 0 is a string, not a number"),
        ({"tokens": ["a"], "activations": [True]}, r"activation 0 is a boolean"),
        ({"tokens": [], "activations": []}, r"the record is empty"),
        ({"tokens": "a b", "activations": [1, 2]}, r"'tokens' must be a list of strings"),
        ({"tokens": ["a"]}, r"'activations' must be a list"),
        (["a"], r"expected an object"),
    ],
)
def test_record_from_json_names_the_record_and_what_is_wrong(value, message):
    with pytest.raises(ScoringInputError, match=message):
        records_from_json([value])


def test_record_from_json_accepts_openai_activation_records():
    record = record_from_json({"tokens": [" the", " cat"], "activations": [0, 3.5], "extra": "ignored"})
    assert record == ActivationRecord((" the", " cat"), (0.0, 3.5))


def test_normalisation_floors_to_integers_0_to_10_like_openai():
    assert normalise_activations([0.0, 0.5, 1.0, 2.0, -1.0, 1.99], 2.0) == [0, 2, 5, 10, 0, 9]
    assert normalise_activations([1.0, 2.0], 0.0) == [0, 0]


def test_tokens_compare_without_surrounding_space_case_or_wordpiece_marks():
    assert normalise_token(" Cat") == "cat"
    assert normalise_token("##ing") == "ing"
    assert normalise_token("##") == "##"


def test_window_text_joins_display_tokens_as_they_are_and_bare_words_with_spaces():
    assert window_text(["The", " black", " cat"]) == "The black cat"
    assert window_text(["the", "black", "cat"]) == "the black cat"
