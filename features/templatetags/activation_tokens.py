"""{% activation_tokens example scale %}: an activation example's tokens, each coloured by its activation."""

from django import template

from features.highlighting import token_spans
from features.models import ActivationExample

register = template.Library()


@register.inclusion_tag("features/_tokens.html")
def activation_tokens(example: ActivationExample, scale: float | None = None) -> dict:
    """Colour relative to `scale` (the feature's max activation), or to the example's own max without one."""
    spans = token_spans(
        example.window.tokens,
        example.activations,
        scale=scale if scale is not None else example.max_value,
        max_index=example.max_token_index,
    )
    return {"spans": spans}
