"""Every htmx action shows that it is working and cannot be sent twice: each element that makes a request
(hx-get, hx-post, ...) names what to disable while it runs (hx-disabled-elt: its buttons, or the link itself),
and site.css dims and marks whatever htmx is busy with (the htmx-request class, disabled controls). The walk
covers every template, so a new htmx element that forgets fails here."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUEST_ATTRIBUTES = ("hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete")
# An opening tag, over several lines if need be; its quoted values (hx-select="#card > *") and the template
# tags and variables inside it may hold a ">".
_TEMPLATE = r"\{[{%#].*?[}%#]\}"
TAG = re.compile(rf'<([a-zA-Z][\w-]*)((?:{_TEMPLATE}|"(?:{_TEMPLATE}|[^"])*"|[^>"])*)>', re.DOTALL)


def htmx_requests(html: str) -> list[tuple[str, str]]:
    return [
        (name, attributes)
        for name, attributes in TAG.findall(html)
        if any(re.search(rf"\s{attribute}=", attributes) for attribute in REQUEST_ATTRIBUTES)
    ]


def is_polling(attributes: str) -> bool:
    # A poller (hx-trigger="every 2s") is no action of the reader's: it shows its own progress, and a busy
    # state every two seconds would only flicker. Nor is what the page fetches as it loads (hx-trigger="load":
    # the feature page's similar features), which shows its fallback content meanwhile.
    return re.search(r'hx-trigger="(every |load")', attributes) is not None


def test_the_walk_finds_htmx_elements_over_several_lines_and_skips_pollers():
    html = '<form method="post"\n      hx-post="{% url \'x\' a.b %}" hx-target="this">{% if n > 1 %}<a hx-get="/y">'
    html += '<a hx-get="/z" hx-select="#card > *" hx-disabled-elt="this">'
    assert [name for name, _ in htmx_requests(html)] == ["form", "a", "a"]
    assert "hx-disabled-elt" in htmx_requests(html)[2][1]
    assert is_polling(' hx-get="/run/" hx-trigger="every 2s"')
    assert is_polling(' hx-get="/similar/" hx-trigger="load"') and not is_polling(' hx-trigger="toggle once"')


def test_every_htmx_action_disables_what_sends_it_while_it_runs():
    checked, forgetful = 0, []
    for path in sorted(ROOT.glob("**/templates/**/*.html")):
        if ".venv" in path.parts:
            continue
        for name, attributes in htmx_requests(path.read_text()):
            if is_polling(attributes):
                continue
            checked += 1
            if not re.search(r'\shx-disabled-elt="[^"]+"', attributes):
                forgetful.append(f"{path.relative_to(ROOT)}: <{name}{attributes[:80]}...")
            elif name == "a" and 'hx-disabled-elt="this"' not in attributes:
                forgetful.append(f"{path.relative_to(ROOT)}: a link should disable itself: <a{attributes[:80]}...")
    assert checked >= 10  # the walk found the templates' htmx actions
    assert not forgetful, "add hx-disabled-elt (its buttons, or 'this' for a link):\n" + "\n".join(forgetful)


def test_the_site_styles_the_busy_state_and_respects_reduced_motion():
    css = (ROOT / "static/css/site.css").read_text()
    busy = css[css.index("/* === Busy state of htmx actions") :]
    assert ".htmx-request" in busy and "cursor: progress" in busy and "a[disabled]" in busy
    assert "@media (prefers-reduced-motion: reduce)" in busy
