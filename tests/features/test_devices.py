"""Devices and precision: names resolved with clear errors, models loaded in a dtype, statistics kept in float32 on
the CPU, bfloat16 dashboards within a stated tolerance of float32 ones, and runs that record and keep their choice."""

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command

from features.models import Feature, LanguageModel, PipelineRun
from features.pipeline import cache, devices
from features.pipeline.cache import LoadedCache
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import capture_activations, parse_hook_name
from features.pipeline.loading import load_language_model
from features.pipeline.sources import dictionary_source, neuron_source, output_directions
from features.pipeline.stream import compute_dashboards
from features.pipeline.training import train_sae
from features.services import activation_runs

# bfloat16 keeps 8 significant bits (a relative rounding error of 2**-9, 0.2%, per operation); after the rounded
# sums of a few layers, the tiny GPT-2's bfloat16 maxima differ from float32's by up to 0.9% of the feature's own
# maximum and 0.6% of the source's largest. The tolerances leave three times that. A token whose float32 value is
# within that error of zero may change sides, so histogram mass moves by about 0.1%; windows whose maxima tie to
# within it may swap places in the top k, so top sets are compared by overlap.
MAX_TOLERANCE = 0.02  # |bf16 - f32| of maxima and top values, relative to the source's largest maximum
MASS_TOLERANCE = 0.01  # |bf16 - f32| of all activating tokens, relative
FEATURE_MASS_TOLERANCE = 0.02  # per feature, relative, plus 2 tokens
TOP_OVERLAP = 0.8  # the least share of a feature's top-k windows both find


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)


# --- Names ------------------------------------------------------------------------------------------------------


def test_auto_is_the_cpu_on_a_machine_without_a_gpu(no_gpu):
    assert devices.resolve("auto", "float32") == ("cpu", "float32")
    assert devices.resolve("", "") == ("cpu", "float32")
    assert devices.resolve(" CPU ", "BFloat16") == ("cpu", "bfloat16")


def test_auto_takes_the_first_gpu_where_there_is_one(two_gpus):
    assert devices.resolve("auto", "bfloat16") == ("cuda:0", "bfloat16")
    assert devices.resolve("cuda", "float16") == ("cuda:0", "float16")
    assert devices.resolve("cuda:1", "float32") == ("cuda:1", "float32")
    with pytest.raises(PipelineInputError, match="'cuda:2'.*cuda:0 to cuda:1"):
        devices.resolve("cuda:2")


def test_cuda_on_a_machine_without_cuda_is_an_error_naming_the_device(no_gpu):
    with pytest.raises(PipelineInputError, match="Device 'cuda': CUDA is not available on this machine"):
        devices.resolve("cuda")
    with pytest.raises(PipelineInputError, match="Device 'cuda:1': CUDA is not available"):
        devices.resolve_device("cuda:1")
    with pytest.raises(PipelineInputError, match="Device 'mps': MPS"):
        devices.resolve("mps")


def test_unknown_names_are_refused_with_the_choices():
    for device in ("tpu", "gpu", "cuda:x", "cpu:0:1"):
        with pytest.raises(PipelineInputError, match="Unknown device .*auto, cpu, cuda, cuda:N or mps"):
            devices.resolve(device)
        with pytest.raises(PipelineInputError, match="Unknown device"):
            devices.check_names(device, "float32")
    for dtype in ("float8", "half", "int8"):
        with pytest.raises(PipelineInputError, match="Unknown dtype .*float32, bfloat16, float16"):
            devices.resolve("cpu", dtype)
        with pytest.raises(PipelineInputError, match="Unknown dtype"):
            devices.check_names("auto", dtype)
    assert devices.check_names("AUTO", "BFLOAT16") == ("auto", "bfloat16")  # resolved later, by the worker


