import json

import pytest

from scoring.core.errors import ScoringInputError
from scoring.core.examples import ExampleSet
from scoring.core.judges import OracleJudge
from scoring.core.records import ActivationRecord
from scoring.core.scorers import SCORERS, FuzzingScorer, HumanVerdict, Scorer, get_scorer, register_scorer

CAT = {"the word cat": lambda tokens, i: tokens[i] == "cat", "nothing": lambda tokens, i: False}


def record(text: str, *values: float) -> ActivationRecord:
    tokens = text.split()
    return ActivationRecord(tokens, list(values) + [0.0] * (len(tokens) - len(values)))


EXAMPLES = ExampleSet(
    top=[record("a black cat", 0, 0, 9), record("my grey cat sat", 0, 0, 7)],
    random=[record("the dog ran"), record("rain fell")],
    hard_negatives=[record("the cat sat"), record("cat food")],
    key_tokens=("cat",),
)


class GradedJudge(OracleJudge):
    """Probabilities instead of yes/no: 0.9 where the oracle says yes, 0.4 where it says no."""

    def detect(self, explanation, windows):
        return [0.9 if p else 0.4 for p in super().detect(explanation, windows)]


def test_the_registry_holds_the_six_scorers():
    assert set(SCORERS) == {"simulation", "detection", "fuzzing", "embedding", "rule", "human"}
    assert all(SCORERS[name].summary for name in SCORERS), "every scorer has a tooltip summary"


def test_an_unknown_scorer_is_refused_with_the_known_names():
    with pytest.raises(ScoringInputError, match="Unknown scorer 'magic'; choose one of detection, embedding"):
        get_scorer("magic")


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="already registered"):
        register_scorer("simulation")(type("Again", (Scorer,), {}))


def test_simulation_correlates_simulated_with_true_activations_and_keeps_each_prediction():
    result = get_scorer("simulation").score("the word cat", EXAMPLES, judge=OracleJudge(CAT))
    assert 0 < result.value < 1, "the silent cats of the hard negatives cost it"
    assert result.details["without_hard_negatives"] > result.value
    first = result.details["examples"][0]
    assert first["kind"] == "top" and first["predicted"] == [0.0, 0.0, 10.0]
    assert result.example_mix == EXAMPLES.mix()
    json.dumps(result.to_json())  # stored as JSON


def test_a_constant_simulation_scores_zero_and_says_why():
    result = get_scorer("simulation").score("nothing", EXAMPLES, judge=OracleJudge(CAT))
    assert result.value == 0.0
    assert "same activation on every token" in result.details["note"]


def test_simulation_needs_some_activity_among_the_examples():
    silent = ExampleSet(top=[record("the cat")], random=[record("a dog")])
    with pytest.raises(ScoringInputError, match="same activation everywhere"):
        get_scorer("simulation").score("the word cat", silent, judge=OracleJudge(CAT))


def test_detection_is_balanced_accuracy_with_a_breakdown_by_kind():
    result = get_scorer("detection").score("the word cat", EXAMPLES, judge=OracleJudge(CAT))
    assert result.value == pytest.approx((1.0 + 0.5) / 2)
    assert result.details["by_kind"]["hard_negative"] == {"n": 2, "correct": 0, "accuracy": 0.0}
    assert result.details["by_kind"]["random"]["accuracy"] == 1.0
    assert result.details["auc"] is None, "a yes/no judge gives no probabilities to rank"
    assert [row["correct"] for row in result.details["examples"]] == [True, True, True, True, False, False]


def test_detection_reports_auc_when_the_judge_gives_probabilities():
    result = get_scorer("detection").score("the word cat", EXAMPLES, judge=GradedJudge(CAT))
    assert result.details["auc"] == pytest.approx(0.75)  # positives 0.9 beat 2 of 4 negatives, tie none
    assert result.value == pytest.approx(0.75)


