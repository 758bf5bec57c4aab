"""Highlighted tokens as HTML, built in Python: a feature page shows thousands of tokens, and a template
include per token cost most of its rendering time.

The markup and the colouring rules are features/highlighting.py's (`token_spans`); `activation_tokens_html`
is the same rules in one pass without a TokenSpan per token, and the tests check that both give the same HTML.
"""

import functools
from collections.abc import Iterable, Sequence
from html import escape  # what Django's autoescape does: & < > " and ' escaped

from django.utils.safestring import SafeString, mark_safe

from .highlighting import HIGHLIGHT_RGB, TokenSpan, is_special_token

# A vocabulary's tokens recur in every window: each is escaped once.
_escape = functools.lru_cache(maxsize=1 << 16)(escape)

# Special tokens are bracketed ([CLS], <s>, <|endoftext|>): the regular expression only runs on those.
_SPECIAL_FIRST_CHARACTERS = ("[", "<")


def _span(css_class: str, style: str, title: str, text: str) -> str:
    style_attribute = f' style="{style}"' if style else ""
    return f'<span class="{css_class}"{style_attribute} title="{escape(title)}">{escape(text)}</span>'


def spans_html(spans: Iterable[TokenSpan]) -> SafeString:
    """`<span class="tokens">` holding one span per token. No whitespace between spans: the container keeps
    whitespace (pre-wrap), so it would show."""
    inner = "".join(_span(span.css_class, span.style, span.title, span.text) for span in spans)
    return mark_safe(f'<span class="tokens">{inner}</span>')


def activation_tokens_html(
    tokens: Sequence[str], values: Sequence[float], *, scale: float, max_index: int | None
) -> SafeString:
    """`spans_html(token_spans(tokens, values, scale=scale, max_index=max_index))`, several times faster."""
    parts = ['<span class="tokens">']
    append = parts.append
    n_values = len(values)
    for position, text in enumerate(tokens):
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
    append("</span>")
    return mark_safe("".join(parts))
