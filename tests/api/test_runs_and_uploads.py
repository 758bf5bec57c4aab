"""Uploads (models, dictionaries) and activation runs through the API."""

import json
from pathlib import Path

import pytest
from django.test import override_settings

from features.models import LanguageModel, PipelineRun, Source
from features.services import activation_runs, registration

from .conftest import error_of, make_model

HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    return settings.NEURONPEDIA_DATA_DIR


@pytest.fixture
def gpt2(db, tiny_gpt2_dir) -> LanguageModel:
    return registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))


def dictionary_files(directory: Path) -> dict:
    return {
        "config": (directory / "cfg.json").open("rb"),
        "weights": (directory / "sae_weights.safetensors").open("rb"),
    }


def test_uploading_a_dictionary(as_alice, gpt2, tiny_sae_dir, data_dir):
    response = as_alice.post(
        "/api/v1/sources/",
        {"model": "tiny-gpt2", "slug": "1-res-mine", **dictionary_files(tiny_sae_dir)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "sae" and body["n_features"] == 40 and body["hook_name"] == HOOK and body["layer"] == 1
    source = Source.objects.get(slug="1-res-mine")
    assert Path(source.dictionary_path).is_relative_to(data_dir)


def test_a_bad_dictionary_is_a_400_and_leaves_nothing(as_alice, gpt2, data_dir, tmp_path):
    (tmp_path / "cfg.json").write_text("{not json")
    (tmp_path / "sae_weights.safetensors").write_bytes(b"\x00" * 16)
    response = as_alice.post(
        "/api/v1/sources/",
        {"model": "tiny-gpt2", "slug": "1-res-bad", **dictionary_files(tmp_path)},
        format="multipart",
    )
    assert response.status_code == 400
    error_of(response)
    assert not Source.objects.filter(slug="1-res-bad").exists()


@override_settings(NEURONPEDIA_MAX_DICTIONARY_BYTES=1000)
def test_an_oversized_dictionary_is_a_413(as_alice, gpt2, tiny_sae_dir, data_dir):
    response = as_alice.post(
        "/api/v1/sources/",
        {"model": "tiny-gpt2", "slug": "1-res-big", **dictionary_files(tiny_sae_dir)},
        format="multipart",
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_only_staff_register_a_dictionary_from_a_server_path(as_alice, as_staff, gpt2, tiny_sae_dir):
    payload = {"model": "tiny-gpt2", "slug": "1-res-server", "path": str(tiny_sae_dir)}
    response = as_alice.post("/api/v1/sources/", payload, format="json")
    assert response.status_code == 403
    response = as_staff.post("/api/v1/sources/", payload, format="json")
    assert response.status_code == 201, response.content
    assert as_staff.post("/api/v1/sources/", payload, format="json").status_code == 400  # the name is taken


def test_a_dictionary_needs_files_or_a_path(as_alice, gpt2):
    response = as_alice.post("/api/v1/sources/", {"model": "tiny-gpt2", "slug": "x"}, format="json")
    assert response.status_code == 400
    assert (
        as_alice.post("/api/v1/sources/", {"model": "nope", "slug": "x", "path": "/"}, format="json").status_code == 400
    )


def test_uploading_a_model_checkpoint(as_alice, tiny_gpt2_dir, data_dir):
    files = [path.open("rb") for path in sorted(tiny_gpt2_dir.iterdir()) if path.is_file()]
    response = as_alice.post("/api/v1/models/", {"slug": "uploaded", "files": files}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["architecture"] == "gpt2" and response.json()["can_run_inference"] is True
    assert LanguageModel.objects.get(slug="uploaded").created_by.username == "alice"


def test_only_staff_register_a_model_from_a_server_path(as_alice, as_staff, tiny_gpt2_dir):
    payload = {"slug": "on-server", "path": str(tiny_gpt2_dir)}
    assert as_alice.post("/api/v1/models/", payload, format="json").status_code == 403
    assert as_staff.post("/api/v1/models/", payload, format="json").status_code == 201


def test_starting_a_run_and_following_it(as_alice, gpt2, sample_corpus_file):
    response = as_alice.post("/api/v1/runs/", {"model": "tiny-gpt2", "layers": [0], "n_windows": 6, "window_len": 16,
                                               "top_k": 3}, format="json")  # fmt: skip
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["created_by"] == "alice" and body["params"]["layers"] == [0]
    run = PipelineRun.objects.get(pk=body["id"])
    assert run.task_id  # queued on django-q2
    # Run it here, as a worker would (synchronously, on a small corpus).
    run.params = {**run.params, "sync": True, "corpus": str(sample_corpus_file)}
    run.save()
    activation_runs.activation_run_start(run_id=run.pk)
    status = as_alice.get(f"/api/v1/runs/{run.pk}/").json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    assert as_alice.get("/api/v1/features/?model=tiny-gpt2&source=0-mlp").json()["results"]


def test_a_run_is_validated(as_alice, gpt2):
    assert as_alice.post("/api/v1/runs/", {"model": "tiny-gpt2"}, format="json").status_code == 400
    assert as_alice.post("/api/v1/runs/", {"model": "nope", "layers": [0]}, format="json").status_code == 400
    response = as_alice.post("/api/v1/runs/", {"model": "tiny-gpt2", "layers": [0], "window_len": 1}, format="json")
    assert response.status_code == 400
    assert "window_len" in error_of(response)["details"]
    response = as_alice.post(
        "/api/v1/runs/", {"model": "tiny-gpt2", "layers": [0], "dictionaries": [10**9]}, format="json"
    )
    assert response.status_code == 400


def test_only_staff_read_a_corpus_from_the_server(as_alice, gpt2):
    response = as_alice.post(
        "/api/v1/runs/", {"model": "tiny-gpt2", "layers": [0], "corpus": "/etc/passwd"}, format="json"
    )
    assert response.status_code == 403
    response = as_alice.post(
        "/api/v1/runs/", {"model": "tiny-gpt2", "layers": [0], "corpus": "builtin:licenses"}, format="json"
    )
    assert response.status_code == 202 and response.json()["params"]["corpus"] == "builtin:licenses"


def test_an_imported_model_cannot_run(as_alice, db):
    make_model("imported", path="")
    response = as_alice.post("/api/v1/runs/", {"model": "imported", "layers": [0]}, format="json")
    assert response.status_code == 400
    assert "imported" in error_of(response)["details"]["model"][0]


@override_settings(WIKI_RATE_LIMITS={"run": "1/h"})
def test_runs_are_rate_limited(as_alice, gpt2):
    payload = {"model": "tiny-gpt2", "layers": [0], "n_windows": 4}
    assert as_alice.post("/api/v1/runs/", payload, format="json").status_code == 202
    response = as_alice.post("/api/v1/runs/", payload, format="json")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"


def test_runs_are_listed_newest_first_and_filtered(anon, as_alice, gpt2):
    for _ in range(2):
        as_alice.post("/api/v1/runs/", {"model": "tiny-gpt2", "layers": [0], "n_windows": 4}, format="json")
    runs = anon.get("/api/v1/runs/?model=tiny-gpt2&status=queued").json()["results"]
    assert len(runs) == 2 and runs[0]["id"] > runs[1]["id"]
    assert anon.get("/api/v1/runs/?created_by=bob").json()["results"] == []


@pytest.mark.parametrize("path", ["a" * 1000, "/" + "b/" * 600, "/dev/null", "relative"])
def test_a_server_path_the_file_system_refuses_is_a_400(as_staff, gpt2, path):
    response = as_staff.post("/api/v1/models/", {"slug": "x1", "path": path}, format="json")
    assert response.status_code == 400, response.content
    response = as_staff.post("/api/v1/sources/", {"model": "tiny-gpt2", "slug": "x1", "path": path}, format="json")
    assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    "path, message",
    [
        ("/tmp/" + "a" * 300, "cannot be read: File name too long."),
        ("/tmp/" + "a" * 5000, "no more than 1000 characters"),
        ("/tmp/a\x00b", "Null characters are not allowed."),
    ],
)
def test_a_server_path_the_file_system_refuses_says_why(as_staff, path, message):
    response = as_staff.post("/api/v1/models/", {"slug": "x1", "path": path}, format="json")
    assert response.status_code == 400, response.content
    assert message in json.dumps(error_of(response)["details"])
    assert not LanguageModel.objects.filter(slug="x1").exists()
