"""Activation runs through the services, the management commands and real django-q2 workers."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from explanations.models import Explanation, ExplanationRevision
from features.models import (
    ActivationExample,
    ContextWindow,
    Feature,
    LanguageModel,
    PipelineRun,
    PipelineShard,
    ShardPartial,
    Source,
)
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.loading import load_language_model
from features.pipeline.stream import content_mask
from features.services import activation_runs, registration, runs
from tests.conftest import SAMPLE_TEXT, save_tiny_dictionary

pytestmark = pytest.mark.django_db


def snapshot(model_slug: str) -> dict:
    """Everything a run stored for a model, in a comparable form."""
    features = {
        (f.source.slug, f.index): (f.max_activation, f.density, f.histogram, f.top_logits, f.similar)
        for f in Feature.objects.filter(source__model__slug=model_slug).select_related("source")
    }
    examples = sorted(
        (
            e.feature.source.slug,
            e.feature.index,
            e.kind,
            e.interval_index or 0,
            e.rank,
            e.window.position,
            e.max_value,
            tuple(e.activations),
            e.bin_contains,
        )
        for e in ActivationExample.objects.filter(feature__source__model__slug=model_slug).select_related(
            "feature__source", "window"
        )
    )
    return {"features": features, "examples": examples, "windows": ContextWindow.objects.count()}


def run_sync(**params) -> PipelineRun:
    run = activation_runs.activation_run_create(sync=True, **params)
    return activation_runs.activation_run_start(run_id=run.pk)


def test_a_run_stores_full_dashboards_of_neurons(computed_run, tiny_bert_dir, sample_corpus_file):
    model = LanguageModel.objects.get(slug="tiny-bert")
    assert computed_run.model == model and computed_run.progress == 1.0
    assert list(model.sources.values_list("slug", "hook_name", "n_features")) == [
        ("0-mlp", "blocks.0.mlp.hook_post", 48),
        ("2-mlp", "blocks.2.mlp.hook_post", 48),
    ]
    assert Feature.objects.count() == 96
    assert ActivationExample.objects.filter(kind="top").count() == 96 * 5
    assert ContextWindow.objects.count() <= 12  # stored once, shared by every example

    loaded = load_language_model(tiny_bert_dir)
    windows = make_windows(
        loaded.tokenizer, corpus_documents(str(sample_corpus_file)), n_windows=12, window_len=16, corpus_name="x"
    ).token_ids
    captured = []
    handle = loaded.model.encoder.layer[2].intermediate.register_forward_hook(lambda *a: captured.append(a[2]))
    ids = torch.tensor(windows)
    with torch.inference_mode():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids))
    handle.remove()
    mask = content_mask(loaded, ids)
    acts = torch.where(mask[:, :, None], captured[0], 0.0)[:, :, 7]  # neuron 7 of layer 2: [W, T]
    window_max = torch.where(mask, acts, float("-inf")).amax(dim=1)

    feature = Feature.objects.get(source__slug="2-mlp", index=7)
    assert feature.max_activation == pytest.approx(float(window_max.max()), rel=1e-5)
    assert feature.density == pytest.approx(float(((acts > 0) & mask).sum() / mask.sum()))
    top = list(feature.examples.filter(kind="top").select_related("window").order_by("rank"))
    expected_order = sorted(range(12), key=lambda w: (-float(window_max[w]), w))[:5]
    assert [e.window.position for e in top] == expected_order
    assert top[0].window.token_ids == windows[expected_order[0]]
    np.testing.assert_allclose(top[0].activations, acts[expected_order[0]].numpy(), rtol=1e-5, atol=1e-6)
    # interval samples: each sits inside its interval, and the interval shares add up to 1
    intervals = list(feature.examples.filter(kind="interval"))
    assert intervals
    for example in intervals:
        assert example.bin_min <= example.max_value <= example.bin_max + 1e-6
    shares = {e.interval_index: e.bin_contains for e in intervals}
    assert sum(shares.values()) <= 1.0 + 1e-9
    assert sum(feature.histogram["counts"]) == int(((acts > 0) & mask).sum())
    # similar features by output-weight cosine similarity; BERT has no unembedding, so no logits
    assert len(feature.similar) == 10 and all(s["index"] != 7 for s in feature.similar)
    assert feature.top_logits is None


def test_a_sharded_run_equals_the_unsharded_run(tiny_gpt2_dir, sample_corpus_file):
    common = {"layers": [0, 1], "corpus": str(sample_corpus_file), "n_windows": 10, "window_len": 12, "top_k": 4}
    whole = run_sync(model_path=str(tiny_gpt2_dir), model_slug="whole", shard_windows=100, **common)
    sharded = run_sync(model_path=str(tiny_gpt2_dir), model_slug="sharded", shard_windows=3, **common)
    assert whole.status == sharded.status == PipelineRun.Status.SUCCEEDED, (whole.error, sharded.error)
    assert sharded.shards.count() == 4 and sharded.shards_done == 4
    assert not ShardPartial.objects.exists()  # merged and cleaned up
    a, b = snapshot("whole"), snapshot("sharded")
    assert a["features"] == b["features"]
    assert a["examples"] == b["examples"]
    # GPT-2 has an unembedding, so neurons have output logits
    feature = Feature.objects.get(source__model__slug="sharded", source__slug="1-mlp", index=3)
    assert len(feature.top_logits) == 10 and feature.top_logits[0]["value"] >= feature.top_logits[-1]["value"]


def test_rerunning_replaces_rows_and_keeps_explanations(computed_run, sample_corpus_file):
    feature = Feature.objects.get(source__slug="0-mlp", index=3)
    explanation = Explanation.objects.create(feature=feature, method="manual")
    explanation.current_revision = ExplanationRevision.objects.create(explanation=explanation, text="commas")
    explanation.save()
    before = snapshot("tiny-bert")
    rerun = run_sync(
        model=computed_run.model, layers=[0, 2], corpus=str(sample_corpus_file), n_windows=12, window_len=16, top_k=5
    )
    assert rerun.status == PipelineRun.Status.SUCCEEDED
    assert snapshot("tiny-bert") == before
    assert Explanation.objects.get(pk=explanation.pk).feature_id == feature.pk
    # starting a finished run again does nothing
    assert activation_runs.activation_run_start(run_id=rerun.pk).finished_at == rerun.finished_at


def test_a_dictionary_source_gets_dashboards_equal_to_sae_lens_encoding(
    tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file
):
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    source = registration.dictionary_register(model=model, path=str(tiny_sae_dir), slug="1-res")
    assert (source.kind, source.hook_name, source.n_features) == ("sae", "blocks.1.hook_resid_pre", 40)
    run = run_sync(
        model=model, dictionary_sources=[source], corpus=str(sample_corpus_file), n_windows=8, window_len=12, top_k=3
    )
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error

    loaded = load_language_model(tiny_gpt2_dir)
    sae = load_dictionary(tiny_sae_dir).sae
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(str(sample_corpus_file)),
        n_windows=8,
        window_len=12,
        corpus_name="x",
        prepend_bos=False,
    ).token_ids
    ids = torch.tensor(windows)
    with torch.inference_mode():
        resid = loaded.model.transformer(input_ids=ids, output_hidden_states=True).hidden_states[1]
        features = sae.encode(resid)  # [W, T, 40], exactly what sae-lens computes
    mask = content_mask(loaded, ids)  # the [SEP] between documents is not text
    features = torch.where(mask[:, :, None], features, 0.0)
    firing = [index for index in range(40) if features[:, :, index].max() > 0]
    assert len(firing) >= 5, "the test SAE must fire, or the comparison would only check zeros"
    for index in firing[:3] + [i for i in (0, 13, 39) if i not in firing[:3]]:
        acts = features[:, :, index]
        stored = Feature.objects.get(source=source, index=index)
        assert stored.max_activation == pytest.approx(float(acts.amax()), abs=1e-5)
        assert stored.density == pytest.approx(float(((acts > 0) & mask).sum() / mask.sum()))
        if stored.max_activation > 0:
            direction = sae.W_dec[index] @ loaded.model.lm_head.weight.T
            assert stored.top_logits[0]["id"] == int(direction.argmax())
            assert stored.bottom_logits[0]["id"] == int(direction.argmin())
    assert "loss_applies" not in Source.objects.get(pk=source.pk).config["quality"]  # GPT-2 has a loss: unmeasured


def test_an_encoders_pass_figures_say_no_loss_applies(tiny_bert_dir, sample_corpus_file, tmp_path):
    # MiniLM-like encoders have no next-token head: the compare page says "does not apply", not "not measured".
    sae_dir = save_tiny_dictionary(
        tmp_path / "sae", "standard", d_in=32, d_sae=24, hook_name="blocks.1.hook_resid_pre", encoder_scale=3.0
    )
    model = registration.model_register(slug="tiny-bert", path=str(tiny_bert_dir))
    source = registration.dictionary_register(model=model, path=str(sae_dir), slug="1-res")
    run = run_sync(
        model=model, dictionary_sources=[source], corpus=str(sample_corpus_file), n_windows=4, window_len=12, top_k=3
    )
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    quality = Source.objects.get(pk=source.pk).config["quality"]
    assert quality["loss_applies"] is False and "explained_variance" in quality


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"model_path": "/nonexistent/checkpoint"}, "is not a directory"),
        ({"layers": "0,9"}, "Layer 9 does not exist: this model has layers 0 to 2"),
        ({"corpus": "EMPTY"}, "is empty"),
    ],
)
def test_bad_input_fails_the_run_with_its_reason_and_writes_nothing(change, reason, tiny_bert_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    args = [
        "--model-path",
        change.get("model_path", str(tiny_bert_dir)),
        "--slug",
        "bad",
        "--layers",
        change.get("layers", "0"),
        "--windows",
        "4",
        "--window-len",
        "16",
        "--sync",
    ]
    if "corpus" in change:
        args += ["--corpus", str(empty)]
    with pytest.raises(CommandError, match=reason):
        call_command("compute_activations", *args)
    run = PipelineRun.objects.get()
    assert run.status == PipelineRun.Status.FAILED and reason in run.error
    assert not LanguageModel.objects.exists() and not Source.objects.exists() and not Feature.objects.exists()


def test_the_command_refuses_absurd_parameters_before_queueing(tiny_bert_dir):
    for bad_args, message in [
        (["--windows", "0"], "number of windows"),
        (["--window-len", "1000000"], "window length"),
        (["--top-k", "-3"], "top_k"),
        (["--layers", "one"], "comma-separated"),
        (["--shard-windows", "0"], "shard_windows"),
    ]:
        args = ["--model-path", str(tiny_bert_dir), "--layers", "0", *bad_args]
        with pytest.raises(CommandError, match=message):
            call_command("compute_activations", *args)
    assert not PipelineRun.objects.exists()


def test_an_unknown_model_slug_lists_the_registered_ones(computed_run):
    with pytest.raises(CommandError, match="No model 'gpt9' is registered \\(registered: tiny-bert\\)"):
        call_command("compute_activations", "--model", "gpt9", "--layers", "0")


def test_register_model_reports_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CommandError, match="has no config.json"):
        call_command("register_model", str(tmp_path), "--slug", "nothing")
    assert not LanguageModel.objects.exists()


def test_register_model_refuses_a_slug_that_would_shadow_a_page(tiny_bert_dir):
    with pytest.raises(CommandError, match="reserved"):
        call_command("register_model", str(tiny_bert_dir), "--slug", "admin")
    call_command("register_model", str(tiny_bert_dir), "--slug", "tiny")
    assert LanguageModel.objects.get().n_layers == 3


def worker_environment(**extra: str) -> dict[str, str]:
    """Point a worker process at the test database this test is using."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "neuronpedia.test_settings", "Q_WORKERS": "1", **extra}
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        env.pop("DATABASE_URL", None)  # a sqlite:/// URL would name the development database, not the test one
        env["SQLITE_PATH"] = str(database["NAME"])
    else:
        env["DATABASE_URL"] = (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        )
    return env


