from explanations.core.diffing import DiffPiece, has_changes, word_diff


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