def test_float16_is_refused_on_the_cpu_but_not_on_a_gpu(no_gpu, monkeypatch):
    with pytest.raises(PipelineInputError, match="float16 is not supported on the CPU; use bfloat16"):
        devices.resolve("cpu", "float16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert devices.resolve("cuda", "float16") == ("cuda:0", "float16")
    with pytest.raises(PipelineInputError, match="does not support bfloat16"):
        devices.resolve("cuda", "bfloat16")


# --- The pure pipeline in bfloat16 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2_float32(tiny_gpt2_dir):
    return load_language_model(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def gpt2_bfloat16(tiny_gpt2_dir):
    return load_language_model(tiny_gpt2_dir, dtype="bfloat16")


@pytest.fixture(scope="module")
def builtin_windows(gpt2_float32):
    return make_windows(
        gpt2_float32.tokenizer, corpus_documents("builtin"), n_windows=48, window_len=32, corpus_name="builtin"
    ).token_ids


def test_the_model_loads_in_the_dtype_asked_for_and_the_dictionary_keeps_its_own(
    gpt2_bfloat16, tiny_sae_dir, builtin_windows
):
    assert gpt2_bfloat16.dtype == torch.bfloat16 and gpt2_bfloat16.device == torch.device("cpu")
    assert {parameter.dtype for parameter in gpt2_bfloat16.model.parameters()} == {torch.bfloat16}
    dictionary = load_dictionary(tiny_sae_dir)
    assert dictionary.sae.W_enc.dtype == torch.float32
    hook = parse_hook_name("blocks.1.hook_resid_pre", gpt2_bfloat16)
    ids = torch.tensor(builtin_windows[:2])
    captured = capture_activations(gpt2_bfloat16, [hook], ids)
    assert captured[hook.name].dtype == torch.bfloat16  # what the model computed, as it computed it
    for spec in (neuron_source(gpt2_bfloat16, 1), dictionary_source(gpt2_bfloat16, dictionary, "1-res")):
        hook = spec.hook
        encoded = spec.encode(capture_activations(gpt2_bfloat16, [hook], ids))
        assert encoded.dtype == torch.float32 and encoded.device.type == "cpu"  # where the statistics are kept
    directions = output_directions(gpt2_bfloat16, neuron_source(gpt2_bfloat16, 0))
    assert directions.dtype == torch.float32


def test_bfloat16_dashboards_are_within_the_stated_tolerance_of_float32(
    gpt2_float32, gpt2_bfloat16, tiny_sae_dir, builtin_windows
):
    dictionary = load_dictionary(tiny_sae_dir)
    results = {}
    for loaded in (gpt2_float32, gpt2_bfloat16):
        sources = [neuron_source(loaded, 1), dictionary_source(loaded, dictionary, "1-res")]
        accumulators = compute_dashboards(loaded, sources, builtin_windows, top_k=10)
        results[loaded.dtype] = {slug: accumulator.result() for slug, accumulator in accumulators.items()}
    for slug, exact in results[torch.float32].items():
        close = results[torch.bfloat16][slug]
        scale = np.abs(exact.max_activation).max()
        assert scale > 0 and exact.positive_counts.sum() > 1000, "the comparison must see activity"
        assert np.abs(close.max_activation - exact.max_activation).max() <= MAX_TOLERANCE * scale
        assert np.abs(close.top_values - exact.top_values).max() <= MAX_TOLERANCE * scale
        mass, close_mass = exact.positive_counts.sum(), close.positive_counts.sum()
        assert abs(int(close_mass) - int(mass)) <= MASS_TOLERANCE * mass
        assert np.all(
            np.abs(close.positive_counts - exact.positive_counts) <= FEATURE_MASS_TOLERANCE * exact.positive_counts + 2
        )
        k = exact.top_windows.shape[0]
        for feature in range(exact.top_windows.shape[1]):
            shared = set(exact.top_windows[:, feature].tolist()) & set(close.top_windows[:, feature].tolist())
            assert len(shared) >= TOP_OVERLAP * k, (slug, feature)
        # and bfloat16 is not float32 under another name: something did change
        assert not np.array_equal(close.max_activation, exact.max_activation)


def test_the_cache_keeps_one_item_per_device_and_dtype(tiny_gpt2_dir):
    loads = []

    def counting_load(path, **options):
        loads.append(options)
        return load_language_model(path, **options)

    models = LoadedCache(counting_load, max_items=2)
    first = models.get(str(tiny_gpt2_dir), device="cpu", dtype="float32")
    assert models.get(str(tiny_gpt2_dir), dtype="float32", device="cpu") is first
    other = models.get(str(tiny_gpt2_dir), device="cpu", dtype="bfloat16")
    assert other is not first and other.dtype == torch.bfloat16 and first.dtype == torch.float32
    assert loads == [{"device": "cpu", "dtype": "float32"}, {"device": "cpu", "dtype": "bfloat16"}]


def test_a_bfloat16_model_trains_an_sae_with_float32_weights(gpt2_bfloat16, sample_corpus_file):
    corpus = str(sample_corpus_file)
    windows = make_windows(
        gpt2_bfloat16.tokenizer, corpus_documents(corpus), n_windows=20, window_len=16, corpus_name=corpus
    ).token_ids
    small = {"d_sae": 48, "k": 6, "batch_tokens": 64, "buffer_tokens": 256, "lr": 3e-3}
    trained = train_sae(gpt2_bfloat16, "blocks.1.hook_resid_pre", windows, steps=60, seed=1, **small)
    assert {parameter.dtype for parameter in trained.sae.parameters()} == {torch.float32}
    assert trained.report.mse < 0.5 * trained.report.initial_mse


# --- Runs and commands ------------------------------------------------------------------------------------------


def _run(model_path: str, slug: str, **options) -> PipelineRun:
    run = activation_runs.activation_run_create(
        model_path=model_path,
        model_slug=slug,
        layers=[1],
        corpus="builtin",
        n_windows=24,
        window_len=16,
        top_k=5,
        sync=True,
        **options,
    )
    return activation_runs.activation_run_start(run_id=run.pk)


@pytest.mark.django_db
def test_a_run_records_what_auto_resolved_to_and_every_shard_runs_in_it(tiny_gpt2_dir, no_gpu, monkeypatch):
    loads = []

    def recording_load(path, **options):
        loads.append(options)
        return load_language_model(path, **options)

    monkeypatch.setattr(cache, "models", LoadedCache(recording_load, max_items=2))
    run = _run(str(tiny_gpt2_dir), "gpt2-bf16", device="auto", dtype="bfloat16", shard_windows=8)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert run.shards.count() == 3
    assert (run.params["device"], run.params["dtype"]) == ("cpu", "bfloat16")
    assert loads == [{"device": "cpu", "dtype": "bfloat16"}]  # one load, shared by the start, shards and merge

    exact = _run(str(tiny_gpt2_dir), "gpt2-f32", device="cpu", dtype="float32", shard_windows=8)
    assert (exact.params["device"], exact.params["dtype"]) == ("cpu", "float32")
    maxima = {
        slug: np.array(
            Feature.objects.filter(source__model__slug=slug).order_by("index").values_list("max_activation", flat=True)
        )
        for slug in ("gpt2-bf16", "gpt2-f32")
    }
    scale = np.abs(maxima["gpt2-f32"]).max()
    assert np.abs(maxima["gpt2-bf16"] - maxima["gpt2-f32"]).max() <= MAX_TOLERANCE * scale


@pytest.mark.django_db
def test_queued_shards_run_in_the_runs_recorded_dtype_whatever_the_workers_settings(
    tiny_gpt2_dir, no_gpu, settings, monkeypatch
):
    settings.NEURONPEDIA_DTYPE = "bfloat16"
    run = activation_runs.activation_run_create(
        model_path=str(tiny_gpt2_dir), model_slug="gpt2", layers=[1], n_windows=16, window_len=16, shard_windows=8
    )
    assert (run.params["device"], run.params["dtype"]) == ("auto", "bfloat16")  # the settings, as defaults
    run = activation_runs.activation_run_start(run_id=run.pk)  # records what auto became; queues the shards
    assert (run.params["device"], run.params["dtype"]) == ("cpu", "bfloat16")
    settings.NEURONPEDIA_DTYPE = "float32"  # a worker configured otherwise, or a resume after a change
    dtypes = []
    original = activation_runs._RunPlan.__init__

    def spy(self, run):
        original(self, run)
        dtypes.append(self.loaded.dtype)

    monkeypatch.setattr(activation_runs._RunPlan, "__init__", spy)
    for shard in run.shards.order_by("index"):
        activation_runs.activation_shard_compute(shard_id=shard.pk)
    run = activation_runs.activation_run_finalize(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert dtypes == [torch.bfloat16] * 3  # two shards and the merge


@pytest.mark.django_db
def test_old_runs_without_a_device_run_on_the_cpu_in_float32(tiny_gpt2_dir):
    run = activation_runs.activation_run_create(
        model_path=str(tiny_gpt2_dir), model_slug="gpt2", layers=[1], n_windows=8, window_len=16, sync=True
    )
    params = {key: value for key, value in run.params.items() if key not in ("device", "dtype")}
    PipelineRun.objects.filter(pk=run.pk).update(params=params)
    run.refresh_from_db()
    plan = activation_runs._RunPlan(run)
    assert (plan.device, plan.dtype) == ("cpu", "float32") and plan.loaded.dtype == torch.float32


@pytest.mark.django_db
def test_compute_activations_on_cuda_without_cuda_fails_naming_the_device(tiny_gpt2_dir, no_gpu):
    args = ["--model-path", str(tiny_gpt2_dir), "--slug", "gpt2", "--layers", "1", "--windows", "4"]
    with pytest.raises(CommandError, match="Device 'cuda': CUDA is not available on this machine"):
        call_command("compute_activations", *args, "--window-len", "16", "--device", "cuda", "--sync")
    assert PipelineRun.objects.get().status == PipelineRun.Status.FAILED
    assert not LanguageModel.objects.exists()
    with pytest.raises(CommandError, match="Unknown dtype 'float8'"):
        call_command("compute_activations", *args, "--dtype", "float8")
    with pytest.raises(CommandError, match="Unknown device 'gpu'"):
        call_command("compute_activations", *args, "--device", "gpu")
    assert PipelineRun.objects.count() == 1  # bad names are refused before a run is recorded


@pytest.mark.django_db
def test_train_sae_refuses_a_device_this_machine_lacks(tiny_gpt2_dir, no_gpu, tmp_path):
    from features.services import registration

    registration.model_register(slug="gpt2", path=str(tiny_gpt2_dir))
    args = ["--model", "gpt2", "--hook", "blocks.1.hook_resid_pre", "--slug", "1-res-sae", "--out", str(tmp_path)]
    with pytest.raises(CommandError, match="Device 'cuda': CUDA is not available"):
        call_command("train_sae", *args, "--device", "cuda")
    with pytest.raises(CommandError, match="float16 is not supported on the CPU"):
        call_command("train_sae", *args, "--device", "cpu", "--dtype", "float16")


@pytest.mark.django_db
def test_web_inference_runs_in_the_settings_dtype_within_the_tolerance_of_float32(computed_run, settings, no_gpu):
    from features import inference

    neuron = Feature.objects.filter(source__model__slug="tiny-bert", source__slug="2-mlp").order_by("-max_activation")[
        0
    ]
    text = "The black cat sat on the warm mat while the dog slept."
    settings.NEURONPEDIA_DTYPE = "float32"
    exact = inference.feature_activations(neuron, text)
    settings.NEURONPEDIA_DTYPE = "bfloat16"
    close = inference.feature_activations(neuron, text)
    assert inference.load_model(computed_run.model).dtype == torch.bfloat16
    assert close.tokens == exact.tokens
    scale = max(abs(value) for value in exact.values)
    assert scale > 0 and close.values != exact.values
    assert np.abs(np.array(close.values) - np.array(exact.values)).max() <= MAX_TOLERANCE * scale
    settings.NEURONPEDIA_DEVICE = "cuda"
    with pytest.raises(inference.InferenceInputError, match="Device 'cuda': CUDA is not available"):
        inference.feature_activations(neuron, text)
