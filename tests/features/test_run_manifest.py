"""Every activation run's manifest: the files it read (hashes equal hashlib's over the files), the tokenizer, the
corpus, the exact windowing, the dictionaries, versions, device and dtype; shown on the run and source pages and
in the API with the automatic checks' warnings."""

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy
import pytest
import sae_lens
import torch
import transformers

from features.models import PipelineRun, Source
from features.pipeline import manifest as manifest_module
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.loading import load_language_model
from features.services import activation_runs, registration

pytestmark = pytest.mark.django_db


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dictionary_run(tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file) -> PipelineRun:
    """A run of the tiny GPT-2's neurons of layer 0 and the tiny SAE over the sample corpus."""
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    source = registration.dictionary_register(model=model, path=str(tiny_sae_dir), slug="1-res")
    run = activation_runs.activation_run_create(
        model=model,
        layers=[0],
        dictionary_sources=[source],
        corpus=str(sample_corpus_file),
        n_windows=8,
        window_len=12,
        top_k=3,
        sync=True,
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    return run


def test_the_manifest_holds_the_model_files_hashes(dictionary_run, tiny_gpt2_dir):
    files = dictionary_run.manifest["model"]["files"]
    on_disk = sorted(path.name for path in tiny_gpt2_dir.iterdir() if path.is_file())
    assert sorted(files) == on_disk
    for name in on_disk:
        assert files[name]["sha256"] == sha256(tiny_gpt2_dir / name)
        assert files[name]["bytes"] == (tiny_gpt2_dir / name).stat().st_size
    assert files["model.safetensors"]["role"] == "weights"
    assert files["config.json"]["role"] == "config"
    assert files["tokenizer.json"]["role"] == files["tokenizer_config.json"]["role"] == "tokenizer"


def test_the_manifest_holds_the_tokenizer_and_the_exact_windowing(dictionary_run, tiny_gpt2_dir, sample_corpus_file):
    manifest = dictionary_run.manifest
    assert manifest["tokenizer"]["vocab_size"] == 30522
    assert manifest["tokenizer"]["special_tokens"]["cls_token"] == {"token": "[CLS]", "id": 101}
    assert manifest["tokenizer"]["chat_template_sha256"] is None
    windowing = manifest["windowing"]
    # The SAE says prepend_bos=False: [CLS] is dropped, [SEP] closes each window and separates documents.
    assert windowing["prefix"] == []
    assert windowing["suffix"] == [{"id": 102, "token": "[SEP]"}]
    assert windowing["separator"] == {"id": 102, "token": "[SEP]"}
    assert (windowing["prepend_bos_requested"], windowing["prepend_bos_effective"]) == (False, False)
    assert (windowing["window_len"], windowing["windows"], windowing["tokens"], windowing["content_len"]) == (
        12,
        8,
        96,
        11,
    )
    tokenizer = load_language_model(tiny_gpt2_dir).tokenizer
    windows = make_windows(
        tokenizer,
        corpus_documents(str(sample_corpus_file)),
        n_windows=8,
        window_len=12,
        corpus_name="x",
        prepend_bos=False,
    )
    digest = hashlib.sha256()
    for window in windows.token_ids:
        digest.update(json.dumps(window).encode())
    assert windowing["token_ids_sha256"] == digest.hexdigest()


def test_the_manifest_holds_the_corpus_dictionary_versions_device_and_dtype(
    dictionary_run, tiny_sae_dir, sample_corpus_file
):
    manifest = dictionary_run.manifest
    assert manifest["corpus"] == {
        "kind": "file",
        "name": sample_corpus_file.name,
        "sha256": sha256(sample_corpus_file),
    }
    dictionary = manifest["dictionaries"]["1-res"]
    assert dictionary["files"] == {
        "cfg.json": sha256(tiny_sae_dir / "cfg.json"),
        "sae_weights.safetensors": sha256(tiny_sae_dir / "sae_weights.safetensors"),
    }
    assert (dictionary["architecture"], dictionary["d_in"], dictionary["d_sae"]) == ("standard", 32, 40)
    assert dictionary["hook_name_read"] == "blocks.1.hook_resid_pre"
    assert dictionary["config"]["prepend_bos"] is False
    assert manifest["sources"] == {
        "0-mlp": {"kind": "neurons", "hook_name": "blocks.0.mlp.hook_post"},
        "1-res": {"kind": "sae", "hook_name": "blocks.1.hook_resid_pre"},
    }
    versions = manifest["versions"]
    assert versions["python"] == platform.python_version()
    assert versions["torch"] == torch.__version__
    assert versions["transformers"] == transformers.__version__
    assert versions["sae-lens"] == sae_lens.__version__
    assert versions["numpy"] == numpy.__version__
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert manifest["commit"] == (commit.stdout.strip() or None)
    assert (manifest["device"], manifest["dtype"]) == ("cpu", "float32")


def test_a_file_is_hashed_once_while_its_size_and_time_stay(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 100)
    first = manifest_module.file_sha256(path)
    assert first == hashlib.sha256(b"a" * 100).hexdigest()
    stat = path.stat()
    path.write_bytes(b"b" * 100)  # same size; put the old time back: the cache cannot tell
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert manifest_module.file_sha256(path) == first
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched: hashed again
    assert manifest_module.file_sha256(path) == hashlib.sha256(b"b" * 100).hexdigest()


def test_the_run_page_shows_the_manifest_and_the_warnings(client, dictionary_run, tiny_gpt2_dir):
    assert dictionary_run.warnings, "the random tiny SAE should earn warnings"
    html = client.get(dictionary_run.get_absolute_url()).content.decode()
    assert "Automatic checks" in html
    for warning in dictionary_run.warnings:
        assert f'data-check="{warning["code"]}"' in html
    assert sha256(tiny_gpt2_dir / "model.safetensors") in html
    assert dictionary_run.manifest["windowing"]["token_ids_sha256"] in html
    assert torch.__version__ in html


def test_the_source_page_shows_its_own_warnings_and_manifest(client, dictionary_run, tiny_sae_dir):
    source = Source.objects.get(slug="1-res")
    assert source.dashboards_run == dictionary_run
    html = client.get(source.get_absolute_url()).content.decode()
    codes = {w["code"] for w in dictionary_run.warnings if w["source"] == "1-res"}
    assert codes
    for code in codes:
        assert f'data-check="{code}"' in html
    assert sha256(tiny_sae_dir / "sae_weights.safetensors") in html
    assert f"run #{dictionary_run.pk}" in html
    neurons = client.get(Source.objects.get(slug="0-mlp").get_absolute_url()).content.decode()
    assert "checks read dictionary sources only" in neurons
    assert sha256(tiny_sae_dir / "sae_weights.safetensors") not in neurons  # another source's dictionary


def test_the_api_gives_the_warnings_of_sources_and_runs_and_the_manifest_of_a_run(client, dictionary_run):
    expected = [w for w in dictionary_run.warnings if w["source"] == "1-res"]
    source = client.get("/api/v1/models/tiny-gpt2/sources/1-res/").json()
    assert (source["checks_run"], source["warnings"]) == (dictionary_run.pk, expected)
    listed = {s["slug"]: s for s in client.get("/api/v1/sources/?model=tiny-gpt2").json()["results"]}
    assert listed["1-res"]["warnings"] == expected and listed["0-mlp"]["warnings"] == []
    run = client.get(f"/api/v1/runs/{dictionary_run.pk}/").json()
    assert run["warnings"] == dictionary_run.warnings
    assert run["manifest"] == dictionary_run.manifest
    assert "manifest" not in client.get("/api/v1/runs/").json()["results"][0]


def test_a_run_that_cannot_read_its_corpus_fails_with_the_reason(tiny_gpt2_dir, tmp_path):
    run = activation_runs.activation_run_create(
        model_path=str(tiny_gpt2_dir), model_slug="tiny", layers=[0], corpus=str(tmp_path / "none.txt"), sync=True
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.FAILED and "does not exist" in run.error
