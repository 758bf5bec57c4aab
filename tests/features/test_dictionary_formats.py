"""Registering dictionaries the way researchers name them: sae-lens releases from a local Hugging Face cache
(built here as the hub lays it out: blobs, snapshots linking to them, refs/main), Gemma Scope's params.npz and
circuit-tracer's transcoder files. Everything is tiny and offline; encodings are checked against sae-lens's own
loader, or against the published formula where sae-lens cannot read tiny files."""

import hashlib
import io
import json
import os

import numpy as np
import pytest
import torch
import yaml
from django.core.management import CommandError, call_command
from safetensors.torch import save_file

from features.models import Source
from features.pipeline import cache
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.releases import release_get
from features.services import registration

SHA = "0123456789abcdef0123456789abcdef01234567"
D_MODEL = 32


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty local Hugging Face cache under HF_HOME, offline. huggingface_hub read HF_HUB_CACHE and
    HF_HUB_OFFLINE when it was imported, so its constants are patched too."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    cache_dir = home / "hub"
    cache_dir.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache_dir


def hub_put(cache_dir, repo_id: str, filename: str, data: bytes) -> None:
    """Store a file as huggingface_hub does: the bytes in blobs/<hash>, a relative link in snapshots/<commit>/."""
    repo = cache_dir / ("models--" + repo_id.replace("/", "--"))
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(SHA)
    link = repo / "snapshots" / SHA / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))


def safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({name: tensor.contiguous() for name, tensor in tensors.items()})


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def jumprelu_params(d_in=D_MODEL, d_sae=24, d_out=D_MODEL, seed=3) -> dict[str, np.ndarray]:
    """Gemma Scope's params.npz: W_enc [d_in, d_sae], W_dec [d_sae, d_out], biases, per-feature thresholds."""
    rng = np.random.default_rng(seed)
    return {
        "W_enc": (rng.standard_normal((d_in, d_sae)) / np.sqrt(d_in)).astype(np.float32),
        "W_dec": (rng.standard_normal((d_sae, d_out)) / np.sqrt(d_sae)).astype(np.float32),
        "b_enc": np.full(d_sae, -0.2, dtype=np.float32),
        "b_dec": rng.standard_normal(d_out).astype(np.float32) * 0.1,
        "threshold": rng.uniform(0.05, 0.4, d_sae).astype(np.float32),
    }


def jumprelu_formula(params: dict[str, np.ndarray], x: torch.Tensor) -> torch.Tensor:
    """Gemma Scope's JumpReLU: relu(x @ W_enc + b_enc) where the pre-activation exceeds the threshold."""
    pre = x @ torch.from_numpy(params["W_enc"]) + torch.from_numpy(params["b_enc"])
    return torch.relu(pre) * (pre > torch.from_numpy(params["threshold"]))


def jb_release_files(cache_dir, *, normalize_activations=False, scale=3.0) -> tuple[str, dict[str, torch.Tensor]]:
    """gpt2-small-res-jb's first SAE, tiny, with a cfg.json written as Joseph Bloom's pre-6.0 files are."""
    release = release_get("gpt2-small-res-jb")
    folder = release.sae_ids["blocks.0.hook_resid_pre"]
    generator = torch.Generator().manual_seed(5)
    weights = {
        "W_enc": torch.randn(D_MODEL, 24, generator=generator) * scale,
        "W_dec": torch.randn(24, D_MODEL, generator=generator) / 5,
        "b_enc": torch.full((24,), -0.5),
        "b_dec": torch.randn(D_MODEL, generator=generator) * 0.01,
    }
    config = {
        "model_name": "gpt2-small",
        "hook_point": "blocks.0.hook_resid_pre",
        "hook_point_layer": 0,
        "d_in": D_MODEL,
        "d_sae": 24,
        "dtype": "torch.float32",
        "device": "cpu",
        "context_size": 128,
        "prepend_bos": True,
        "dataset_path": "Skylion007/openwebtext",
        "apply_b_dec_to_input": True,
        "normalize_activations": normalize_activations,
    }
    hub_put(cache_dir, release.repo_id, f"{folder}/cfg.json", json.dumps(config).encode())
    hub_put(cache_dir, release.repo_id, f"{folder}/sae_weights.safetensors", safetensors_bytes(weights))
    return release.repo_id, weights


@pytest.fixture
def gpt2(db, tiny_gpt2_dir, settings, tmp_path):
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    return registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))


