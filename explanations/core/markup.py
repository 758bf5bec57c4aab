"""Markdown for comments, rendered inert: markdown-it-py with raw HTML off, then nh3 with an allowlist.

No Django here. Two layers on purpose: markdown-it escapes any HTML a person types and refuses unsafe
link schemes itself; nh3 then removes whatever is not on the allowlist, so a bug or a plugin in the first
layer still cannot put a script, an event handler or a javascript: URL on the page.
"""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Images are left out: a remote image in a comment would tell its host who read the page.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True, "xhtmlOut": False})
    return parser.disable("image")


def render_markdown(text: str) -> str:
    """Markdown source -> HTML safe to put on a page as it is."""
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener",
        strip_comments=True,
    ).strip()
