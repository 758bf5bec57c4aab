"""A game card's window: the one token renderer's spans, with a token's leading space before its outline."""

from gameplay.templatetags.game import window_spans


def test_a_document_break_is_shown_once_and_the_frame_not_at_all():
    spans = window_spans(["[CLS]", "Cats", " purr", "\n\n", "Dogs", " bark", "[SEP]"], 1, trim=False)["spans"]
    assert [(span.lead, span.text) for span in spans] == [
        ("", "Cats"), (" ", "purr"), ("", "\n\n"), ("", "Dogs"), (" ", "bark")
    ]  # fmt: skip
    assert [span.marked for span in spans] == [True, False, False, False, False]
