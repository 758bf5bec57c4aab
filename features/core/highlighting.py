"""Per-token highlighting: how strongly each token is coloured, and how it is labelled. The rules of the one
token renderer (features/token_html.py writes the HTML): the feature page's examples, live inference, the text
page, score breakdowns and the game's cards all build TokenSpans here.

Pure Python so it can be tested without templates.
"""

import math
import re
from dataclasses import dataclass

# Tokenizers' markers for sequence boundaries and padding: [CLS], [SEP], <s>, </s>, <|endoftext|>, <pad>.
# Only known angle-bracket names, since text tokens such as "<b>" look the same.
SPECIAL_TOKEN = re.compile(r"^(\[[A-Z]+\]|</?s>|<(pad|unk|mask|bos|eos)>|<\|[a-z_]+\|>)$")

HIGHLIGHT_RGB = "249, 115, 22"


@dataclass(frozen=True)
class TokenSpan:
    text: str
    value: float
    intensity: float
    is_max: bool
    is_special: bool
    lead: str = ""  # whitespace written before the span, so that an outline hugs the word (the game's cards)
    marked: bool = False  # the token a game card asks about
    shows_value: bool = True  # False: neither colour nor value (a game card before its answer)
    href: str = ""  # the token is a link (the text page: to the token's row)
    note: str = ""  # what hovering shows instead of the value (the text page: the features that fire)

    @property
    def style(self) -> str:
        if self.intensity <= 0 or not self.shows_value:
            return ""
        return f"background-color: rgba({HIGHLIGHT_RGB}, {self.intensity:.3f})"

    @property
    def css_class(self) -> str:
        return self.classes("tok")

    def classes(self, base: str) -> str:
        """The span's CSS classes on `base` ("tok"; the game's cards use "gtok")."""
        names = [base]
        if self.is_special:
            names.append("special")
        if self.is_max:
            names.append("max")
        if self.marked:
            names.append("marked")
        return " ".join(names)

    @property
    def title(self) -> str:
        if self.is_special:
            return "special token"
        if self.note:
            return self.note
        return f"{self.value:.3f}" if self.shows_value else ""


def is_special_token(text: str) -> bool:
    return bool(SPECIAL_TOKEN.match(text))


def token_spans(tokens: list[str], values: list[float], *, scale: float, max_index: int | None) -> list[TokenSpan]:
    """One span per token. Intensity is value / scale clamped to [0, 1], so negative values stay uncoloured;
    `scale` is the feature's max activation, which makes colours comparable across its examples."""
    spans = []
    for position, text in enumerate(tokens):
        special = is_special_token(text)
        value = 0.0 if special or position >= len(values) else float(values[position])
        if not math.isfinite(value):
            value = 0.0
        intensity = min(max(value / scale, 0.0), 1.0) if scale > 0 else 0.0
        spans.append(TokenSpan(text, value, intensity, is_max=position == max_index, is_special=special))
    return spans


# How many tokens a snippet of an example shows: about one line on a desktop.
SNIPPET_TOKENS = 24


def snippet_bounds(n_tokens: int, peak: int, width: int = SNIPPET_TOKENS) -> tuple[int, int]:
    """The [start, end) of `width` tokens centred on `peak` (the example's strongest token), shifted inwards at
    either end of the window so that a snippet near an edge still shows `width` tokens where there are that many."""
    if n_tokens <= width:
        return 0, n_tokens
    peak = min(max(peak, 0), n_tokens - 1)
    start = min(max(peak - width // 2, 0), n_tokens - width)
    return start, start + width
