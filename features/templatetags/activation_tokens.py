"""{% activation_tokens example scale %}: an activation example's tokens, each coloured by its activation.
{% activation_tokens example scale whole=False %}: about one line of them, centred on its strongest token.
{% spans_html spans %}: highlighted tokens already made into TokenSpans (live inference, score details)."""

from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString

from features import token_html
from features.core.highlighting import TokenSpan
from features.models import ActivationExample

register = template.Library()


@register.simple_tag
def activation_tokens(example: ActivationExample, scale: float | None = None, whole: bool = True) -> SafeString:
    """Colour relative to `scale` (the feature's max activation), or to the example's own max without one. With
    whole=False, about one line of it: the tokens around its strongest one."""
    render = token_html.activation_tokens_html if whole else token_html.activation_snippet_html
    return render(
        example.window.tokens,
        example.activations,
        scale=scale if scale is not None else example.max_value,
        max_index=example.max_token_index,
    )


@register.simple_tag
def spans_html(spans: Iterable[TokenSpan], base_class: str = "tok", container: bool = True) -> SafeString:
    return token_html.spans_html(spans, base_class=base_class, container=container)
