"""Template tags of the game: a window of tokens with its marked token (and, only once revealed, its true
activations), the player's character as pixel art, and the game stats on a profile page."""

from dataclasses import replace

from django import template
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join

from features.core.highlighting import is_special_token, token_spans

from .. import selectors
from ..core.pixelart import character_layers
from ..models import PlayerProfile

register = template.Library()

BEFORE, AFTER = 30, 12


def window_spans(tokens: list[str], marked, values: list[float] | None = None, *, trim: bool = True) -> dict:
    """Spans for a window, as the one token renderer's TokenSpans (features/token_html.py). `marked` is a position
    or a list of them; `values` (0-10) colour the tokens and are given only after the answer: without them the
    spans carry nothing but the text and the mark."""
    marks = set(marked) if isinstance(marked, list | tuple | set) else {marked}
    if len(tokens) > 1 and not any(token[:1].isspace() for token in tokens[1:]):
        # Bare words (the camp's synthetic texts) get the spaces that display tokens carry themselves.
        tokens = [tokens[0], *(" " + token for token in tokens[1:])]
    focus = min(marks) if marks else 0
    start, end = (max(0, focus - BEFORE), min(len(tokens), focus + AFTER + 1)) if trim else (0, len(tokens))
    shown_values = [float(value) for value in values] if values is not None else []
    coloured = token_spans(tokens, shown_values, scale=10.0, max_index=None)  # the player's 0-10 scale
    spans = []
    for position in range(start, end):
        span = coloured[position]
        if span.is_special or is_special_token(span.text.strip()):
            continue  # [CLS], [SEP], <|endoftext|>: noise to a player, and a tell on gold cards
        stripped = span.text.lstrip()
        known = position < len(shown_values)
        # A token's leading space goes before its span, so a marked token's outline hugs the word.
        spans.append(
            replace(
                span,
                text=stripped or span.text,
                # A token that is all whitespace (a document break, a newline) is its own text, not its lead too.
                lead=span.text[: len(span.text) - len(stripped)] if stripped else "",
                marked=position in marks,
                shows_value=known,
                note=f"{span.value:.1f}" if known else "",
            )
        )
    return {"spans": spans, "cut_left": start > 0, "cut_right": end < len(tokens)}


@register.inclusion_tag("gameplay/_window.html")
def game_window(tokens, marked, values=None, trim=True):
    return window_spans(list(tokens), marked, None if values is None else list(values), trim=trim)


@register.simple_tag
def character(profile, title: str = "") -> str:
    """The player's character and dog in their outfit: static pixel-art layers stacked (pixelart.character_layers)."""
    equipped = (profile.equipped if profile is not None else {}) or {}
    layers = format_html_join(
        "", '<img src="{}" alt="" width="160" height="120">', ((static(p),) for p in character_layers(equipped))
    )
    return format_html(
        '<span class="character" role="img" aria-label="{}">{}</span>', title or "A character and a dog", layers
    )


@register.inclusion_tag("gameplay/_profile_stats.html")
def game_stats(person, viewer):
    """The game section of a profile page: level, streak, achievements, character; for its owner also the
    balance and what Verify said about their explanations."""
    # A page view never writes: a player who has not played yet gets an unsaved, empty profile.
    profile = PlayerProfile.objects.filter(user=person).first() or PlayerProfile(user=person)
    is_owner = viewer is not None and viewer.is_authenticated and viewer.pk == person.pk
    return {
        "person": person,
        "profile": profile,
        "progress": profile.progress,
        "achievements": selectors.achievements_of(user=person),
        "is_owner": is_owner,
        "verified": selectors.verified_explanations(user=person, limit=5),
    }


@register.filter
def percent0(value) -> str:
    """0.734 -> '73%'."""
    if value is None:
        return "–"
    return f"{100 * float(value):.0f}%"


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)
