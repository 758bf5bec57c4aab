"""{% available_explainers as names %}: the explainers the "Generate an explanation" button offers."""

from django import template

from scoring.services import available_explainers as site_explainers

register = template.Library()


@register.simple_tag
def available_explainers() -> list[str]:
    return site_explainers()
