"""Streamed JSONL and CSV exports of a source, and OpenAI automated-interpretability shapes."""

import csv
import io
import json

import pytest

from features.models import ActivationExample, unpack_floats
from scoring.core.formats import example_set_from_line

from .conftest import error_of


def fetch(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response.streaming
    return response, b"".join(response.streaming_content).decode()


def jsonl(client, url: str) -> list[dict]:
    response, text = fetch(client, url)
    assert response["Content-Type"].startswith("application/jsonl")
    assert response["Content-Disposition"].startswith("attachment;")
    return [json.loads(line) for line in text.splitlines()]


def test_features_jsonl_has_every_feature_in_index_order(anon, toy):
    rows = jsonl(anon, "/api/v1/export/toy/0-mlp/features.jsonl")
    assert [row["index"] for row in rows] == list(range(8))
    assert rows[3] == {
        "model": "toy",
        "source": "0-mlp",
        "index": 3,
        "max_activation": 3.0,
        "density": 0.03,
        "histogram": {"bin_width": 0.5, "counts": [5, 3, 3]},
        "top_logits": [{"token": "cat", "id": 7, "value": 0.5}],
        "bottom_logits": [{"token": "dog", "id": 8, "value": -0.5}],
        "similar": [{"index": 4, "similarity": 0.25}],
    }


def test_activations_jsonl_carries_exact_values_and_tokens(anon, toy):
    rows = jsonl(anon, "/api/v1/export/toy/0-mlp/activations.jsonl")
    assert len(rows) == ActivationExample.objects.filter(feature__source=toy["source"]).count() == 32
    assert [(row["kind"], row["rank"], row["interval_index"]) for row in rows[:4]] == [
        ("top", 0, None),
        ("top", 1, None),
        ("interval", 0, 0),
        ("interval", 0, 1),
    ]
    for row in rows:
        example = ActivationExample.objects.select_related("window").get(
            feature__source=toy["source"],
            feature__index=row["index"],
            kind=row["kind"],
            rank=row["rank"],
            interval_index=row["interval_index"],
        )
        assert row["values"] == unpack_floats(example.values)
        assert row["tokens"] == example.window.tokens


def test_activations_csv_reads_back(anon, toy):
    _response, text = fetch(anon, "/api/v1/export/toy/0-mlp/activations.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 32
    assert json.loads(rows[0]["tokens"]) == ["[CLS]", "w0", "é", "[SEP]"]
    assert json.loads(rows[0]["values"]) == [0.0, 2.5, 0.5, 0.0]
    assert rows[0]["interval_index"] == "" and rows[2]["interval_index"] == "0"


def test_features_csv_has_a_header_and_json_cells(anon, toy):
    _response, text = fetch(anon, "/api/v1/export/toy/1-mlp/features.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["index"] for row in rows] == ["0", "1", "2", "3"]
    assert rows[0]["histogram"] == ""


def test_explanations_export_has_text_author_method_and_latest_scores(anon, explained):
    rows = jsonl(anon, "/api/v1/export/toy/0-mlp/explanations.jsonl")
    assert [(row["text"], row["author"], row["method"]) for row in rows] == [
        ("the letter w before a digit", "alice", ""),
        ("tokens after CLS", None, "token-stats"),
    ]  # the hidden one is left out
    assert rows[0]["scores"] == {"detection": 0.75, "simulation": 0.5}
    _response, text = fetch(anon, "/api/v1/export/toy/0-mlp/explanations.csv")
    assert "the letter w before a digit" in text


def test_neuron_records_are_openais_shape_and_score_offline(anon, toy, explained):
    records = jsonl(anon, "/api/v1/export/toy/0-mlp/neuron-records.jsonl")
    record = records[3]
    assert record["neuron_id"] == {"layer_index": 0, "neuron_index": 3}
    assert record["most_positive_activation_records"][0] == {
        "tokens": ["[CLS]", "w0", "é", "[SEP]"],
        "activations": [0.0, 10.0, 0.5, 0.0],
    }
    assert [len(q) for q in record["random_sample_by_quantile"]] == [1, 1]
    assert record["quantile_boundaries"] == [0.0, 1.0]
    # The same line, with an explanation, is what `manage.py score_explanations` reads.
    examples = example_set_from_line({**record, "explanation": "w"})
    assert len(examples.top) == 2 and len(examples.intervals) == 2


def test_openai_explanations_group_by_feature(anon, explained):
    rows = jsonl(anon, "/api/v1/export/toy/0-mlp/openai-explanations.jsonl")
    assert len(rows) == 1
    assert rows[0]["neuron_id"] == {"layer_index": 0, "neuron_index": 3}
    scored = rows[0]["scored_explanations"]
    assert [(s["explanation"], s["score"]) for s in scored] == [
        ("the letter w before a digit", 0.5),
        ("tokens after CLS", None),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/export/toy/9-mlp/features.jsonl",
        "/api/v1/export/nope/0-mlp/activations.csv",
        "/api/v1/export/toy/0-mlp/openai-explanations.csv",
        "/api/v1/export/toy/0-mlp/other.jsonl",
        "/api/v1/export/toy/0-mlp/features.xml",
    ],
)
def test_export_errors_are_json(anon, toy, url):
    response = anon.get(url)
    assert response.status_code == 404
    error_of(response)


def test_the_format_comes_from_the_path_not_the_accept_header(anon, toy):
    response = anon.get("/api/v1/export/toy/0-mlp/features.csv", HTTP_ACCEPT="application/xml")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


def test_an_empty_source_exports_nothing(anon, toy):
    from tests.api.conftest import make_source

    make_source(toy["model"], "5-mlp", 5)
    assert fetch(anon, "/api/v1/export/toy/5-mlp/activations.jsonl")[1] == ""
    assert fetch(anon, "/api/v1/export/toy/5-mlp/features.csv")[1].startswith("model,source,index")


def test_the_direct_activations_encoder_writes_the_same_bytes(toy):
    from api import exports

    assert b"".join(exports.example_lines(toy["source"])) == b"".join(
        exports.jsonl(exports.example_rows(toy["source"]))
    )
