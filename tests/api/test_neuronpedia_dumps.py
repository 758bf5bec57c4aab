"""Neuronpedia-layout dumps: export a source, import it into an empty database, export again: the same
bytes. Imports are idempotent and report unreadable rows by file and line without half-writing a file."""

import gzip
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import ActivationExample, ContextWindow, Feature, LanguageModel, Source
from scoring.models import ExplanationScore

from .conftest import make_user


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every file under `directory`, decompressed."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            files[str(path.relative_to(directory))] = gzip.decompress(data) if path.suffix == ".gz" else data
    return files


def rows(directory: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in read_tree(directory)[name].splitlines()]


@pytest.fixture
def explained_run(computed_run):
    """The tiny BERT run, with a human explanation (and a score), a machine one and a revised one on 0-mlp."""
    author = make_user("writer")
    features = Feature.objects.filter(source__slug="0-mlp").order_by("index")
    human = explanation_services.explanation_create(
        feature=features[2], text="commas in lists", author=author, embed=False
    )
    ExplanationScore.objects.create(explanation=human, scorer="simulation", value=0.4)
    explanation_services.explanation_create(
        feature=features[2], text="punctuation", method="token-stats", explainer_model="", embed=False
    )
    revised = explanation_services.explanation_create(
        feature=features[7], text="first draft", method="openai-compatible", explainer_model="gpt-4o-mini", embed=False
    )
    explanation_services.explanation_revise(explanation=revised, author=author, text="the word cat", embed=False)
    return computed_run


def test_export_writes_neuronpedias_layout_and_rows(explained_run, tmp_path):
    call_command("export_neuronpedia", "tiny-bert", "0-mlp", str(tmp_path / "dump"))
    dump = tmp_path / "dump"
    assert sorted(read_tree(dump)) == [
        "activations/batch-0.jsonl.gz",
        "explanations/batch-0.jsonl.gz",
        "features/batch-0.jsonl.gz",
        "model.jsonl",
        "source.jsonl",
        "sourceset.jsonl",
    ]
    features = rows(dump, "features/batch-0.jsonl.gz")
    assert len(features) == 48 and [row["index"] for row in features] == [str(i) for i in range(48)]
    feature = Feature.objects.get(source__slug="0-mlp", index=5)
    row = features[5]
    assert row["modelId"] == "tiny-bert" and row["layer"] == "0-mlp" and row["sourceSetName"] == "mlp"
    assert row["maxActApprox"] == feature.max_activation and row["frac_nonzero"] == feature.density
    assert row["freq_hist_data_bar_heights"] == feature.histogram["counts"]
    assert row["hookName"] == "blocks.0.mlp.hook_post"
    activations = rows(dump, "activations/batch-0.jsonl.gz")
    assert len(activations) == ActivationExample.objects.filter(feature__source__slug="0-mlp").count()
    top = activations[0]
    assert {"id", "tokens", "values", "maxValue", "minValue", "maxValueTokenIndex", "binMin", "binMax", "binContains",
            "creatorId", "dfaValues", "modelId", "layer", "index"} <= set(top)  # fmt: skip
    assert top["binMin"] == -1 and len(top["tokens"]) == len(top["values"])
    explanations = rows(dump, "explanations/batch-0.jsonl.gz")
    assert [
        (row["index"], row["description"], row["typeName"], row["explanationModelName"]) for row in explanations
    ] == [
        ("2", "commas in lists", None, None),
        ("2", "punctuation", "token-stats", None),
        ("7", "the word cat", "openai-compatible", "gpt-4o-mini"),
    ]
    assert json.loads(read_tree(dump)["model.jsonl"])["id"] == "tiny-bert"


