"""Evaluation runs on the run engine, the evaluate_source command, and the quality figures an activation run
stores with its dictionary sources."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluations.core.metrics import evaluate_dictionary
from evaluations.models import SourceEvaluation
from evaluations.services.evaluation_runs import evaluation_run_create
from features.models import PipelineRun, Source
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.loading import load_language_model
from features.pipeline.sources import dictionary_source
from features.services import activation_runs, registration

pytestmark = pytest.mark.django_db


@pytest.fixture
def sae_source(tiny_gpt2_dir, tiny_sae_dir):
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    return registration.dictionary_register(model=model, path=str(tiny_sae_dir), slug="1-res")


def reference(tiny_gpt2_dir, tiny_sae_dir, corpus, n_windows, window_len):
    loaded = load_language_model(tiny_gpt2_dir)
    spec = dictionary_source(loaded, load_dictionary(tiny_sae_dir), "1-res")
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(corpus),
        n_windows=n_windows,
        window_len=window_len,
        corpus_name="x",
        prepend_bos=False,
    ).token_ids
    return evaluate_dictionary(loaded, spec, windows).metrics()


def test_evaluate_source_stores_and_prints_the_figures(sae_source, tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file):
    out, err = StringIO(), StringIO()
    call_command(
        "evaluate_source",
        "tiny-gpt2/1-res",
        "--windows=5",
        "--window-len=12",
        f"--corpus={sample_corpus_file}",
        "--sync",
        "--json",
        stdout=out,
        stderr=err,
    )
    printed = json.loads(out.getvalue())
    evaluation = SourceEvaluation.objects.get(source=sae_source)
    assert evaluation.run.kind == PipelineRun.Kind.EVALUATION and evaluation.run.status == "succeeded"
    assert printed["run"] == evaluation.run.pk and printed["tokens"] == evaluation.tokens > 0
    expected = reference(tiny_gpt2_dir, tiny_sae_dir, str(sample_corpus_file), 5, 12)
    for name in ("l0", "explained_variance", "cosine", "shrinkage", "delta_loss", "loss_recovered", "kl_spliced"):
        assert evaluation.metrics[name] == pytest.approx(expected[name], rel=1e-5), name
        assert printed["metrics"][name] == pytest.approx(expected[name], rel=1e-5), name
    assert "delta loss" in evaluation.run.message


def test_neurons_and_unknown_sources_are_refused_with_a_reason(sae_source):
    neurons = Source.objects.create(
        model=sae_source.model, slug="0-mlp", kind="neurons", hook_name="blocks.0.mlp.hook_post", layer=0,
        set_name="mlp", n_features=128,
    )  # fmt: skip
    with pytest.raises(PipelineInputError, match="not a dictionary"):
        evaluation_run_create(source=neurons)
    with pytest.raises(CommandError, match="no source"):
        call_command("evaluate_source", "tiny-gpt2/nope", "--sync")
    with pytest.raises(CommandError, match="number of windows"):
        call_command("evaluate_source", "tiny-gpt2/1-res", "--windows=0", "--sync")
    assert not PipelineRun.objects.exists() and not SourceEvaluation.objects.exists()


def test_a_missing_corpus_fails_the_run_and_stores_nothing(sae_source, tmp_path):
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "evaluate_source", "tiny-gpt2/1-res", f"--corpus={tmp_path / 'none.txt'}", "--sync", stdout=StringIO()
        )
    assert PipelineRun.objects.get().status == "failed"
    assert not SourceEvaluation.objects.exists()


def test_an_activation_run_stores_the_pass_figures_with_its_dictionary(
    sae_source, tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file
):
    run = activation_runs.activation_run_create(
        model=sae_source.model,
        dictionary_sources=[sae_source],
        corpus=str(sample_corpus_file),
        n_windows=6,
        window_len=12,
        top_k=3,
        shard_windows=4,  # two shards, merged: the figures must equal one pass's
        sync=True,
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == "succeeded", run.error
    quality = Source.objects.get(pk=sae_source.pk).config["quality"]
    expected = reference(tiny_gpt2_dir, tiny_sae_dir, str(sample_corpus_file), 6, 12)
    assert quality["run"] == run.pk and quality["tokens"] == expected["tokens"]
    for name in (
        "l0",
        "l0_median",
        "dead_fraction",
        "dense_fraction",
        "explained_variance",
        "mse",
        "cosine",
        "shrinkage",
    ):
        assert quality[name] == pytest.approx(expected[name], rel=1e-4), name
    assert quality["l0_histogram"] == expected["l0_histogram"]
    assert quality["log_density_histogram"] == expected["log_density_histogram"]
    assert "delta_loss" not in quality  # the spliced loss is the evaluation run's