def start_worker(**extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=Path(settings.BASE_DIR),
        env=worker_environment(**extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    os.killpg(worker.pid, sig)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def wait_for(condition, timeout: float = 120, poll: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_runs_on_a_real_qcluster_worker(tiny_bert_dir, sample_corpus_file, capsys):
    worker = start_worker()
    try:
        call_command(
            "compute_activations",
            "--model-path",
            str(tiny_bert_dir),
            "--slug",
            "tiny-bert",
            "--layers",
            "1",
            "--corpus",
            str(sample_corpus_file),
            "--windows",
            "8",
            "--window-len",
            "16",
            "--shard-windows",
            "3",
            "--timeout",
            "120",
        )
    finally:
        stop_worker(worker)
    run = PipelineRun.objects.get()
    assert run.status == PipelineRun.Status.SUCCEEDED and run.shards_done == 3
    assert "succeeded" in capsys.readouterr().out
    assert Feature.objects.filter(source__slug="1-mlp").count() == 48


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_is_killed_resumes_to_the_same_result(tiny_gpt2_dir, tmp_path):
    # Many small shards, so that the worker is still mid-run when it is killed even on a fast machine.
    corpus = tmp_path / "long.txt"
    corpus.write_text(SAMPLE_TEXT * 20, encoding="utf-8")
    common = {"layers": [0, 1], "corpus": str(corpus), "n_windows": 48, "window_len": 12, "top_k": 4}
    reference = run_sync(model_path=str(tiny_gpt2_dir), model_slug="reference", shard_windows=100, **common)
    assert reference.status == PipelineRun.Status.SUCCEEDED

    run = activation_runs.activation_run_create(
        model_path=str(tiny_gpt2_dir), model_slug="killed", shard_windows=2, **common
    )
    worker = start_worker()
    try:
        runs.run_enqueue(run=run)
        wait_for(lambda: PipelineShard.objects.filter(run=run, status="done").count() >= 2, poll=0.02)
    finally:
        stop_worker(worker, signal.SIGKILL)  # mid-run, with no chance to clean up
    done_before = PipelineShard.objects.filter(run=run, status="done").count()
    assert done_before < 24 and PipelineRun.objects.get(pk=run.pk).status != PipelineRun.Status.SUCCEEDED

    call_command("resume_run", str(run.pk), "--no-wait")
    worker = start_worker()
    try:
        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).is_finished)
    finally:
        stop_worker(worker)
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert snapshot("killed")["examples"] == snapshot("reference")["examples"]
    assert snapshot("killed")["features"] == snapshot("reference")["features"]
    assert Feature.objects.filter(source__model__slug="killed").count() == 2 * 128  # no duplicates


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").split(":")[0] not in ("postgres", "postgresql"),
    reason="the Redis broker is exercised against PostgreSQL, as in a multi-machine deployment",
)
@pytest.mark.django_db(transaction=True)
def test_two_redis_broker_workers_give_the_same_result_as_the_orm_broker(tiny_gpt2_dir, sample_corpus_file):
    import redis

    common = {"layers": [0, 1], "corpus": str(sample_corpus_file), "n_windows": 12, "window_len": 12, "top_k": 4}
    reference = run_sync(model_path=str(tiny_gpt2_dir), model_slug="reference", shard_windows=100, **common)
    redis_url = "redis://127.0.0.1:6379/7"
    redis.Redis.from_url(redis_url).flushdb()
    workers = [start_worker(REDIS_URL=redis_url, Q_CLUSTER_NAME="test-redis") for _ in range(2)]
    try:
        run = activation_runs.activation_run_create(
            model_path=str(tiny_gpt2_dir), model_slug="redis", shard_windows=2, **common
        )
        # queue through the same broker the workers listen on
        enqueue = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import django; django.setup(); from features.services.runs import run_enqueue; "
                f"from features.models import PipelineRun; "
                f"run = PipelineRun.objects.get(pk={run.pk}); "
                f"run_enqueue(run=run)",
            ],
            cwd=Path(settings.BASE_DIR),
            env=worker_environment(REDIS_URL=redis_url, Q_CLUSTER_NAME="test-redis"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert enqueue.returncode == 0, enqueue.stderr
        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).is_finished, timeout=180)
    finally:
        for worker in workers:
            stop_worker(worker)
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert reference.status == PipelineRun.Status.SUCCEEDED
    assert snapshot("redis")["examples"] == snapshot("reference")["examples"]


