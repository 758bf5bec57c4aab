"""Comment markdown is rendered inert: every payload below must come out without a live script,
event handler, javascript:/data: URL or raw HTML element."""

import re

import pytest

from explanations.core.markup import render_markdown

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=http://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java&#x09;script:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p onclick="alert(1)">hi</p>',
    '![x](x" onerror="alert(1))',
    '[x](https://ok.example/" onmouseover="alert(1))',
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "```\n</code><script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
]


def assert_inert(html: str) -> None:
    assert not re.search(r"<\s*(script|img|svg|iframe|style|div|details|math|table|object|embed)", html, re.I)
    # Event handlers and dangerous schemes may only appear as escaped text, never inside a tag.
    for tag in re.findall(r"<[^>]+>", html):
        assert not re.search(r"\son\w+\s*=", tag, re.I), tag
        assert "javascript:" not in tag.lower() and "data:" not in tag.lower() and "vbscript:" not in tag.lower()


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payloads_render_inert(payload):
    assert_inert(render_markdown(payload))


def test_ordinary_markdown_still_works():
    html = render_markdown("**bold** and `code`\n\n- one\n- two\n\n> quoted")

    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html
    assert "<blockquote>" in html


def test_a_line_break_is_kept_as_in_a_comment_box():
    assert render_markdown("Fires on numbers?\nOr on lists?") == "<p>Fires on numbers?<br>\nOr on lists?</p>"


def test_links_keep_safe_schemes_and_get_nofollow():
    html = render_markdown("[paper](https://arxiv.org/abs/1234) and [mail](mailto:a@example.com)")

    assert '<a href="https://arxiv.org/abs/1234" rel="nofollow noopener">paper</a>' in html
    assert '<a href="mailto:a@example.com" rel="nofollow noopener">mail</a>' in html


def test_raw_html_is_shown_as_text():
    assert render_markdown("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>"