def test_detection_needs_active_and_silent_examples():
    only_active = ExampleSet(top=[record("a black cat", 0, 0, 9)])
    with pytest.raises(ScoringInputError, match="needs both active and silent examples; all 1 are active"):
        get_scorer("detection").score("the word cat", only_active, judge=OracleJudge(CAT))


def test_fuzzing_marks_active_tokens_silent_key_tokens_and_random_ones():
    items = FuzzingScorer(seed=1).items(EXAMPLES)
    by_marking = {(example.kind, how, tuple(marked), label) for example, how, marked, label in items}
    assert ("top", "active", (2,), True) in by_marking
    assert ("hard_negative", "key_token", (1,), False) in by_marking  # "cat" in "the cat sat"
    assert ("hard_negative", "key_token", (0,), False) in by_marking  # "cat" in "cat food"
    assert any(how == "random" and kind == "top" and not label for kind, how, _, label in by_marking)
    result = FuzzingScorer(seed=1).score("the word cat", EXAMPLES, judge=OracleJudge(CAT))
    assert result.details["by_kind"]["hard_negative"]["accuracy"] == 0.0
    assert result.value < 1.0


def test_the_rule_scorer_gives_exact_precision_recall_and_f1():
    def rule(tokens):
        return [token == "cat" for token in tokens]

    result = get_scorer("rule").score("the word cat", EXAMPLES, rule=rule)
    assert result.details["precision"] == 0.5 and result.details["recall"] == 1.0
    assert result.value == pytest.approx(2 / 3)
    assert result.details["examples"][4]["false_positives"] == 1


def test_the_rule_scorer_needs_a_rule():
    with pytest.raises(ScoringInputError, match="needs the explanation's machine-checkable rule"):
        get_scorer("rule").score("the word cat", EXAMPLES)


def test_the_human_score_is_the_weighted_share_of_agreeing_verifiers():
    verdicts = [HumanVerdict("ann", True, 0.9), HumanVerdict("bob", False, 0.3), HumanVerdict("cy", True, 0.0)]
    result = get_scorer("human").score("the word cat", None, verdicts=verdicts)
    assert result.value == pytest.approx(0.9 / 1.2)
    assert result.example_mix == {"verdicts": 3}
    assert result.details["verdicts"][1] == {"verifier": "bob", "agrees": False, "weight": 0.3}


@pytest.mark.parametrize(
    ("verdicts", "message"),
    [
        ([], "no verdicts|none yet"),
        ([HumanVerdict("a", True, -1)], "weights are >= 0"),
        ([HumanVerdict("a", True, 0)], "weight 0"),
    ],
)
def test_the_human_score_refuses_unusable_verdicts(verdicts, message):
    with pytest.raises(ScoringInputError, match=message):
        get_scorer("human").score("x", None, verdicts=verdicts)


def test_an_empty_explanation_or_no_examples_is_refused():
    with pytest.raises(ScoringInputError, match="explanation is empty"):
        get_scorer("detection").score("  ", EXAMPLES, judge=OracleJudge(CAT))
    with pytest.raises(ScoringInputError, match="no examples"):
        get_scorer("detection").score("the word cat", ExampleSet(), judge=OracleJudge(CAT))


def test_a_judge_answer_out_of_range_is_refused_not_clipped():
    class Broken(OracleJudge):
        def detect(self, explanation, windows):
            return [1.5] * len(windows)

    with pytest.raises(ScoringInputError, match=r"outside \[0, 1\]"):
        get_scorer("detection").score("the word cat", EXAMPLES, judge=Broken(CAT))


def test_fuzzing_asks_about_the_silent_key_token_of_a_hard_negative_that_fires_elsewhere():
    partly = record("the cat met a fox", 0, 0, 0, 0, 8)
    examples = ExampleSet(top=[record("a black cat", 0, 0, 9)], hard_negatives=[partly], key_tokens=("cat",))
    marked = {
        (how, tuple(positions), label)
        for ex, how, positions, label in FuzzingScorer().items(examples)
        if ex.kind == "hard_negative"
    }
    assert ("key_token", (1,), False) in marked and ("active", (4,), True) in marked
