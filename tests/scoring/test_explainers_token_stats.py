import pytest

from scoring.core.formats import rule_from_spec
from scoring.core.judges import LiteralJudge
from scoring.core.records import ActivationRecord
from scoring.core.scorers import get_scorer
from scoring.core.synthetic import (
    CHAPTER_AT_START,
    COLOUR_CAT,
    GOOD_NOT_NEGATED,
    ICE_CREAM,
    PLANTED_RULES,
    generate_corpus,
    planted_example_set,
)
from scoring.explainers import EXPLAINERS, ExplainerError, get_explainer


@pytest.fixture(scope="module", params=PLANTED_RULES, ids=lambda rule: rule.name)
def planted(request):
    examples = planted_example_set(generate_corpus(request.param, n_windows=800))
    return request.param, examples, [*examples.top, *examples.random, *examples.hard_negatives]


def test_the_registry_holds_the_three_explainers():
    assert set(EXPLAINERS) == {"token-stats", "openai-compatible", "local-transformers"}
    with pytest.raises(ExplainerError, match="Unknown explainer 'oracle'; choose one of local-transformers"):
        get_explainer("oracle")


def test_it_records_its_method_and_what_it_computed_with(planted):
    _, _, records = planted
    explanation = get_explainer("token-stats").explain(records)
    assert (explanation.method, explanation.model) == ("token-stats", "token statistics")
    assert explanation.metadata["tokens"][0]["lift"] > 2
    assert explanation.to_json()["explanation"] == explanation.text


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            COLOUR_CAT,
            'the token "cat" right after a colour word ("black", "brown", "ginger", "grey", "red" or "white")',
        ),
        (CHAPTER_AT_START, 'the token "chapter" in the first 4 tokens of the text'),
        (ICE_CREAM, 'the phrase "ice cream"'),
        (GOOD_NOT_NEGATED, 'the token "good", unless it is negated'),
    ],
    ids=lambda value: getattr(value, "name", ""),
)
def test_with_hard_negatives_it_finds_the_context_of_each_planted_rule(rule, expected):
    examples = planted_example_set(generate_corpus(rule, n_windows=800))
    records = [*examples.top, *examples.random, *examples.hard_negatives]
    assert get_explainer("token-stats").explain(records).text == expected


def test_its_explanations_beat_the_context_blind_ones_under_the_offline_judge(planted):
    rule, examples, records = planted
    text = get_explainer("token-stats").explain(records).text
    for scorer in ("detection", "fuzzing", "simulation"):
        ours = get_scorer(scorer).score(text, examples, judge=LiteralJudge()).value
        blind = get_scorer(scorer).score(rule.blind_explanation, examples, judge=LiteralJudge()).value
        assert ours >= 0.98 and ours - blind >= 0.15, (scorer, text)


def test_it_writes_an_exact_rule_when_the_context_is_the_previous_token(planted):
    rule, examples, records = planted
    explanation = get_explainer("token-stats").explain(records)
    if rule is not COLOUR_CAT:
        assert explanation.rule is None
        return
    assert explanation.rule == "[black|brown|ginger|grey|red|white] *cat*"
    assert get_scorer("rule").score(explanation.text, examples, rule=rule_from_spec(explanation.rule)).value == 1.0


def test_without_silent_occurrences_it_names_the_token_alone():
    records = [ActivationRecord(["a", "black", "cat"], [0, 0, 5]), ActivationRecord(["the", "dog"], [0, 0])]
    explanation = get_explainer("token-stats").explain(records)
    assert explanation.text == 'the token "cat"' and explanation.rule == "*cat*"


def test_several_main_tokens_are_listed_together():
    records = [
        ActivationRecord(["a", "cat"], [0, 5]),
        ActivationRecord(["a", "dog"], [0, 5]),
        ActivationRecord(["the", "sun", "rose"], [0, 0, 0]),
    ]
    explanation = get_explainer("token-stats").explain(records)
    assert explanation.text == 'the tokens "cat" and "dog"' and explanation.rule == "*[cat|dog]*"


def test_a_feature_that_never_fires_cannot_be_explained():
    with pytest.raises(ExplainerError, match="nothing to explain"):
        get_explainer("token-stats").explain([ActivationRecord(["a", "b"], [0, 0])])
