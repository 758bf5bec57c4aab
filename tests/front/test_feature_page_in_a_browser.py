"""The feature page in headless Chromium (Debian's `chromium`; skipped where it is not installed): a tap on a
token shows its value, since touch screens cannot hover over a title, and "More" swaps in the whole window."""

import json
import shutil

import pytest

from features.models import Feature

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser():
    from scripts.screenshots import Browser

    browser = Browser(CHROMIUM)
    browser.set_width(390)
    yield browser
    browser.close()


def test_a_tap_on_a_token_shows_its_value_and_more_shows_the_whole_window(computed_run, live_server, browser):
    feature = Feature.objects.filter(source__slug="0-mlp").order_by("-max_activation")[0]
    example = feature.examples.select_related("window").get(kind="top", rank=0)
    peak = example.window.tokens[example.max_token_index]
    browser.go(live_server.url + feature.get_absolute_url())

    tap = """(() => {
      const token = document.querySelector('#top-activations .tok.max');
      token.click();
      const bubble = document.querySelector('.token-value');
      return bubble && !bubble.hidden ? bubble.textContent : null;
    })()"""
    assert browser.evaluate(tap) == f"{json.dumps(peak)}  {example.activations[example.max_token_index]:.3f}"
    assert browser.evaluate(tap) is None  # a second tap on the same token hides it

    browser.evaluate(f"document.querySelector('#example-{example.pk} .expand').click()")
    assert browser.wait_for(f"#example-{example.pk}.whole")
    shown = browser.evaluate(f"document.querySelectorAll('#example-{example.pk} .tok').length")
    assert shown == len(example.window.tokens)