def register(*args: str) -> str:
    out = io.StringIO()
    call_command("register_dictionary", *args, "--model", "tiny-gpt2", stdout=out)
    return out.getvalue()


def test_a_saelens_release_registers_from_the_cache_and_encodes_like_sae_lens(gpt2, hub, settings):
    from sae_lens import SAE

    repo_id, _ = jb_release_files(hub)
    output = register("--release", "gpt2-small-res-jb", "--sae-id", "blocks.0.hook_resid_pre", "--slug", "0-res-jb")
    assert "gpt2-small-res-jb/blocks.0.hook_resid_pre" in output and "gpt2-small/0-res-jb" in output
    assert "Its inputs are centred over d_model before encoding" in output
    source = Source.objects.get(model=gpt2, slug="0-res-jb")
    assert source.hook_name == "blocks.0.hook_resid_pre" and source.n_features == 24
    config = source.config
    assert config["format"] == "saelens-release" and config["loader"] == "sae_lens"
    assert (config["release"], config["sae_id"], config["repo_id"]) == (
        "gpt2-small-res-jb",
        "blocks.0.hook_resid_pre",
        repo_id,
    )
    assert config["revision"] == SHA and config["neuronpedia_id"] == "gpt2-small/0-res-jb"
    assert config["model_name"] == "gpt2-small" and config["context_size"] == 128
    assert config["dataset_path"] == "Skylion007/openwebtext" and config["prepend_bos"] is True
    assert config["apply_b_dec_to_input"] is True and config["normalize_activations"] == "none"
    assert config["model_from_pretrained_kwargs"] == {"center_writing_weights": True}
    assert config["centre_inputs"] is True  # a residual-stream point of a pre-LayerNorm model: see below
    # written once as a SAELens directory under the data dir: runs read it like any other
    assert source.dictionary_path.startswith(str(settings.NEURONPEDIA_DATA_DIR.resolve()))
    reference = SAE.from_pretrained("gpt2-small-res-jb", "blocks.0.hook_resid_pre")
    x = torch.randn(3, 5, D_MODEL, generator=torch.Generator().manual_seed(0))
    x = x - x.mean(-1, keepdim=True)  # the centred stream it reads
    with torch.inference_mode():
        expected = reference.encode(x)
    assert (expected > 0).any()
    torch.testing.assert_close(cache.dictionaries.get(source.dictionary_path).encode(x), expected)


