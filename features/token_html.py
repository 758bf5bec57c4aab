"""Highlighted tokens as HTML, built in Python: a feature page shows thousands of tokens, and a template
include per token cost most of its rendering time.

This is the one token renderer. The colouring rules are features/core/highlighting.py's (`token_spans`), and
`spans_html` writes any TokenSpans: the feature page's examples, live inference, the text page (tokens as links),
score breakdowns and the game's cards (marked tokens, values hidden until the answer, the `gtok` class).
`activation_tokens_html` is `spans_html(token_spans(...))` in one pass without a TokenSpan per token, for the
thousands of tokens of a feature page; the tests check that both give the same HTML.
"""

import functools
from collections.abc import Iterable, Sequence
from html import escape  # what Django's autoescape does: & < > " and ' escaped

from django.utils.safestring import SafeString, mark_safe

from .core.highlighting import HIGHLIGHT_RGB, TokenSpan, is_special_token, snippet_bounds

# A vocabulary's tokens recur in every window: each is escaped once.
_escape = functools.lru_cache(maxsize=1 << 16)(escape)

# Special tokens are bracketed ([CLS], <s>, <|endoftext|>): the regular expression only runs on those.
_SPECIAL_FIRST_CHARACTERS = ("[", "<")


def _span(span: TokenSpan, base_class: str) -> str:
    style, title = span.style, span.title
    attributes = f' href="{escape(span.href)}"' if span.href and not span.is_special else ""
    attributes += f' style="{style}"' if style else ""
    attributes += f' title="{escape(title)}"' if title else ""
    tag = "a" if span.href and not span.is_special else "span"
    return f'{escape(span.lead)}<{tag} class="{span.classes(base_class)}"{attributes}>{escape(span.text)}</{tag}>'


def spans_html(spans: Iterable[TokenSpan], *, base_class: str = "tok", container: bool = True) -> SafeString:
    """One element per token (a link where the span has an href), in `<span class="tokens">` unless the caller
    writes its own container. No whitespace between spans: the container keeps whitespace (pre-wrap), so it
    would show."""
    inner = "".join(_span(span, base_class) for span in spans)
    return mark_safe(f'<span class="tokens">{inner}</span>' if container else inner)


def activation_tokens_html(
    tokens: Sequence[str], values: Sequence[float], *, scale: float, max_index: int | None
) -> SafeString:
    """`spans_html(token_spans(tokens, values, scale=scale, max_index=max_index))`, several times faster."""
    return mark_safe(
        f'<span class="tokens">{_activation_spans(tokens, values, 0, len(tokens), scale, max_index)}</span>'
    )


def activation_snippet_html(
    tokens: Sequence[str], values: Sequence[float], *, scale: float, max_index: int | None
) -> SafeString:
    """About one line of an example: the SNIPPET_TOKENS tokens centred on its strongest token, an ellipsis
    where the window goes on. The same spans as `activation_tokens_html` writes for those tokens."""
    start, end = snippet_bounds(len(tokens), max_index or 0)
    before = '<span class="elided" title="the window goes on">…</span>' if start > 0 else ""
    after = '<span class="elided" title="the window goes on">…</span>' if end < len(tokens) else ""
    inner = _activation_spans(tokens, values, start, end, scale, max_index)
    return mark_safe(f'<span class="tokens snippet">{before}{inner}{after}</span>')


def _activation_spans(
    tokens: Sequence[str], values: Sequence[float], start: int, end: int, scale: float, max_index: int | None
) -> str:
    parts = []
    append = parts.append
    n_values = len(values)
    for position in range(start, end):
        text = tokens[position]
        max_class = " max" if position == max_index else ""
        if text.startswith(_SPECIAL_FIRST_CHARACTERS) and is_special_token(text):
            append(f'<span class="tok special{max_class}" title="special token">{_escape(text)}</span>')
            continue
        value = float(values[position]) if position < n_values else 0.0
        if value - value != 0.0:  # NaN or infinite
            value = 0.0
        if value > 0.0 and scale > 0 and (intensity := min(value / scale, 1.0)) > 0:
            append(
                f'<span class="tok{max_class}" style="background-color: rgba({HIGHLIGHT_RGB}, {intensity:.3f})" '
                f'title="{value:.3f}">{_escape(text)}</span>'
            )
        else:
            append(f'<span class="tok{max_class}" title="{value:.3f}">{_escape(text)}</span>')
    return "".join(parts)
