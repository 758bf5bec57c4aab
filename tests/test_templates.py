"""Django's {# ... #} comments end at the end of their line: one that runs onto the next line is printed on the
page as text (the feature page once showed its own comment to readers). Longer comments use {% comment %}."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_template_has_a_one_line_comment_that_runs_onto_the_next_line():
    unclosed = []
    for path in sorted(ROOT.glob("**/templates/**/*.html")):
        if ".venv" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "{#" in line and "#}" not in line[line.index("{#") :]:
                unclosed.append(f"{path.relative_to(ROOT)}:{number}")
    assert not unclosed, "use {% comment %} for comments over several lines: " + ", ".join(unclosed)
