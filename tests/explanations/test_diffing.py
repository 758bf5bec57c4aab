from explanations.core.diffing import DiffPiece, changed_share, has_changes, is_substantive_change, word_diff


def test_a_word_diff_lists_removals_before_additions_in_reading_order():
    pieces = word_diff("the cat sat on the mat", "the black cat sat on a mat")

    assert pieces == [
        DiffPiece("same", "the"),
        DiffPiece("added", " black"),
        DiffPiece("same", " cat sat on "),
        DiffPiece("removed", "the"),
        DiffPiece("added", "a"),
        DiffPiece("same", " mat"),
    ]


def test_joining_the_kept_and_added_pieces_gives_the_new_text():
    old, new = "fires on cat", "fires on the word cat after colours"
    pieces = word_diff(old, new)

    assert "".join(p.text for p in pieces if p.op != "removed") == new
    assert "".join(p.text for p in pieces if p.op != "added") == old


def test_identical_texts_have_no_changes():
    assert not has_changes(word_diff("same text", "same text"))
    assert has_changes(word_diff("a", "b"))


def test_a_typo_fix_is_not_substantive_but_a_new_claim_is():
    old = "the word cat after a colour word such as black or white"
    assert not is_substantive_change(old, old.replace("colour", "color"), old_rule=None, new_rule=None)
    assert is_substantive_change(old, "VANDALISM lol", old_rule=None, new_rule=None)
    assert is_substantive_change(old, "the word dog after a number", old_rule=None, new_rule=None)


def test_removing_or_replacing_a_rule_is_substantive_and_adding_one_is_not():
    rule = {"source": "*cat*"}
    assert is_substantive_change("cats", "cats", old_rule=rule, new_rule=None)
    assert is_substantive_change("cats", "cats", old_rule=rule, new_rule={"source": "*dog*"})
    assert not is_substantive_change("cats", "cats", old_rule=None, new_rule=rule)


def test_the_changed_share_counts_words_against_the_longer_text():
    assert changed_share("a b c d", "a b c d") == 0.0
    assert changed_share("a b c d", "a b c e") == 0.25
    assert changed_share("a b", "c d") == 1.0
    assert changed_share("", "") == 0.0
