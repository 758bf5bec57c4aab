import math
import random

from django.template import Context, Template

from features.core.highlighting import token_spans
from features.token_html import activation_snippet_html, activation_tokens_html, spans_html

# The include the feature page rendered every example with before the tokens were built in Python.
TEMPLATE_MARKUP = Template(
    '<span class="tokens">{% for span in spans %}<span class="{{ span.css_class }}"{% if span.style %} '
    'style="{{ span.style }}"{% endif %} title="{{ span.title }}">{{ span.text }}</span>{% endfor %}</span>'
)

TOKENS = ["[CLS]", "the", " cat", "<b>", "&amp;", "'quote'", '"x"', "<s>", "<|endoftext|>", "", "[SEP]", "[x]"]


def random_case(rng: random.Random) -> tuple[list[str], list[float], float, int | None]:
    length = rng.randint(0, 40)
    tokens = [rng.choice(TOKENS) for _ in range(length)]
    values = [
        rng.choice([0.0, -0.0, -1.5, 0.0004, 1e-320, 2.5, 7.25, 100.0, math.nan, math.inf, -math.inf]) for _ in tokens
    ]
    values = values[: rng.randint(0, len(values))]  # fewer values than tokens reads as zeros
    scale = rng.choice([0.0, -1.0, 1.0, 7.25, 50.0])
    max_index = rng.choice([None, *range(length)]) if length else None
    return tokens, values, scale, max_index


def test_the_spans_render_as_the_template_rendered_them():
    rng = random.Random(0)
    for _ in range(300):
        tokens, values, scale, max_index = random_case(rng)
        spans = token_spans(tokens, values, scale=scale, max_index=max_index)
        assert spans_html(spans) == TEMPLATE_MARKUP.render(Context({"spans": spans}))


def test_the_one_pass_rendering_equals_the_spans_rendering():
    rng = random.Random(1)
    for _ in range(300):
        tokens, values, scale, max_index = random_case(rng)
        expected = spans_html(token_spans(tokens, values, scale=scale, max_index=max_index))
        assert activation_tokens_html(tokens, values, scale=scale, max_index=max_index) == expected


def test_markup_in_tokens_is_escaped():
    html = activation_tokens_html(["<script>", "a&b"], [1.0, 0.0], scale=1.0, max_index=0)
    assert "<script>" not in html and "&lt;script&gt;" in html and "a&amp;b" in html


def test_a_snippet_is_the_whole_renderings_spans_around_the_peak_with_ellipses_where_the_window_goes_on():
    tokens = [f"t{i}" for i in range(100)]
    values = [float(i % 7) for i in range(100)]
    whole = activation_tokens_html(tokens, values, scale=6.0, max_index=90)
    snippet = activation_snippet_html(tokens, values, scale=6.0, max_index=90)
    spans = whole.removeprefix('<span class="tokens">').removesuffix("</span>").split("</span>")[:-1]
    ellipsis = '<span class="elided" title="the window goes on">…</span>'
    assert snippet == f'<span class="tokens snippet">{ellipsis}{"</span>".join(spans[76:100])}</span></span>'
    assert 'class="tok max"' in snippet and ">t90<" in snippet and ">t75<" not in snippet


def test_a_short_windows_snippet_is_all_of_it_with_no_ellipsis():
    snippet = activation_snippet_html(["a", "b"], [0.0, 1.0], scale=1.0, max_index=1)
    assert "elided" not in snippet and ">a<" in snippet and ">b<" in snippet
