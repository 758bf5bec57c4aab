import pytest

from explanations.core.rules import Rule, RuleError, rule_matches, rule_parse


def test_a_rule_with_alternatives_and_a_target_parses_to_its_stored_form():
    rule = rule_parse("[black|white|grey]  *cat*")

    assert rule.to_json() == {
        "source": "[black|white|grey] *cat*",
        "pattern": [["black", "grey", "white"], ["cat"]],
        "target": 1,
    }
    assert Rule.from_json(rule.to_json()) == rule


def test_it_marks_the_target_token_only_where_the_whole_pattern_matches():
    tokens = ["[CLS]", " The", " black", " cat", " cat", " White", "Cat", "[SEP]"]

    assert rule_matches("[black|white] *cat*", tokens) == [False, False, False, True, False, False, True, False]


def test_matching_ignores_case_and_the_space_a_display_token_carries():
    assert rule_matches(rule_parse("*Def*"), [" def", "DEF", "define"]) == [True, True, False]


def test_a_question_mark_matches_any_token_and_counts_as_a_position():
    assert rule_matches("*def* ?", ["def", "foo", "def"]) == [True, False, False]
    assert rule_matches("? *b*", ["b", "a", "b"]) == [False, False, True]


def test_the_stored_dict_is_accepted_as_well_as_the_text():
    stored = rule_parse("[a|b] *c*").to_json()

    assert rule_matches(stored, ["a", "c", "b", "c"]) == [False, True, False, True]


def test_backslash_makes_special_characters_literal():
    assert rule_parse("*\\*x* \\?").to_json()["pattern"] == [["*x"], ["?"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The rule is empty."),
        ("cat", "Mark the token the feature fires on with stars"),
        ("*cat* *dog*", "Mark exactly one target token"),
        ("[a|] *b*", "no empty alternative"),
        ("[a *b*", "Inside [...] list tokens separated by |"),
        ("*cat", "closing * is missing"),
        ("cat*", "Put a * on both sides of the target"),
        ("**", "Put the target token between the stars"),
        ("*a* \\", "A backslash at the end escapes nothing"),
        ("[a|b]*c*", "spaces between elements"),
        ("[a|b] *c*d", "Separate the elements of a rule with spaces"),
        (" ".join(["a"] * 16) + " *b*", "at most 16 elements"),
    ],
)
def test_bad_rules_are_rejected_with_a_message_that_says_what_to_change(text, message):
    with pytest.raises(RuleError, match=message.replace("[", r"\[").replace("*", r"\*").replace("|", r"\|")):
        rule_parse(text)
