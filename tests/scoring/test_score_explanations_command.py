"""`manage.py score_explanations`: JSONL in, JSONL out, no database (these tests have no `db` fixture, so
any query would fail them)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scoring.core.synthetic import COLOUR_CAT, generate_corpus, planted_example_set

from .llm_server import ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cat_records():
    examples = planted_example_set(generate_corpus(COLOUR_CAT, n_windows=800))
    return examples, [r.to_json() for r in [*examples.top, *examples.random, *examples.hard_negatives]]


def write_lines(path: Path, *lines) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def score(tmp_path, scorer: str, *lines, **options) -> tuple[list[dict], str | None]:
    source = write_lines(tmp_path / "in.jsonl", *lines)
    target = tmp_path / "out.jsonl"
    failure = None
    try:
        call_command("score_explanations", scorer=scorer, input=str(source), output=str(target), **options)
    except CommandError as error:
        failure = str(error)
    return read_lines(target), failure


def test_it_adds_score_scorer_details_and_mix_to_each_line(tmp_path, cat_records):
    _, records = cat_records
    lines = [
        {"explanation": COLOUR_CAT.context_explanation, "records": records, "id": "aware"},
        {"explanation": COLOUR_CAT.blind_explanation, "records": records, "id": "blind"},
    ]
    output, failure = score(tmp_path, "detection", *lines)
    assert failure is None
    aware, blind = output
    assert aware["id"] == "aware" and aware["scorer"] == "detection"
    assert aware["score"] == 1.0 and blind["score"] < 0.8
    assert aware["example_mix"]["hard_negatives"] == 20
    assert aware["records"] == records, "the input is kept, so outputs can be scored again"
    assert {row["kind"] for row in aware["details"]["examples"]} == {"top", "random", "hard_negative"}


def test_bad_lines_get_an_error_line_naming_them_and_the_rest_is_processed(tmp_path, cat_records):
    _, records = cat_records
    good = {"explanation": "the word cat", "records": records}
    output, failure = score(
        tmp_path,
        "simulation",
        good,
        "{not json",
        {"explanation": "x", "records": [{"tokens": ["a", "b"], "activations": [1.0]}]},
        '{"explanation": "x", "records": [{"tokens": ["a"], "activations": [NaN]}]}',
        {"explanation": "x", "records": []},
        {"explanation": "x", "records": [{"tokens": [], "activations": []}]},
        {"records": records},
        "",
        good,
    )
    assert failure == "6 of 8 lines failed; see the error lines."
    assert [line.get("line") for line in output] == [None, 2, 3, 4, 5, 6, 7, None]
    errors = [line["error"] for line in output if "error" in line]
    assert errors[0].startswith("not valid JSON")
    assert errors[1] == "records[0]: 2 tokens but 1 activations."
    assert "activation 0 is nan" in errors[2]
    assert "no records" in errors[3]
    assert "the record is empty" in errors[4]
    assert "'explanation' must be a non-empty string" in errors[5]
    assert output[0]["score"] == output[-1]["score"] > 0


def test_explicit_negatives_are_the_hard_negatives(tmp_path, cat_records):
    examples, _ = cat_records
    line = {
        "explanation": "the word cat",
        "records": [r.to_json() for r in examples.top],
        "negatives": [r.to_json() for r in examples.hard_negatives[:5]],
    }
    [output], _ = score(tmp_path, "fuzzing", line)
    assert output["example_mix"] == {"top": 20, "intervals": 0, "random": 0, "hard_negatives": 5}
    assert output["details"]["by_kind"]["hard_negative"]["accuracy"] == 0.0


def test_without_negatives_silent_records_with_the_key_token_become_hard_negatives(tmp_path, cat_records):
    examples, _ = cat_records
    silent = [{**r.to_json(), "kind": "random"} for r in [*examples.random, *examples.hard_negatives]]
    line = {"explanation": "the word cat", "records": [r.to_json() for r in examples.top] + silent}
    [mined], _ = score(tmp_path, "detection", line)
    assert mined["example_mix"]["hard_negatives"] >= 20
    [unmined], _ = score(tmp_path, "detection", line, hard_negatives=0)
    assert unmined["example_mix"]["hard_negatives"] == 0
    assert unmined["score"] == mined["score"], "the same windows are scored; the mix says what they are"
    assert mined["details"]["by_kind"]["hard_negative"]["accuracy"] == 0.0


def test_it_reads_openai_neuron_records(tmp_path, cat_records):
    examples, _ = cat_records
    line = {
        "explanation": COLOUR_CAT.context_explanation,
        "most_positive_activation_records": [r.to_json() for r in examples.top],
        "random_sample": [r.to_json() for r in examples.random],
        "random_sample_by_quantile": [[r.to_json() for r in examples.top[:2]]],
    }
    [output], failure = score(tmp_path, "simulation", line)
    assert failure is None
    assert output["example_mix"]["intervals"] == 2 and output["score"] > 0.95


def test_the_rule_scorer_reads_the_rule_language_of_explanations(tmp_path, cat_records):
    _, records = cat_records
    rule = "[black|white|grey|red|brown|ginger] *cat*"
    output, failure = score(
        tmp_path,
        "rule",
        {"explanation": "cat after a colour", "rule": rule, "records": records},
        {"explanation": "broken", "rule": "*cat", "records": records},
    )
    assert output[0]["score"] == 1.0
    assert output[0]["details"]["precision"] == output[0]["details"]["recall"] == 1.0
    assert "The rule cannot be read" in output[1]["error"] and failure


def test_the_human_scorer_reads_verdicts(tmp_path):
    verdicts = [{"verifier": "ann", "agrees": True, "weight": 0.75}, {"verifier": "bob", "agrees": False}]
    [output], failure = score(tmp_path, "human", {"explanation": "cats", "verdicts": verdicts})
    assert failure is None
    assert output["score"] == pytest.approx(0.75 / 1.75) and output["example_mix"] == {"verdicts": 2}


def test_it_scores_with_an_llm_judge_over_http(tmp_path):
    line = {
        "explanation": "cat",
        "records": [{"tokens": ["a", "cat"], "activations": [0, 4]}, {"tokens": ["a", "dog"], "activations": [0, 0]}],
    }
    with ScriptedLLMServer() as server:
        server.reply("[0.9, 0.1]")
        [output], failure = score(
            tmp_path, "detection", line, judge="openai-compatible", base_url=server.base_url, model="judge", api_key="k"
        )
    assert failure is None
    assert output["score"] == 1.0 and output["details"]["judge"] == "openai-compatible:judge:json"
    assert output["details"]["auc"] == 1.0


def test_it_stops_at_once_when_the_llm_is_out_of_credit(tmp_path):
    line = {
        "explanation": "cat",
        "records": [{"tokens": ["a", "cat"], "activations": [0, 4]}, {"tokens": ["a", "dog"], "activations": [0, 0]}],
    }
    with ScriptedLLMServer() as server:
        server.fail(402, "balance exhausted")
        output, failure = score(
            tmp_path,
            "detection",
            line,
            line,
            judge="openai-compatible",
            base_url=server.base_url,
            model="judge",
            max_retries=0,
        )
        assert len(server.requests) == 1
    assert failure.startswith("Stopped: line 1:") and "out of credit (402): balance exhausted" in failure
    assert output == [{"line": 1, "error": output[0]["error"]}]


def test_it_exits_with_status_1_when_a_line_failed_and_0_otherwise(tmp_path):
    good = {
        "explanation": "cat",
        "records": [{"tokens": ["a", "cat"], "activations": [0, 4]}, {"tokens": ["a", "dog"], "activations": [0, 0]}],
    }
    environment = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "neuronpedia.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    }

    def run(*lines):
        source = write_lines(tmp_path / "cli-in.jsonl", *lines)
        command = [
            sys.executable,
            "manage.py",
            "score_explanations",
            "--scorer",
            "detection",
            "--input",
            str(source),
            "--output",
            "-",
        ]
        return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)

    ok = run(good)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["score"] == 1.0
    failed = run(good, "[1, 2]")
    assert failed.returncode == 1
    assert "line 2: expected a JSON object" in failed.stderr
