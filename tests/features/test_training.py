"""Training an SAE on our own activation stream with sae-lens, saving it, registering it, and the train_sae command."""

import pytest
import torch
from django.core.management import CommandError, call_command

from features.models import Feature, PipelineRun, Source
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import parse_hook_name
from features.pipeline.loading import load_language_model
from features.pipeline.stream import content_mask
from features.pipeline.training import train_sae, window_activations
from features.services import activation_runs, registration

HOOK = "blocks.1.hook_resid_pre"
SMALL = {"d_sae": 48, "k": 6, "batch_tokens": 64, "buffer_tokens": 256, "lr": 3e-3}


@pytest.fixture(scope="module")
def loaded(tiny_gpt2_dir):
    return load_language_model(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def windows(loaded, sample_corpus_file):
    corpus = str(sample_corpus_file)
    return make_windows(
        loaded.tokenizer, corpus_documents(corpus), n_windows=20, window_len=16, corpus_name=corpus
    ).token_ids


@pytest.fixture(scope="module")
def trained(loaded, windows):
    return train_sae(loaded, HOOK, windows, steps=60, seed=1, **SMALL)


def test_training_reduces_the_reconstruction_error(trained):
    report = trained.report
    assert report.mse < 0.5 * report.initial_mse
    assert 0 < report.explained_variance <= 1
    assert 0 < report.l0 <= SMALL["k"]  # TopK: at most k features per token
    assert 0 <= report.dead_fraction < 1
    assert report.steps == 60 and report.tokens == 60 * SMALL["batch_tokens"]


def test_a_standard_sae_trains_too(loaded, windows):
    report = train_sae(loaded, HOOK, windows, architecture="standard", l1_coefficient=0.5, steps=60, **SMALL).report
    assert report.mse < report.initial_mse
    assert report.l0 > 0


def test_training_is_deterministic_for_a_seed(loaded, windows, trained):
    again = train_sae(loaded, HOOK, windows, steps=60, seed=1, **SMALL)
    assert torch.equal(again.sae.W_enc, trained.sae.W_enc)
    other = train_sae(loaded, HOOK, windows, steps=5, seed=2, **SMALL)
    assert not torch.equal(other.sae.W_enc, trained.sae.W_enc)


def test_the_stream_leaves_out_special_tokens(loaded, windows):
    hook = parse_hook_name(HOOK, loaded)
    activations = torch.cat(list(window_activations(loaded, hook, windows)))
    assert len(activations) == int(content_mask(loaded, torch.tensor(windows)).sum())
    # [CLS] and [SEP] frame each window of 16, and [SEP] also separates documents inside windows.
    assert 0 < len(activations) < len(windows) * 14


def test_the_saved_sae_loads_and_encodes_like_the_trained_one(trained, loaded, windows, tmp_path):
    trained.save(tmp_path / "sae")
    dictionary = load_dictionary(tmp_path / "sae")
    assert (dictionary.architecture, dictionary.d_in, dictionary.d_sae) == ("topk", 32, 48)
    # Its windows began with [CLS], which stands for BOS in BERT: the saved config says so.
    assert dictionary.hook_name == HOOK and dictionary.prepend_bos is True
    assert dictionary.config["metadata"]["training_report"]["l0"] == pytest.approx(trained.report.l0, abs=1e-5)
    activations = next(window_activations(loaded, parse_hook_name(HOOK, loaded), windows))
    with torch.no_grad():
        expected = trained.sae.encode(activations)
    torch.testing.assert_close(dictionary.encode(activations), expected)


def test_bad_arguments_fail_clearly(loaded, windows):
    with pytest.raises(PipelineInputError, match="has no hook 'blocks.5.hook_resid_pre'"):
        train_sae(loaded, "blocks.5.hook_resid_pre", windows, steps=1, **SMALL)
    with pytest.raises(PipelineInputError, match="k must be between"):
        train_sae(loaded, HOOK, windows, steps=1, **{**SMALL, "k": 100})


@pytest.mark.django_db
def test_the_saved_sae_registers_as_a_source_and_runs_next_to_neurons(
    trained, tiny_gpt2_dir, sample_corpus_file, tmp_path
):
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    source = registration.dictionary_register(model=model, path=str(trained.save(tmp_path / "sae")), slug="1-res-sae")
    assert (source.kind, source.hook_name, source.layer, source.n_features) == ("sae", HOOK, 1, 48)
    assert source.config["prepend_bos"] is True

    run = activation_runs.activation_run_create(
        model=model,
        layers=[1],
        dictionary_sources=[source],
        corpus=str(sample_corpus_file),
        n_windows=12,
        window_len=16,
        top_k=3,
        sync=True,
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert Feature.objects.filter(source=source).count() == 48
    assert Feature.objects.filter(source__slug="1-mlp").count() == 128
    assert Feature.objects.filter(source=source, density__gt=0).exists()


@pytest.mark.django_db
def test_the_command_trains_saves_and_registers(tiny_gpt2_dir, sample_corpus_file, settings, tmp_path, capsys):
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    call_command(
        "train_sae",
        *("--model", "tiny-gpt2", "--hook", HOOK, "--slug", "1-res-sae", "--d-sae", "40", "--k", "4"),
        *("--corpus", str(sample_corpus_file), "--windows", "20", "--window-len", "16"),
        *("--steps", "5", "--batch-tokens", "64"),
    )
    source = Source.objects.get(model__slug="tiny-gpt2", slug="1-res-sae")
    assert (source.kind, source.hook_name, source.n_features) == ("sae", HOOK, 40)
    assert source.dictionary_path == str((tmp_path / "data" / "dictionaries" / "tiny-gpt2" / "1-res-sae").resolve())
    output = capsys.readouterr().out
    assert "explained variance" in output and "Registered tiny-gpt2/1-res-sae" in output


@pytest.mark.django_db
def test_the_command_errors_clearly_on_a_hook_or_model_it_lacks(tiny_gpt2_dir, tmp_path):
    registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    common = ("--slug", "x-sae", "--out", str(tmp_path / "never"))
    with pytest.raises(CommandError, match=r"no hook 'blocks.9.hook_resid_pre': it has layers 0 to 1"):
        call_command("train_sae", "--model", "tiny-gpt2", "--hook", "blocks.9.hook_resid_pre", *common)
    with pytest.raises(CommandError, match="Unsupported hook name 'blocks.0.hook_nothing'"):
        call_command("train_sae", "--model", "tiny-gpt2", "--hook", "blocks.0.hook_nothing", *common)
    with pytest.raises(CommandError, match="No model 'gpt9' is registered"):
        call_command("train_sae", "--model", "gpt9", "--hook", HOOK, *common)
    assert not (tmp_path / "never").exists() and not Source.objects.exists()
