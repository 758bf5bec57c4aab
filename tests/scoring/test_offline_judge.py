import pytest

from scoring.core.errors import ScoringInputError
from scoring.core.judges import LiteralJudge, OracleJudge, parse_explanation


def hits(explanation: str, text: str) -> list[str]:
    tokens = text.split()
    return [token for token, hit in zip(tokens, parse_explanation(explanation).matches(tokens), strict=True) if hit]


def test_it_reads_a_salient_word_as_the_token_that_fires():
    assert hits("the word cat", "the cat saw a black cat") == ["cat", "cat"]
    assert hits("mentions of rivers", "a river and two Rivers") == ["river", "Rivers"]


def test_it_reads_a_context_clause_with_a_word_class():
    assert hits("the word cat right after a colour word", "the cat saw a black cat") == ["cat"]
    assert hits('"cat" right after a colour word ("black", "white")', "a grey cat and the cat") == ["cat"]


def test_it_reads_following_and_preceding_words():
    assert hits('"york" after "new"', "new york and old york") == ["york"]
    assert hits('"ice" followed by "cream"', "ice cream and ice cold") == ["ice"]


def test_it_reads_a_phrase_as_all_of_its_tokens():
    assert hits("the phrase ice cream", "ice cream not ice or cream") == ["ice", "cream"]
    assert hits('"ice cream"', "ice cream not ice") == ["ice", "cream"]


def test_it_reads_negation_and_exclusions():
    assert hits("the word good unless it is negated", "good not good never very good and then good") == ["good", "good"]
    assert hits('the token "good", except after "so"', "so good very good") == ["good"]


def test_it_reads_positions():
    assert hits("the word chapter in the first four tokens of the text", "chapter one and then a chapter") == [
        "chapter"
    ]
    assert hits("the word chapter at the start of the text", "a chapter x y z chapter") == ["chapter"]
    assert hits('"the" at the start of a sentence', "the cat . the dog the end") == ["the", "the"]


def test_an_explanation_with_nothing_to_match_predicts_silence():
    assert hits("", "the cat") == []
    assert hits("it is about things", "the cat") == []


def test_the_offline_judge_prefers_the_machine_checkable_rule():
    judge = LiteralJudge(rule=lambda tokens: [token == "dog" for token in tokens])
    assert judge.simulate("the word cat", [["cat", "dog"]]) == [[0.0, 10.0]]
    assert judge.detect("the word cat", [["cat"], ["dog"]]) == [0.0, 1.0]
    assert judge.fuzz("the word cat", [(["dog", "dog", "cat"], [0, 2])]) == [0.5]


def test_a_rule_that_answers_for_the_wrong_number_of_tokens_is_an_error():
    judge = LiteralJudge(rule=lambda tokens: [True])
    with pytest.raises(ScoringInputError, match="matched 1 positions of a 2-token window"):
        judge.simulate("x", [["a", "b"]])


def test_the_oracle_applies_literal_meanings_and_knows_only_its_explanations():
    judge = OracleJudge({"cats": lambda tokens, i: tokens[i] == "cat"})
    assert judge.simulate("cats", [["a", "cat"]]) == [[0.0, 10.0]]
    with pytest.raises(ScoringInputError, match="no meaning for 'dogs'"):
        judge.detect("dogs", [["a"]])
