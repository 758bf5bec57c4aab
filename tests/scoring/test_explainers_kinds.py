"""The offline explainer names what the firing words have in common with MiniLM (kinds.py), and keeps the
token list when no kind fits or the judge reads the list closer to the activations."""

import pytest

from scoring.core.records import ActivationRecord
from scoring.explainers import get_explainer
from scoring.explainers.kinds import name_kind

SENTENCES = [
    "she painted the door red and the shutters blue",
    "a green field under a grey sky",
    "he wore a yellow scarf and a navy coat",
    "the crimson flag hung beside a white one",
    "her eyes were green and her hair was black",
    "they chose purple curtains for the blue room",
    "an orange cat slept on the brown sofa",
    "the walls were pink before we painted them red",
]
SILENT = [
    "the meeting was moved to the afternoon",
    "we walked along the river until dark",
    "please send the report before friday",
    "the train left the station on time",
    "a quiet dinner with old friends",
    "he read the letter twice and smiled",
]
COLOURS = {"red", "blue", "green", "grey", "yellow", "navy", "crimson", "white", "black", "purple", "orange",
           "brown", "pink"}  # fmt: skip
MIXED = {"door", "field", "scarf", "flag", "eyes", "curtains", "sofa", "walls"}


def _records(firing: set[str]) -> list[ActivationRecord]:
    records = []
    for sentence in [*SENTENCES, *SILENT]:
        tokens = tuple(sentence.split())
        records.append(ActivationRecord(tokens=tokens, activations=tuple(8.0 if t in firing else 0.0 for t in tokens)))
    return records


def test_colour_words_in_real_sentences_are_named_as_colours():
    explanation = get_explainer("token-stats").explain(_records(COLOURS))

    kind = explanation.metadata["kind"]
    assert explanation.text == "colour words" and explanation.rule is None
    assert kind["chosen"] and kind["judged_fit"] >= kind["list_fit"] and kind["coverage"] >= 0.6
    assert {"red", "blue", "green"} <= set(kind["described"])


def test_a_mixed_list_of_words_keeps_the_token_list():
    explanation = get_explainer("token-stats").explain(_records(MIXED))

    assert explanation.text.startswith("the tokens ")
    assert not explanation.metadata.get("kind", {}).get("chosen", False)


def test_name_kind_needs_three_words_and_names_animals_and_months():
    assert name_kind(["cat", "dog"], [1, 1]) is None
    assert name_kind(["cat", "dog", "horse", "cow"], [4, 3, 2, 1]).name == "animals"
    assert name_kind(["january", "march", "june"], [1, 1, 1]).name == "months"
    assert name_kind(["table", "run", "happy", "seven", "london"], [1, 1, 1, 1, 1]) is None
    with pytest.raises(ValueError):
        name_kind(["cat"], [1, 2])


def test_naming_can_be_turned_off():
    explanation = get_explainer("token-stats", name_kinds=False).explain(_records(COLOURS))

    assert explanation.text.startswith("the tokens ") and "kind" not in explanation.metadata
