"""Key tokens of an explanation, the window index hard negatives are mined from, and what a score means."""

from scoring.core.meaning import score_meaning
from scoring.core.mining import WindowTokenIndex, explanation_key_tokens


def test_the_key_tokens_are_what_it_fires_on_not_its_context():
    assert explanation_key_tokens("the word cat right after a colour word") == ["cat"]
    assert explanation_key_tokens('"cat" or "dog", unless negated') == ["cat", "dog"]
    assert explanation_key_tokens("the phrase ice cream") == ["ice", "cream"]


def test_a_rule_adds_its_target_tokens():
    rule = {"source": "[black|white] *[cat|kitten]*", "pattern": [["black", "white"], ["cat", "kitten"]], "target": 1}
    assert explanation_key_tokens("felines", rule=rule) == ["cat", "kitten", "feline"]


def test_the_index_finds_windows_with_any_key_token_in_a_seeded_order():
    index = WindowTokenIndex(
        [(1, ["The", " cat", " sat"]), (2, ["a", "dog"]), (3, ["CAT", "food"]), (4, ["nothing", "here"])]
    )
    assert sorted(index.containing(["cat"])) == [1, 3]
    assert sorted(index.containing(["cat", "dog"], exclude=[3])) == [1, 2]
    assert index.containing(["cat", "dog"], seed=7) == index.containing(["cat", "dog"], seed=7)
    assert len(index.containing(["cat", "dog"], limit=2)) == 2
    assert index.containing(["bird"]) == [] and index.size == 4


def test_a_score_says_what_its_number_means():
    details = {"judge": "offline", "auc": None}
    mix = {"top": 20, "intervals": 10, "random": 10, "hard_negatives": 6}
    assert score_meaning("detection", 0.8125, details, mix) == (
        "detection 0.812: balanced accuracy of telling which windows the feature fires in, on 46 examples incl. "
        "6 hard negatives (judge: offline); 0.5 = chance, 1 = perfect"
    )
    spans = {**mix, "span_tokens": 32}  # a dense feature's examples, cut from their windows
    assert ", on 46 spans of 32 tokens incl. 6 hard negatives (" in score_meaning("detection", 0.8125, details, spans)
    assert score_meaning("human", 0.75, {}, {"verdicts": 4}).startswith("human 0.750: share of Verify-mode players")