# Not in a test transaction: flushing (TRUNCATE on PostgreSQL) must really empty the database.
@pytest.mark.django_db(transaction=True)
def test_export_import_export_gives_identical_bytes(explained_run, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for slug in ("0-mlp", "2-mlp"):
        call_command("export_neuronpedia", "tiny-bert", slug, str(first / slug))
    expected = {slug: read_tree(first / slug) for slug in ("0-mlp", "2-mlp")}
    counts = (Feature.objects.count(), ActivationExample.objects.count(), Explanation.objects.count())

    call_command("flush", interactive=False)
    assert not LanguageModel.objects.exists() and not ContextWindow.objects.exists()
    call_command("import_neuronpedia", str(first))
    model = LanguageModel.objects.get()
    assert model.slug == "tiny-bert" and model.path == ""  # no checkpoint here: no live inference
    assert (Feature.objects.count(), ActivationExample.objects.count(), Explanation.objects.count()) == counts
    assert Source.objects.get(slug="0-mlp").kind == "neurons"

    for slug in ("0-mlp", "2-mlp"):
        call_command("export_neuronpedia", "tiny-bert", slug, str(second / slug))
        assert read_tree(second / slug) == expected[slug]
        # The gzip headers hold no name or time, so even the compressed files are the same.
        for path in (first / slug).rglob("*.gz"):
            assert path.read_bytes() == (second / slug / path.relative_to(first / slug)).read_bytes()


@pytest.mark.django_db(transaction=True)
def test_importing_twice_changes_nothing(explained_run, tmp_path):
    call_command("export_neuronpedia", "tiny-bert", "0-mlp", str(tmp_path / "dump"))
    call_command("flush", interactive=False)
    call_command("import_neuronpedia", str(tmp_path / "dump"))
    counts = (Feature.objects.count(), ActivationExample.objects.count(), Explanation.objects.count(),
              ContextWindow.objects.count())  # fmt: skip
    call_command("import_neuronpedia", str(tmp_path / "dump"))
    assert (Feature.objects.count(), ActivationExample.objects.count(), Explanation.objects.count(),
            ContextWindow.objects.count()) == counts  # fmt: skip


def test_importing_onto_the_live_data_keeps_the_registered_model(explained_run, tmp_path):
    model = LanguageModel.objects.get(slug="tiny-bert")
    call_command("export_neuronpedia", "tiny-bert", "0-mlp", str(tmp_path / "dump"))
    explanations = Explanation.objects.count()
    call_command("import_neuronpedia", str(tmp_path / "dump"))
    assert LanguageModel.objects.get(slug="tiny-bert").path == model.path
    assert Explanation.objects.count() == explanations


def write_jsonl_gz(path: Path, lines: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_bytes(gzip.compress(body.encode()))


def neuronpedia_feature(number: int, **fields) -> dict:
    return {
        "modelId": "gpt2-small", "layer": "6-res-jb", "index": str(number), "maxActApprox": 4.0, "creatorId": "clxyz",
        "frac_nonzero": 0.01, "freq_hist_data_bar_heights": [10, 4, 1], "freq_hist_data_bar_values": [0.5, 1.5, 2.5],
        "pos_str": [" cat", " dog"], "pos_values": [0.9, 0.7], "neg_str": [" car"], "neg_values": [-1.1],
        "topkCosSimIndices": [1, 2], "topkCosSimValues": [0.3, 0.2], "sourceSetName": "res-jb",
        "hookName": "blocks.6.hook_resid_pre", "vector": [], "hasVector": False, **fields,
    }  # fmt: skip


def neuronpedia_activation(index: int, values: list, *, bins=(-1, -1, -1), **fields) -> dict:
    return {
        "id": f"cl{index}{sum(values)}", "modelId": "gpt2-small", "layer": "6-res-jb", "index": str(index),
        "tokens": ["The", " cat", " sat", " down"][: len(values)], "values": values, "maxValue": max(values),
        "maxValueTokenIndex": values.index(max(values)), "minValue": min(values), "binMin": bins[0],
        "binMax": bins[1], "binContains": bins[2], "creatorId": "clxyz", "dfaValues": [], **fields,
    }  # fmt: skip


@pytest.fixture
def neuronpedia_dump(db, tmp_path) -> Path:
    """A dump as Neuronpedia's export-data.py writes one: string indices, cuid ids, quantile rows out of order."""
    root = tmp_path / "exports" / "gpt2-small" / "6-res-jb"
    root.mkdir(parents=True)
    (root / "model.jsonl").write_text(json.dumps({"id": "gpt2-small", "displayName": "GPT-2 Small", "layers": 12,
                                                  "neuronsPerLayer": 3072, "dimension": 768}) + "\n")  # fmt: skip
    (root / "source.jsonl").write_text(json.dumps({"id": "6-res-jb", "modelId": "gpt2-small", "setName": "res-jb",
                                                   "saelensConfig": None}) + "\n")  # fmt: skip
    write_jsonl_gz(root / "features" / "batch-0.jsonl.gz", [neuronpedia_feature(0), neuronpedia_feature(1)])
    write_jsonl_gz(
        root / "activations" / "batch-0.jsonl.gz",
        [
            neuronpedia_activation(0, [0.0, 1.0, 0.5], bins=(1.0, 2.0, 0.1)),
            neuronpedia_activation(0, [0.0, 4.0, 0.0]),
            neuronpedia_activation(0, [0.25, 0.0, 0.0], bins=(0.0, 1.0, 0.9)),
            neuronpedia_activation(1, [0.0, 0.0, 2.0, 1.0]),
            neuronpedia_activation(0, [0.0, 3.0, 0.0]),
        ],
    )
    write_jsonl_gz(
        root / "explanations" / "batch-0.jsonl.gz",
        [
            {
                "id": "clexp1",
                "modelId": "gpt2-small",
                "layer": "6-res-jb",
                "index": "0",
                "description": "cats",
                "typeName": "oai_token-act-pair",
                "explanationModelName": "gpt-4o-mini",
                "authorId": "clxyz",
            },
            {
                "id": "clexp2",
                "modelId": "gpt2-small",
                "layer": "6-res-jb",
                "index": "1",
                "description": "sitting",
                "typeName": None,
                "explanationModelName": None,
                "authorId": "clxyz",
            },
        ],  # fmt: skip
    )
    return tmp_path / "exports"


def test_a_neuronpedia_dump_loads_into_an_empty_database(neuronpedia_dump, anon):
    call_command("import_neuronpedia", str(neuronpedia_dump))
    model = LanguageModel.objects.get()
    assert (model.slug, model.display_name, model.n_layers, model.d_model, model.path) == (
        "gpt2-small", "GPT-2 Small", 12, 768, "")  # fmt: skip
    source = Source.objects.get()
    assert (source.slug, source.layer, source.set_name, source.kind, source.n_features) == (
        "6-res-jb", 6, "res-jb", "sae", 2)  # fmt: skip
    assert source.hook_name == "blocks.6.hook_resid_pre"
    feature = Feature.objects.get(index=0)
    assert feature.max_activation == 4.0 and feature.density == 0.01
    assert feature.histogram == {"bin_width": 1.0, "counts": [10, 4, 1]}
    assert feature.top_logits == [{"token": " cat", "value": 0.9}, {"token": " dog", "value": 0.7}]
    assert feature.similar == [{"index": 1, "similarity": 0.3}, {"index": 2, "similarity": 0.2}]
    examples = list(feature.examples.order_by("kind", "interval_index", "rank"))
    assert [(e.kind, e.interval_index, e.rank, e.max_value) for e in examples] == [
        ("interval", 0, 0, 0.25),  # [0, 1) comes first, whatever the order of the rows
        ("interval", 1, 0, 1.0),
        ("top", None, 0, 4.0),
        ("top", None, 1, 3.0),
    ]
    assert examples[0].bin_contains == 0.9 and examples[2].window.tokens == ["The", " cat", " sat"]
    explanations = {e.text: e for e in Explanation.objects.all()}
    assert explanations["cats"].method == "oai_token-act-pair" and explanations["cats"].explainer_model == "gpt-4o-mini"
    assert explanations["sitting"].method == "neuronpedia-import" and explanations["sitting"].author is None
    # The imported data is served like any other.
    assert anon.get("/api/v1/features/gpt2-small/6-res-jb/0/").json()["top_examples"][0]["values"] == [0.0, 4.0, 0.0]
    from django.test import Client

    assert Client().get("/gpt2-small/6-res-jb/0/").status_code == 200


def test_bad_rows_are_reported_by_line_and_skipped(neuronpedia_dump):
    features = neuronpedia_dump / "gpt2-small" / "6-res-jb" / "features" / "batch-0.jsonl.gz"
    write_jsonl_gz(
        features,
        [
            neuronpedia_feature(0),
            "{not json",
            neuronpedia_feature(1, pos_values=[0.9]),  # two tokens, one value
            neuronpedia_feature(2, index="-3"),
            neuronpedia_feature(3, frac_nonzero=7),
            neuronpedia_feature(4, modelId="other-model"),
            neuronpedia_feature(5),
        ],
    )
    activations = neuronpedia_dump / "gpt2-small" / "6-res-jb" / "activations" / "batch-0.jsonl.gz"
    write_jsonl_gz(
        activations,
        [
            neuronpedia_activation(0, [0.0, 1.0]),
            {**neuronpedia_activation(0, [0.0, 1.0]), "values": [1.0]},
            neuronpedia_activation(9, [0.0, 2.0]),  # no such feature
            neuronpedia_activation(5, [0.0, 2.0]),
        ],
    )
    with pytest.raises(CommandError) as raised:
        call_command("import_neuronpedia", str(neuronpedia_dump))
    assert "problem(s)" in str(raised.value)
    assert sorted(Feature.objects.values_list("index", flat=True)) == [0, 5]
    assert ActivationExample.objects.count() == 2
    assert Explanation.objects.count() == 1  # feature 1 was not loaded, so neither is its explanation


def test_problems_name_the_file_and_line(neuronpedia_dump, capsys):
    features = neuronpedia_dump / "gpt2-small" / "6-res-jb" / "features" / "batch-0.jsonl.gz"
    write_jsonl_gz(features, [neuronpedia_feature(0), "[1, 2]", neuronpedia_feature(1, pos_values="x")])
    with pytest.raises(CommandError):
        call_command("import_neuronpedia", str(neuronpedia_dump))
    errors = capsys.readouterr().err
    assert "features/batch-0.jsonl.gz line 2: not a JSON object" in errors
    assert "features/batch-0.jsonl.gz line 3: 'pos_values' must be a list of finite numbers" in errors


def test_a_truncated_file_writes_nothing_from_it(neuronpedia_dump, capsys):
    activations = neuronpedia_dump / "gpt2-small" / "6-res-jb" / "activations" / "batch-0.jsonl.gz"
    activations.write_bytes(activations.read_bytes()[:-20])
    with pytest.raises(CommandError):
        call_command("import_neuronpedia", str(neuronpedia_dump))
    assert "activations/batch-0.jsonl.gz: cannot be read" in capsys.readouterr().err
    assert Feature.objects.count() == 2 and Explanation.objects.count() == 2
    assert not ActivationExample.objects.exists()


def test_an_import_of_nothing_says_so(db, tmp_path):
    with pytest.raises(CommandError, match="no source directory"):
        call_command("import_neuronpedia", str(tmp_path))
    with pytest.raises(CommandError, match="not a directory"):
        call_command("import_neuronpedia", str(tmp_path / "missing"))


def test_export_refuses_a_missing_source_or_a_full_directory(computed_run, tmp_path):
    with pytest.raises(CommandError, match="no source"):
        call_command("export_neuronpedia", "tiny-bert", "9-mlp", str(tmp_path / "x"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(CommandError, match="not an empty directory"):
        call_command("export_neuronpedia", "tiny-bert", "0-mlp", str(tmp_path / "full"))
