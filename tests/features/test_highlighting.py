import math

from features.core.highlighting import is_special_token, snippet_bounds, token_spans


def test_intensity_is_the_value_relative_to_the_scale():
    spans = token_spans([" a", " b"], [0.5, 2.0], scale=2.0, max_index=1)
    assert [span.intensity for span in spans] == [0.25, 1.0]
    assert spans[0].style == "background-color: rgba(249, 115, 22, 0.250)"


def test_intensity_is_clamped_to_one_and_negative_values_get_no_colour():
    spans = token_spans([" big", " negative"], [5.0, -1.0], scale=2.0, max_index=0)
    assert spans[0].intensity == 1.0
    assert spans[1].intensity == 0.0
    assert spans[1].style == ""


def test_the_title_carries_the_value_with_three_decimals():
    (span,) = token_spans([" cat"], [0.12345], scale=1.0, max_index=0)
    assert span.title == "0.123"


def test_the_max_token_is_marked():
    spans = token_spans([" a", " b", " c"], [0.1, 0.9, 0.2], scale=1.0, max_index=1)
    assert [span.css_class for span in spans] == ["tok", "tok max", "tok"]


def test_special_tokens_are_dimmed_and_count_as_zero():
    spans = token_spans(["[CLS]", " a", "[SEP]"], [3.0, 1.0, 3.0], scale=1.0, max_index=1)
    assert spans[0].css_class == "tok special"
    assert spans[0].value == 0.0 and spans[0].style == ""
    assert spans[2].title == "special token"


def test_special_token_detection_knows_common_tokenizers():
    for token in ["[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<|endoftext|>"]:
        assert is_special_token(token)
    for token in [" cat", "[", " [x]", "<b>", "<script>"]:
        assert not is_special_token(token)


def test_a_zero_scale_or_missing_or_non_finite_values_give_no_colour():
    assert token_spans([" a"], [1.0], scale=0.0, max_index=0)[0].intensity == 0.0
    spans = token_spans([" a", " b"], [math.nan], scale=1.0, max_index=None)
    assert [span.intensity for span in spans] == [0.0, 0.0]
    assert spans[0].title == "0.000"


def test_a_snippet_is_centred_on_the_peak_and_shifted_inwards_at_the_window_edges():
    assert snippet_bounds(128, 64) == (52, 76)
    assert snippet_bounds(128, 2) == (0, 24)  # near the start: still 24 tokens, the peak inside
    assert snippet_bounds(128, 127) == (104, 128)
    assert snippet_bounds(10, 7) == (0, 10)  # a short window is shown whole
    assert snippet_bounds(128, 500) == (104, 128)  # a peak index past the end is clamped, never an empty snippet
    for peak in range(128):
        start, end = snippet_bounds(128, peak)
        assert end - start == 24 and start <= peak < end
