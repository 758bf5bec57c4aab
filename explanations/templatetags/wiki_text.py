"""Template filters for community text: comment markdown rendered inert (see explanations/core/markup.py)."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from explanations.core.markup import render_markdown

register = template.Library()


@register.filter
def markdown(text: str | None) -> SafeString:
    # render_markdown escapes raw HTML and cleans the result with an allowlist, so it is safe to mark safe.
    return mark_safe(render_markdown(text or ""))  # noqa: S308