def test_a_registered_hook_override_is_what_runs_read(tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file):
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    source = registration.dictionary_register(
        model=model, path=str(tiny_sae_dir), slug="0-res", hook_name="blocks.0.hook_resid_pre"
    )
    assert source.hook_name == "blocks.0.hook_resid_pre"
    run_sync(model=model, dictionary_sources=[source], corpus=str(sample_corpus_file), n_windows=4, window_len=12)
    loaded = load_language_model(tiny_gpt2_dir)
    sae = load_dictionary(tiny_sae_dir).sae
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(str(sample_corpus_file)),
        n_windows=4,
        window_len=12,
        corpus_name="x",
        prepend_bos=False,
    ).token_ids
    ids = torch.tensor(windows)
    with torch.inference_mode():
        embedded = loaded.model.transformer(input_ids=ids, output_hidden_states=True).hidden_states[0]
        features = torch.where(content_mask(loaded, ids)[:, :, None], sae.encode(embedded), 0.0)
    maxima = [Feature.objects.get(source=source, index=i).max_activation for i in range(40)]
    np.testing.assert_allclose(maxima, features.amax(dim=(0, 1)).numpy(), atol=1e-5)


def test_a_shard_refuses_a_corpus_that_changed_since_the_run_started(tiny_bert_dir, tmp_path):
    """Every shard cuts the corpus again, maybe on another machine: a file edited in between would give windows
    that do not match the other shards' (and stored windows of the old text under the same key)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The first version of the corpus has enough words for a few windows of eight tokens each.")
    run = activation_runs.activation_run_create(
        model_path=str(tiny_bert_dir), model_slug="changed", layers=[0], corpus=str(corpus),
        n_windows=2, window_len=8, shard_windows=1,
    )  # fmt: skip
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.shards_total == 2 and run.params["windows_key"]

    corpus.write_text("A second version, edited after the run started, with enough words for windows too.")
    activation_runs.activation_shard_compute(shard_id=run.shards.order_by("index").first().pk)

    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert "is not the one this run started on" in run.error
    assert not Feature.objects.exists() and not ContextWindow.objects.exists()
