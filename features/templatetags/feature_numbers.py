"""Number formats for feature statistics."""

from django import template

register = template.Library()


@register.filter
def percent(fraction: float | None) -> str:
    """0.7378 -> '73.78%'. Tiny but non-zero densities say so instead of rounding to 0.00%."""
    if fraction is None:
        return ""
    value = fraction * 100
    if 0 < value < 0.01:
        return "<0.01%"
    return f"{value:.2f}%"
