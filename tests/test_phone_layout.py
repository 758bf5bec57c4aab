"""Every page works on a phone: a table becomes one card per row under 600 px (table.stack in site.css, one
mechanism for all of them), so its key column is never pushed out of sight into a sideways scroll. A table
narrow enough for a phone as it is says so below. scripts/screenshots.py measures the rendered pages."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# class -> why it stays a table on a phone
NARROW_TABLES = {
    "logit-table": "the feature page's two columns of tokens and values",
    "board": "the leaderboard's four short columns, rank first",
    "bones-ledger": "the Bones ledger's three short columns",
}


def test_every_wide_table_stacks_into_cards_on_a_phone():
    unstacked = []
    for path in sorted(ROOT.glob("**/templates/**/*.html")):
        if ".venv" in path.parts:
            continue
        for classes in re.findall(r"<table(?:\s+class=\"([^\"]*)\")?", path.read_text()):
            names = set(classes.split())
            if "stack" not in names and not names & NARROW_TABLES.keys():
                unstacked.append(f'{path.relative_to(ROOT)}: <table class="{classes}">')
    assert not unstacked, "add class stack (and data-label on its cells):\n" + "\n".join(unstacked)


def test_the_stack_cards_and_wrapping_navigation_are_in_the_site_css():
    css = (ROOT / "static/css/site.css").read_text()
    assert "table.stack td[data-label]::before" in css
    game_nav = re.search(r"\.game-nav \{([^}]*)\}", css).group(1)
    assert "flex-wrap: wrap" in game_nav and "overflow-x: auto" not in game_nav
    assert "min-height: 44px" in css
