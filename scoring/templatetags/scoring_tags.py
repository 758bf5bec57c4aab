"""{% available_explainers as names %}: the explainers the "Generate an explanation" button offers;
{{ key|mix_label }}: a score's example-mix key as a label."""

from django import template

from scoring.services.backends import available_explainers as site_explainers

register = template.Library()


@register.simple_tag
def available_explainers() -> list[str]:
    return site_explainers()


@register.filter
def mix_label(key: str) -> str:
    """ "hard_negatives" -> "Hard negatives", "span_tokens" -> "Span tokens"."""
    return str(key).replace("_", " ").capitalize()
