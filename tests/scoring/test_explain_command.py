"""`manage.py explain`: JSONL of activation records in, explanations out, no database."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scoring.core.synthetic import COLOUR_CAT, generate_corpus, planted_example_set
from tests.scoring.llm_server import ScriptedLLMServer


@pytest.fixture(scope="module")
def cat_line():
    examples = planted_example_set(generate_corpus(COLOUR_CAT, n_windows=800))
    return {
        "feature": "colour-cat",
        "records": [r.to_json() for r in [*examples.top, *examples.random, *examples.hard_negatives]],
    }


def run(tmp_path: Path, command: str, lines, **options) -> tuple[list[dict], str | None]:
    source = tmp_path / f"{command}-in.jsonl"
    source.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    target = tmp_path / f"{command}-out.jsonl"
    failure = None
    try:
        call_command(command, input=str(source), output=str(target), **options)
    except CommandError as error:
        failure = str(error)
    return [json.loads(line) for line in target.read_text().splitlines()], failure


def test_it_explains_each_line_offline_and_keeps_the_input(tmp_path, cat_line):
    [output], failure = run(tmp_path, "explain", [cat_line])
    assert failure is None
    assert output["explanation"].startswith('the token "cat" right after a colour word')
    assert (output["method"], output["model"]) == ("token-stats", "token statistics")
    assert output["rule"] == "[black|brown|ginger|grey|red|white] *cat*"
    assert output["feature"] == "colour-cat" and output["records"] == cat_line["records"]


def test_its_output_can_be_scored_as_it_is(tmp_path, cat_line):
    explained, _ = run(tmp_path, "explain", [cat_line])
    scored, failure = run(tmp_path, "score_explanations", explained, scorer="detection")
    assert failure is None
    assert scored[0]["score"] == 1.0 and scored[0]["example_mix"]["hard_negatives"] == 20


def test_bad_lines_get_error_lines_and_the_rest_is_explained(tmp_path, cat_line):
    lines = [
        cat_line,
        "nope",
        {"records": [{"tokens": ["a"], "activations": [0]}]},
        {"records": [{"tokens": ["a", "b"], "activations": [0]}]},
        cat_line,
    ]
    output, failure = run(tmp_path, "explain", lines)
    assert failure == "3 of 5 lines failed; see the error lines."
    assert [line.get("line") for line in output] == [None, 2, 3, 4, None]
    assert "nothing to explain" in output[2]["error"]
    assert output[3]["error"] == "records[0]: 2 tokens but 1 activations."


def test_it_explains_with_an_llm_over_http_and_stops_when_credit_runs_out(tmp_path, cat_line):
    with ScriptedLLMServer() as server:
        server.reply("cat right after a colour word").fail(402, "no credit")
        output, failure = run(
            tmp_path,
            "explain",
            [cat_line, cat_line, cat_line],
            explainer="openai-compatible",
            base_url=server.base_url,
            model="gpt-test",
            max_retries=0,
        )
        assert len(server.requests) == 2
    assert output[0]["explanation"] == "cat right after a colour word" and output[0]["model"] == "gpt-test"
    assert output[1]["line"] == 2 and "out of credit (402)" in output[1]["error"]
    assert len(output) == 2 and failure.startswith("Stopped: line 2:")


def test_an_unusable_configuration_stops_before_reading_anything(tmp_path, cat_line):
    with pytest.raises(CommandError, match="must start with http"):
        call_command("explain", input="-", output="-", explainer="openai-compatible", base_url="localhost:1")
    with pytest.raises(CommandError, match="Give the local model's directory"):
        call_command("explain", input="-", output="-", explainer="local-transformers")
