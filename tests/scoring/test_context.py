"""Scores must respect context: ground truth from synthetic features with planted rules.

Each rule has a context-aware explanation (its literal meaning is the rule), a context-blind one ("the word
cat") and an unrelated one. An oracle judge applies each explanation's literal meaning exactly, so any
difference in score comes from the examples alone: on top and random examples the blind explanation
(nearly) ties; with hard negatives (same token, feature silent) the context-aware one wins clearly.
"""

import pytest

from scoring.core.judges import LiteralJudge, OracleJudge
from scoring.core.records import normalise_token
from scoring.core.scorers import get_scorer
from scoring.core.synthetic import PLANTED_RULES, RANDOM_EXPLANATION, generate_corpus, planted_example_set

SCORERS = ("detection", "fuzzing", "simulation")
# The least margin by which the context-aware explanation must beat the blind one with hard negatives.
CLEAR_MARGIN = {"detection": 0.2, "fuzzing": 0.15, "simulation": 0.15}
NEAR_TIE = 0.1


@pytest.fixture(scope="module", params=PLANTED_RULES, ids=lambda rule: rule.name)
def planted(request):
    rule = request.param
    examples = planted_example_set(generate_corpus(rule, n_windows=800, seed=0), seed=0)
    return rule, examples, OracleJudge(rule.meanings())


def scores(scorer: str, examples, judge, *explanations: str) -> list[float]:
    return [get_scorer(scorer).score(explanation, examples, judge=judge).value for explanation in explanations]


def test_the_planted_rule_names_four_different_shapes_of_context():
    assert [rule.name for rule in PLANTED_RULES] == ["colour-cat", "chapter-at-start", "ice-cream", "good-not-negated"]


def test_the_example_set_draws_hard_negatives_with_the_key_token_silent(planted):
    rule, examples, _ = planted
    assert examples.mix() == {"top": 20, "intervals": 0, "random": 20, "hard_negatives": 20}
    keys = set(examples.key_tokens)
    for negative in examples.hard_negatives:
        positions = [i for i, token in enumerate(negative.tokens) if normalise_token(token) in keys]
        assert positions and all(negative.activations[i] == 0 for i in positions)


@pytest.mark.parametrize("scorer", SCORERS)
def test_on_top_and_random_examples_alone_the_context_blind_explanation_nearly_ties(planted, scorer):
    rule, examples, judge = planted
    aware, blind = scores(
        scorer, examples.without_hard_negatives(), judge, rule.context_explanation, rule.blind_explanation
    )
    assert aware >= 0.95
    assert 0 <= aware - blind <= NEAR_TIE, f"{rule.name} {scorer}: aware {aware:.3f}, blind {blind:.3f}"


@pytest.mark.parametrize("scorer", SCORERS)
def test_with_hard_negatives_the_context_aware_explanation_wins_by_a_clear_margin(planted, scorer):
    rule, examples, judge = planted
    aware, blind = scores(scorer, examples, judge, rule.context_explanation, rule.blind_explanation)
    assert aware >= 0.95
    assert aware - blind >= CLEAR_MARGIN[scorer], f"{rule.name} {scorer}: aware {aware:.3f}, blind {blind:.3f}"


@pytest.mark.parametrize("scorer", ["detection", "fuzzing"])
def test_the_blind_explanation_loses_exactly_on_the_hard_negatives(planted, scorer):
    rule, examples, judge = planted
    by_kind = get_scorer(scorer).score(rule.blind_explanation, examples, judge=judge).details["by_kind"]
    assert by_kind["hard_negative"]["accuracy"] == 0.0
    assert by_kind["top"]["accuracy"] == 1.0
    aware = get_scorer(scorer).score(rule.context_explanation, examples, judge=judge).details["by_kind"]
    assert aware["hard_negative"]["accuracy"] == 1.0


@pytest.mark.parametrize("scorer", SCORERS)
def test_an_unrelated_explanation_scores_at_chance(planted, scorer):
    _, examples, judge = planted
    (value,) = scores(scorer, examples, judge, RANDOM_EXPLANATION)
    chance = 0.0 if scorer == "simulation" else 0.5
    assert abs(value - chance) <= 0.15


def test_unrelated_explanations_average_to_chance_across_rules():
    values = []
    for rule in PLANTED_RULES:
        examples = planted_example_set(generate_corpus(rule, n_windows=800, seed=0), seed=0)
        values += scores("detection", examples, OracleJudge(rule.meanings()), RANDOM_EXPLANATION)
    assert abs(sum(values) / len(values) - 0.5) <= 0.07


@pytest.mark.parametrize("scorer", SCORERS)
def test_the_offline_judge_reads_every_test_explanation_as_the_oracle_does(planted, scorer):
    rule, examples, judge = planted
    explanations = (rule.context_explanation, rule.blind_explanation, RANDOM_EXPLANATION)
    assert scores(scorer, examples, LiteralJudge(), *explanations) == scores(scorer, examples, judge, *explanations)