def test_a_release_trained_on_centred_weights_encodes_as_on_transformer_lens_processed_model(gpt2, hub, tmp_path):
    """gpt2-small-res-jb was trained on TransformerLens's from_pretrained GPT-2, whose writing weights are
    centred: its residual stream has zero mean over d_model. We hook the unprocessed model and centre first."""
    from sae_lens import SAE
    from transformer_lens import HookedTransformer
    from transformer_lens.loading_from_pretrained import get_pretrained_model_config, get_pretrained_state_dict
    from transformers import GPT2Config, GPT2LMHeadModel

    from features.pipeline.hooks import capture_activations
    from features.pipeline.sources import dictionary_source

    from ..conftest import _save_with_minilm_tokenizer

    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(
        GPT2Config(vocab_size=30522, n_embd=D_MODEL, n_layer=2, n_head=2, n_positions=64, n_ctx=64)
    )
    with torch.no_grad():
        for parameter in hf_model.parameters():  # biases and norms away from their defaults, so centring shows
            parameter.add_(torch.randn_like(parameter) * 0.1)
    directory = _save_with_minilm_tokenizer(hf_model, tmp_path / "processed-check")
    model_row = registration.model_register(slug="checked", path=str(directory))
    jb_release_files(hub)
    call_command(
        "register_dictionary", "--release", "gpt2-small-res-jb", "--sae-id", "blocks.0.hook_resid_pre",
        "--model", "checked", "--slug", "0-res-jb", stdout=io.StringIO(),
    )  # fmt: skip
    source = Source.objects.get(model=model_row, slug="0-res-jb")
    assert source.config["centre_inputs"] is True
    cfg = get_pretrained_model_config(str(directory), device="cpu")
    state = get_pretrained_state_dict(str(directory), cfg, hf_model=hf_model)
    model = HookedTransformer(cfg, move_to_device=False)
    model.load_and_process_state_dict(state)  # from_pretrained's defaults: folded norms, centred writing weights
    ids = torch.randint(1000, 2000, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        _, theirs = model.run_with_cache(ids, names_filter="blocks.0.hook_resid_pre")
        expected = SAE.from_pretrained("gpt2-small-res-jb", "blocks.0.hook_resid_pre").encode(
            theirs["blocks.0.hook_resid_pre"]
        )
    loaded = cache.models.get(model_row.path)
    spec = dictionary_source(loaded, cache.dictionaries.get(source.dictionary_path), source.slug)
    captured = capture_activations(loaded, [spec.hook], ids)
    assert (expected > 0).any()
    torch.testing.assert_close(spec.encode(captured), expected, rtol=1e-4, atol=1e-4)
    uncentred = spec.dictionary.encode(captured[spec.hook.name])
    assert (uncentred - expected).abs().max() > 1e-2  # the centring is what makes them equal


def test_gemma_scope_from_the_cache_gives_the_jumprelu_of_its_params(gpt2, hub):
    release = release_get("gemma-scope-2b-pt-res")
    sae_id = "layer_0/width_16k/average_l0_105"
    params = jumprelu_params()
    hub_put(hub, release.repo_id, f"{release.sae_ids[sae_id]}/params.npz", npz_bytes(params))
    register("--release", "gemma-scope-2b-pt-res", "--sae-id", sae_id, "--slug", "0-gemmascope-res")
    source = Source.objects.get(slug="0-gemmascope-res")
    # sae-lens's Gemma Scope loader names the hook and the training set-up; the widths are the file's
    assert source.hook_name == "blocks.0.hook_resid_post" and source.n_features == 24
    config = source.config
    assert config["architecture"] == "jumprelu" and config["loader"] == "gemma_2"
    assert config["model_name"] == "gemma-2-2b" and config["prepend_bos"] is True
    assert config["context_size"] == 1024 and config["dataset_path"] == "monology/pile-uncopyrighted"
    assert config["apply_b_dec_to_input"] is False
    x = torch.randn(4, D_MODEL, generator=torch.Generator().manual_seed(1))
    expected = jumprelu_formula(params, x)
    assert (expected > 0).any() and (expected == 0).any()
    torch.testing.assert_close(load_dictionary(source.dictionary_path).encode(x), expected)


def test_a_gemma_scope_attention_release_encodes_the_flattened_heads(gpt2, hub):
    """sae-lens flattens TransformerLens's [..., n_heads, d_head] hook_z itself; we capture it flattened."""
    from features.pipeline.hooks import capture_activations
    from features.pipeline.sources import dictionary_source

    release = release_get("gemma-scope-2b-pt-att")
    sae_id = "layer_0/width_16k/average_l0_104"
    params = jumprelu_params(seed=9)
    hub_put(hub, release.repo_id, f"{release.sae_ids[sae_id]}/params.npz", npz_bytes(params))
    register("--release", release.name, "--sae-id", sae_id, "--slug", "0-gemmascope-att")
    source = Source.objects.get(slug="0-gemmascope-att")
    assert source.hook_name == "blocks.0.attn.hook_z"
    loaded = cache.models.get(gpt2.path)
    spec = dictionary_source(loaded, cache.dictionaries.get(source.dictionary_path), source.slug)
    ids = torch.randint(1000, 2000, (2, 7), generator=torch.Generator().manual_seed(0))
    z = capture_activations(loaded, [spec.hook], ids)
    assert z[spec.hook.name].shape == (2, 7, D_MODEL)
    torch.testing.assert_close(spec.encode(z), jumprelu_formula(params, z[spec.hook.name]))


def test_a_gemma_scope_params_file_registers_with_its_hook_given(gpt2, tmp_path):
    params = jumprelu_params(seed=4)
    path = tmp_path / "layer_1" / "params.npz"
    path.parent.mkdir()
    path.write_bytes(npz_bytes(params))
    with pytest.raises(CommandError, match="does not say where it reads: give the hook"):
        register(str(path), "--slug", "1-gs")
    register(str(path.parent), "--slug", "1-gs", "--hook", "blocks.1.hook_resid_pre")
    source = Source.objects.get(slug="1-gs")
    assert source.config["format"] == "gemma-scope" and source.config["file"] == str(path.resolve())
    x = torch.randn(6, D_MODEL, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(load_dictionary(source.dictionary_path).encode(x), jumprelu_formula(params, x))


def test_a_gemma_scope_transcoder_release_reads_and_writes_its_own_hooks(gpt2, hub):
    release = release_get("gemma-scope-2b-pt-transcoders")
    sae_id = "layer_0/width_16k/average_l0_76"
    params = jumprelu_params(seed=6)
    hub_put(hub, release.repo_id, f"{release.sae_ids[sae_id]}/params.npz", npz_bytes(params))
    register("--release", release.name, "--sae-id", sae_id, "--slug", "0-gemmascope-transcoder")
    source = Source.objects.get(slug="0-gemmascope-transcoder")
    assert source.kind == Source.Kind.TRANSCODER
    assert source.hook_name == "blocks.0.ln2.hook_normalized"
    assert source.config["hook_name_out"] == "blocks.0.hook_mlp_out"
    assert source.config["neuronpedia_id"] == "gemma-2-2b/0-gemmascope-transcoder-16k"
    x = torch.randn(4, D_MODEL, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(load_dictionary(source.dictionary_path).encode(x), jumprelu_formula(params, x))


def circuit_tracer_files(directory, *, layer=1, skip=True, jumprelu=True, config=True) -> tuple:
    """circuit-tracer's layer_N.safetensors: W_enc [d_sae, d_model] (it encodes with F.linear), W_dec, biases,
    optionally W_skip and activation_function.threshold; config.yaml names the hooks within a block."""
    generator = torch.Generator().manual_seed(7)
    tensors = {
        "W_enc": torch.randn(20, D_MODEL, generator=generator) / 4,
        "W_dec": torch.randn(20, D_MODEL, generator=generator) / 4,
        "b_enc": torch.full((20,), -0.1),
        "b_dec": torch.zeros(D_MODEL),
    }
    if skip:
        tensors["W_skip"] = torch.randn(D_MODEL, D_MODEL, generator=generator) / 10
    if jumprelu:
        tensors["activation_function.threshold"] = torch.full((20,), 0.2)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"layer_{layer}.safetensors"
    save_file(tensors, path)
    if config:
        (directory / "config.yaml").write_text(
            yaml.safe_dump(
                {
                    "model_name": "tiny-gpt2",
                    "model_kind": "transcoder_set",
                    "feature_input_hook": "ln2.hook_normalized",
                    "feature_output_hook": "hook_mlp_out",
                    "transcoders": [f"layer_{layer}.safetensors"],
                }
            )
        )
    return path, tensors


@pytest.mark.parametrize(
    ("skip", "jumprelu", "architecture"),
    [
        (True, True, "jumprelu_skip_transcoder"),
        (False, True, "jumprelu_transcoder"),
        (True, False, "skip_transcoder"),
        (False, False, "transcoder"),
    ],
)
def test_a_circuit_tracer_transcoder_file_encodes_as_circuit_tracer_does(skip, jumprelu, architecture, gpt2, tmp_path):
    path, tensors = circuit_tracer_files(tmp_path / "set", skip=skip, jumprelu=jumprelu)
    output = register(str(path), "--slug", "1-ct")
    assert "blocks.1.ln2.hook_normalized -> blocks.1.hook_mlp_out" in output
    source = Source.objects.get(slug="1-ct")
    assert source.kind == Source.Kind.TRANSCODER and source.config["architecture"] == architecture
    assert source.config["format"] == "circuit-tracer" and source.config["model_name"] == "tiny-gpt2"
    dictionary = load_dictionary(source.dictionary_path)
    x = torch.randn(5, D_MODEL, generator=torch.Generator().manual_seed(8))
    pre = torch.nn.functional.linear(x, tensors["W_enc"], tensors["b_enc"])  # circuit-tracer's encode
    expected = pre * (pre > 0.2) if jumprelu else torch.relu(pre)
    assert (expected > 0).any()
    torch.testing.assert_close(dictionary.encode(x), expected)
    with torch.inference_mode():
        decoded = dictionary.sae.decode(expected)
    reference = expected @ tensors["W_dec"] + tensors["b_dec"]
    if skip:
        # circuit-tracer adds the skip connection input @ W_skip.T; sae-lens adds it in forward()
        with torch.inference_mode():
            out = dictionary.sae(x)
        torch.testing.assert_close(out, reference + x @ tensors["W_skip"].T)
    else:
        torch.testing.assert_close(decoded, reference)


def test_a_circuit_tracer_file_without_its_config_needs_the_hooks(gpt2, tmp_path):
    path, _ = circuit_tracer_files(tmp_path / "bare", config=False)
    with pytest.raises(CommandError, match="give --hook and --hook-out"):
        register(str(path), "--slug", "1-ct")
    register(
        str(path), "--slug", "1-ct", "--hook", "blocks.1.ln2.hook_normalized", "--hook-out", "blocks.1.hook_mlp_out"
    )
    assert Source.objects.get(slug="1-ct").config["hook_name_out"] == "blocks.1.hook_mlp_out"


def test_register_release_registers_what_is_downloaded_and_says_what_it_skipped(gpt2, hub):
    release = release_get("gemma-scope-2b-pt-res")
    wanted = [sae_id for sae_id in release.sae_ids if sae_id.startswith("layer_0/width_16k/")]
    assert len(wanted) > 2
    for seed, sae_id in enumerate(wanted[:2]):
        hub_put(hub, release.repo_id, f"{release.sae_ids[sae_id]}/params.npz", npz_bytes(jumprelu_params(seed=seed)))
    out = io.StringIO()
    call_command(
        "register_release", release.name, "--model", "tiny-gpt2", "--filter", "layer_0/width_16k/*", stdout=out
    )
    text = out.getvalue()
    assert f"2 registered, {len(wanted) - 2} skipped." in text
    assert (
        f"Skipped {release.name}/{wanted[2]}: not downloaded ({release.sae_ids[wanted[2]]}/params.npz missing)" in text
    )
    sources = Source.objects.filter(model=gpt2)
    assert sorted(source.config["sae_id"] for source in sources) == sorted(wanted[:2])
    assert all(source.slug.startswith("0-gemma-scope-2b-pt-res-layer_0-width_16k-") for source in sources)


def test_register_release_refuses_when_nothing_is_downloaded(gpt2, hub):
    with pytest.raises(CommandError, match="Nothing of gpt2-small-res-jb matching"):
        call_command("register_release", "gpt2-small-res-jb", "--model", "tiny-gpt2", stdout=io.StringIO())


def test_an_unknown_release_is_refused_with_close_names(gpt2, hub):
    with pytest.raises(CommandError, match="no release 'gemma-scope-2b-pt-re'. Did you mean .*gemma-scope-2b-pt-res"):
        register("--release", "gemma-scope-2b-pt-re", "--sae-id", "x", "--slug", "s")


def test_an_sae_id_the_release_lacks_is_refused_with_some_it_has(gpt2, hub):
    with pytest.raises(CommandError, match=r"has no sae_id 'layer_20/width_16k/average_l0_7'; close ones: .*l0_71"):
        register("--release", "gemma-scope-2b-pt-res", "--sae-id", "layer_20/width_16k/average_l0_7", "--slug", "s")


def test_a_file_missing_from_the_cache_is_named_with_how_to_download_it(gpt2, hub, settings):
    release = release_get("gpt2-small-res-jb")
    folder = release.sae_ids["blocks.0.hook_resid_pre"]
    hub_put(hub, release.repo_id, f"{folder}/cfg.json", b"{}")
    with pytest.raises(CommandError) as raised:
        register("--release", release.name, "--sae-id", "blocks.0.hook_resid_pre", "--slug", "0-res-jb")
    message = str(raised.value)
    assert f"lacks {folder}/sae_weights.safetensors of {release.repo_id} (revision {SHA})" in message
    assert f"hf download {release.repo_id} {folder}/sae_weights.safetensors" in message
    assert not Source.objects.exists() and not (settings.NEURONPEDIA_DATA_DIR / "dictionaries").exists()


def test_a_normalisation_sae_lens_cannot_fold_is_refused(gpt2, hub):
    jb_release_files(hub, normalize_activations="expected_average_only_in")
    with pytest.raises(CommandError, match="expected_average_only_in.*cannot fold"):
        register("--release", "gpt2-small-res-jb", "--sae-id", "blocks.0.hook_resid_pre", "--slug", "0-res-jb")


def test_a_release_that_needs_the_network_is_refused_offline(gpt2, hub):
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    name = next(name for name, lookup in get_pretrained_saes_directory().items() if lookup.conversion_func == "gemma_3")
    sae_id = next(iter(release_get(name).sae_ids))
    with pytest.raises(CommandError, match=f"{name} cannot be loaded offline: .*over HTTP"):
        register("--release", name, "--sae-id", sae_id, "--slug", "s")


def test_a_dictionary_for_another_width_leaves_no_files_and_no_rows(gpt2, hub, settings):
    release = release_get("gemma-scope-2b-pt-res")
    sae_id = "layer_0/width_16k/average_l0_105"
    hub_put(
        hub, release.repo_id, f"{release.sae_ids[sae_id]}/params.npz", npz_bytes(jumprelu_params(d_in=16, d_out=16))
    )
    with pytest.raises(CommandError, match="reads 16-dimensional vectors but blocks.0.hook_resid_post"):
        register("--release", release.name, "--sae-id", sae_id, "--slug", "0-gs")
    assert not Source.objects.exists()
    assert list((settings.NEURONPEDIA_DATA_DIR / "dictionaries" / "tiny-gpt2").iterdir()) == []


def test_a_hook_the_model_lacks_is_refused(gpt2, tmp_path):
    path = tmp_path / "params.npz"
    path.write_bytes(npz_bytes(jumprelu_params()))
    with pytest.raises(CommandError, match="The model has no hook 'blocks.9.hook_resid_post'"):
        register(str(path), "--slug", "9-gs", "--hook", "blocks.9.hook_resid_post")


def test_a_pickled_npz_is_refused_without_being_unpickled(gpt2, tmp_path):
    params = jumprelu_params()
    params["W_enc"] = np.array([object()] * 4, dtype=object)  # np.savez pickles object arrays
    path = tmp_path / "params.npz"
    path.write_bytes(npz_bytes(params))
    with pytest.raises(CommandError, match="not a readable .npz of plain arrays"):
        register(str(path), "--slug", "1-gs", "--hook", "blocks.1.hook_resid_pre")


def test_an_npz_missing_a_tensor_or_with_wrong_shapes_is_refused(gpt2, tmp_path):
    params = jumprelu_params()
    del params["threshold"]
    (tmp_path / "a.npz").write_bytes(npz_bytes(params))
    with pytest.raises(CommandError, match="a.npz lacks threshold"):
        register(str(tmp_path / "a.npz"), "--slug", "1-gs", "--hook", "blocks.1.hook_resid_pre")
    params = jumprelu_params()
    params["b_enc"] = params["b_enc"][:5]
    (tmp_path / "b.npz").write_bytes(npz_bytes(params))
    with pytest.raises(CommandError, match=r"b_enc has shape \[5\] but W_enc \[32, 24\] implies \[24\]"):
        register(str(tmp_path / "b.npz"), "--slug", "1-gs", "--hook", "blocks.1.hook_resid_pre")


def test_a_saelens_directory_with_an_unfolded_normalisation_is_refused(gpt2, tmp_path):
    from ..conftest import save_tiny_dictionary

    directory = save_tiny_dictionary(
        tmp_path / "d", "standard", d_in=D_MODEL, d_sae=8, hook_name="blocks.1.hook_resid_pre"
    )
    config = json.loads((directory / "cfg.json").read_text())
    config["normalize_activations"] = "expected_average_only_in"
    (directory / "cfg.json").write_text(json.dumps(config))
    with pytest.raises(CommandError, match="does not apply when encoding"):
        register(str(directory), "--slug", "1-res")


def test_a_centred_release_is_refused_on_a_model_where_centring_changes_the_model(
    db, hub, tiny_bert_dir, settings, tmp_path
):
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    registration.model_register(slug="tiny-bert", path=str(tiny_bert_dir))
    jb_release_files(hub)
    with pytest.raises(CommandError, match="trained on a TransformerLens model with centred writing weights"):
        call_command(
            "register_dictionary", "--release", "gpt2-small-res-jb", "--sae-id", "blocks.0.hook_resid_pre",
            "--model", "tiny-bert", "--slug", "0-res-jb", stdout=io.StringIO(),
        )  # fmt: skip
    assert not Source.objects.filter(slug="0-res-jb").exists()


def test_circuit_tracer_qwen_transcoders_from_the_cache_are_refused_for_the_hook_we_do_not_capture(gpt2, hub):
    """mwhanna's Qwen 3 transcoders (circuit-tracer's) load through sae-lens's loader, which names their input
    blocks.L.mlp.hook_in: the MLP's input after its norm's weight, a point this site does not capture."""
    release = release_get("mwhanna-qwen3-4b-transcoders")
    generator = torch.Generator().manual_seed(10)
    layer = {
        "W_enc": torch.randn(20, D_MODEL, generator=generator),
        "W_dec": torch.randn(20, D_MODEL, generator=generator),
        "b_enc": torch.zeros(20),
        "b_dec": torch.zeros(D_MODEL),
    }
    hub_put(hub, release.repo_id, release.sae_ids["layer_0"], safetensors_bytes(layer))
    wandb = {"d_model": {"value": D_MODEL}, "d_feature": {"value": 20}, "batch_size": {"value": 16}}
    hub_put(hub, release.repo_id, "wandb-config.yaml", yaml.safe_dump(wandb).encode())
    hub_put(hub, release.repo_id, "config.yaml", yaml.safe_dump({"model_name": "Qwen/Qwen3-4B"}).encode())
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"Nothing of mwhanna-qwen3-4b-transcoders matching 'layer_\[01\]'"):
        call_command("register_release", release.name, "--model", "tiny-gpt2", "--filter", "layer_[01]", stdout=out)
    text = out.getvalue()
    assert "Skipped mwhanna-qwen3-4b-transcoders/layer_0: Unsupported hook name 'blocks.0.mlp.hook_in'" in text
    assert "Skipped mwhanna-qwen3-4b-transcoders/layer_1: not downloaded (layer_1.safetensors missing)" in text
    assert "0 registered, 2 skipped." in text


def test_register_dictionary_wants_a_path_or_a_release_with_its_sae_id(gpt2, tmp_path):
    with pytest.raises(CommandError, match="Give either a path or --release"):
        register("--slug", "s")
    with pytest.raises(CommandError, match="--release and --sae-id go together"):
        register("--release", "gpt2-small-res-jb", "--slug", "s")
    with pytest.raises(CommandError, match="--release and --sae-id go together"):
        register(str(tmp_path), "--sae-id", "blocks.0.hook_resid_pre", "--slug", "s")
    with pytest.raises(CommandError, match="is not a dictionary this site reads"):
        register(str(tmp_path), "--slug", "s")
    (tmp_path / "params.npz").write_bytes(npz_bytes(jumprelu_params()))
    with pytest.raises(CommandError, match="--layer for circuit-tracer files"):
        register(str(tmp_path), "--slug", "s", "--hook", "blocks.1.hook_resid_pre", "--layer", "1")


def test_a_run_over_a_registered_release_stores_the_jumprelu_of_its_params(gpt2, hub, sample_corpus_file):
    """A converted dictionary is an ordinary SAELens source to runs: windows framed as it asks (BOS first, as
    Gemma Scope trained), each feature's maximum the formula's on the model's own residual stream."""
    from features.models import Feature, PipelineRun
    from features.pipeline.corpus import corpus_documents, make_windows
    from features.pipeline.loading import load_language_model
    from features.pipeline.stream import content_mask
    from features.services import activation_runs

    release = release_get("gemma-scope-2b-pt-res")
    sae_id = "layer_0/width_16k/average_l0_105"
    params = jumprelu_params(seed=11)
    params["W_enc"] *= 40  # the tiny random GPT-2's stream is small; make features fire on it
    hub_put(hub, release.repo_id, f"{release.sae_ids[sae_id]}/params.npz", npz_bytes(params))
    register("--release", release.name, "--sae-id", sae_id, "--slug", "0-gemmascope-res")
    source = Source.objects.get(slug="0-gemmascope-res")
    run = activation_runs.activation_run_create(
        model=gpt2, dictionary_sources=[source], corpus=str(sample_corpus_file), n_windows=6, window_len=12, sync=True
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert source.config["prepend_bos"] is True

    loaded = load_language_model(gpt2.path)
    windows = make_windows(
        loaded.tokenizer,
        corpus_documents(str(sample_corpus_file)),
        n_windows=6,
        window_len=12,
        corpus_name="x",
        prepend_bos=True,
    )
    ids = torch.tensor(windows.token_ids)
    with torch.inference_mode():
        resid_post = loaded.model.transformer(input_ids=ids, output_hidden_states=True).hidden_states[1]
    features = jumprelu_formula(params, resid_post) * content_mask(loaded, ids)[:, :, None]
    firing = [index for index in range(24) if features[:, :, index].max() > 0]
    assert len(firing) >= 3, "the test dictionary must fire, or the comparison would only check zeros"
    for index in firing[:3]:
        stored = Feature.objects.get(source=source, index=index)
        assert stored.max_activation == pytest.approx(float(features[:, :, index].amax()), rel=1e-4)
