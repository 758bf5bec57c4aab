"""sweep_saes queues one dictionary training run per width and sparsity on one hook; each trains with progress on
its run, saves, and registers a source."""

import pytest
from django.core.management import CommandError, call_command

from features.models import PipelineRun, Source
from features.pipeline.dictionaries import load_dictionary
from features.services import registration
from features.services.runs import run_resume

HOOK = "blocks.1.hook_resid_pre"
TINY = ("--windows", "20", "--window-len", "16", "--steps", "6", "--batch-tokens", "32")


@pytest.fixture
def model(db, tiny_gpt2_dir, settings, tmp_path):
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    return registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))


def test_a_sweep_trains_every_width_and_sparsity_as_runs_and_registers_them(model, sample_corpus_file, capsys):
    call_command(
        "sweep_saes",
        "tiny-gpt2",
        HOOK,
        "--widths",
        "16,24",
        "--k",
        "2,4",
        "--corpus",
        str(sample_corpus_file),
        *TINY,
        "--sync",
    )
    runs = PipelineRun.objects.filter(kind=PipelineRun.Kind.DICTIONARY)
    assert runs.count() == 4
    assert set(runs.values_list("status", flat=True)) == {PipelineRun.Status.SUCCEEDED}
    assert set(runs.values_list("progress", flat=True)) == {1.0}
    sources = {source.slug: source for source in Source.objects.filter(model=model)}
    assert {
        "1-resid-pre-topk-16-k2",
        "1-resid-pre-topk-16-k4",
        "1-resid-pre-topk-24-k2",
        "1-resid-pre-topk-24-k4",
    } <= set(sources)
    source = sources["1-resid-pre-topk-24-k4"]
    assert (source.n_features, source.hook_name) == (24, HOOK)
    dictionary = load_dictionary(source.dictionary_path)
    assert dictionary.config["k"] == 4
    assert dictionary.config["metadata"]["training_settings"] == {
        "architecture": "topk",
        "k": 4,
        "steps": 6,
        "batch_tokens": 32,
        "lr": 0.001,
        "seed": 0,
    }
    run = runs.get(params__slug="1-resid-pre-topk-24-k4")
    assert run.params["source_id"] == source.pk and "L0" in run.message
    assert "4 dictionaries on tiny-gpt2" in capsys.readouterr().out


def test_a_jumprelu_sweep_takes_l0_coefficients(model, sample_corpus_file):
    call_command(
        "sweep_saes",
        "tiny-gpt2",
        HOOK,
        "--widths",
        "16",
        "--architecture",
        "jumprelu",
        "--l0",
        "0.5",
        "--corpus",
        str(sample_corpus_file),
        *TINY,
        "--sync",
    )
    source = Source.objects.get(slug="1-resid-pre-jumprelu-16-l0-0p5")
    assert load_dictionary(source.dictionary_path).architecture == "jumprelu"


def test_a_failed_run_says_why_and_resumes(model, sample_corpus_file, tmp_path):
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "sweep_saes",
            "tiny-gpt2",
            "blocks.1.hook_nothing",
            "--widths",
            "16",
            "--k",
            "2",
            "--corpus",
            str(sample_corpus_file),
            *TINY,
            "--sync",
        )
    run = PipelineRun.objects.get(kind=PipelineRun.Kind.DICTIONARY)
    assert run.status == PipelineRun.Status.FAILED and "hook_nothing" in run.error
    assert not Source.objects.filter(model=model).exclude(kind="neurons").exists()
    resumed = run_resume(run_id=run.pk)  # the engine knows the kind: it queues the training again
    assert "again" in resumed.summary and resumed.run.status == PipelineRun.Status.FAILED  # the same bad hook


def test_bad_sweeps_are_refused_before_anything_is_queued(model):
    with pytest.raises(CommandError, match="takes its sparsities from --k"):
        call_command("sweep_saes", "tiny-gpt2", HOOK, "--widths", "16", "--l1", "0.5")
    with pytest.raises(CommandError, match="from --l1"):
        call_command("sweep_saes", "tiny-gpt2", HOOK, "--widths", "16", "--architecture", "gated", "--k", "4")
    with pytest.raises(CommandError, match="at most every width"):
        call_command("sweep_saes", "tiny-gpt2", HOOK, "--widths", "16", "--k", "32")
    with pytest.raises(CommandError, match="not a comma-separated list"):
        call_command("sweep_saes", "tiny-gpt2", HOOK, "--widths", "sixteen", "--k", "4")
    with pytest.raises(CommandError, match="layers|L from 0 to 1"):
        call_command("sweep_saes", "tiny-gpt2", "blocks.7.hook_resid_pre", "--widths", "16", "--k", "4")
    with pytest.raises(CommandError, match="No model"):
        call_command("sweep_saes", "gpt9", HOOK, "--widths", "16", "--k", "4")
    assert not PipelineRun.objects.filter(kind=PipelineRun.Kind.DICTIONARY).exists()
