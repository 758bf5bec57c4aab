"""Per-token highlighting of activation examples: how strongly each token is coloured, and how it is labelled.

Pure Python so it can be tested without templates; features/templatetags/activation_tokens.py renders it.
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

    @property
    def style(self) -> str:
        if self.intensity <= 0:
            return ""
        return f"background-color: rgba({HIGHLIGHT_RGB}, {self.intensity:.3f})"

    @property
    def css_class(self) -> str:
        names = ["tok"]
        if self.is_special:
            names.append("special")
        if self.is_max:
            names.append("max")
        return " ".join(names)

    @property
    def title(self) -> str:
        return "special token" if self.is_special else f"{self.value:.3f}"


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
