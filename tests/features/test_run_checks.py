"""The automatic checks at the end of an activation run: each warning raised by a dictionary crafted to earn it,
none on a healthy one, the same on a sharded run, and the reconstruction figure equal to sae-lens's."""

import json
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from features.models import PipelineRun
from features.pipeline import stream
from features.pipeline.checks import CheckStatistics, check_first_position, check_prepend_bos, check_special_tokens
from features.pipeline.corpus import bos_token_id, corpus_documents, make_windows
from features.pipeline.loading import load_language_model
from features.pipeline.stream import content_mask
from features.services import activation_runs, registration
from tests.conftest import _save_with_minilm_tokenizer

pytestmark = pytest.mark.django_db

HOOK = "blocks.0.hook_resid_pre"
WINDOWS = {"n_windows": 16, "window_len": 12}


def write_dictionary(
    directory: Path,
    w_enc,
    b_enc,
    w_dec,
    *,
    prepend_bos: bool | None,
    k: int = 1,
    architecture: str = "topk",
    **metadata,
) -> Path:
    """A dictionary in the SAELens format with the given weights (b_dec zero); top-k with this k by default."""
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    sae_class, config_class = get_sae_class(architecture)
    config = config_class(
        d_in=w_enc.shape[0],
        d_sae=w_enc.shape[1],
        metadata=SAEMetadata(hook_name=HOOK, prepend_bos=prepend_bos, **metadata),
        **({"k": k} if architecture == "topk" else {}),
    )
    sae = sae_class(config)
    with torch.no_grad():
        sae.W_enc.copy_(w_enc)
        sae.b_enc.copy_(b_enc)
        sae.W_dec.copy_(w_dec)
        sae.b_dec.zero_()
    sae.save_model(directory)
    return directory


@pytest.fixture(scope="module")
def token_gpt2_dir(tmp_path_factory) -> Path:
    """The tiny GPT-2 without position embeddings and with [SEP] and [PAD] embedded at zero: its stream before
    block 0 is the token's embedding, so a dictionary with one feature per token reads it exactly."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=2, n_positions=128))
    with torch.no_grad():
        model.transformer.wpe.weight.zero_()
        model.transformer.wte.weight[[0, 102]] = 0.0  # [PAD], [SEP]
    return _save_with_minilm_tokenizer(model, tmp_path_factory.mktemp("token-gpt2"))


def windows_of(model_dir: Path, corpus: Path, *, prepend_bos: bool) -> torch.Tensor:
    tokenizer = load_language_model(model_dir).tokenizer
    windows = make_windows(
        tokenizer, corpus_documents(str(corpus)), corpus_name="x", prepend_bos=prepend_bos, **WINDOWS
    )
    return torch.tensor(windows.token_ids)


def token_dictionary(model_dir: Path, token_ids: list[int]):
    """One top-1 feature per token, along its embedding: each token fires its own feature (the largest
    projection of an embedding is on itself), which writes the embedding back exactly. Healthy: sparse, alive,
    exact; [SEP] (embedded at zero) fires nothing."""
    embeddings = load_language_model(model_dir).model.transformer.wte.weight.detach()[token_ids]
    directions = embeddings / embeddings.norm(dim=1, keepdim=True)
    return directions.T, torch.zeros(len(token_ids)), directions


def content_tokens(ids: torch.Tensor) -> list[int]:
    return sorted(set(ids.ravel().tolist()) - {0, 101, 102})


def with_features(base, w_enc_columns, b_enc, w_dec_rows=None):
    """The base dictionary with more features appended."""
    w_enc, bias, w_dec = base
    extra = torch.as_tensor(w_enc_columns).reshape(w_enc.shape[0], -1)
    count = extra.shape[1]
    rows = torch.zeros(count, w_dec.shape[1]) if w_dec_rows is None else w_dec_rows
    return (
        torch.cat([w_enc, extra], 1),
        torch.cat([bias, torch.as_tensor(b_enc).expand(count)]),
        torch.cat([w_dec, rows]),
    )


def run_with(model_dir: Path, dictionary: Path, corpus: Path, *, slug: str = "0-res", hook: str = "", **params):
    model = registration.model_register(slug="tiny-gpt2", path=str(model_dir))
    source = registration.dictionary_register(model=model, path=str(dictionary), slug=slug, hook_name=hook)
    run = activation_runs.activation_run_create(
        model=model, dictionary_sources=[source], corpus=str(corpus), sync=True, top_k=3, **{**WINDOWS, **params}
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    return run


def codes(run: PipelineRun) -> set[str]:
    return {warning["code"] for warning in run.warnings}


def warning(run: PipelineRun, code: str) -> dict:
    return next(w for w in run.warnings if w["code"] == code)


@pytest.fixture
def healthy(token_gpt2_dir, sample_corpus_file):
    return token_dictionary(
        token_gpt2_dir, content_tokens(windows_of(token_gpt2_dir, sample_corpus_file, prepend_bos=False))
    )


def test_a_healthy_dictionary_raises_no_warning(healthy, token_gpt2_dir, sample_corpus_file, tmp_path):
    directory = write_dictionary(tmp_path / "sae", *healthy, prepend_bos=False, context_size=128)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    assert run.warnings == []


def test_a_feature_firing_only_on_bos_is_flagged(token_gpt2_dir, sample_corpus_file, tmp_path):
    ids = windows_of(token_gpt2_dir, sample_corpus_file, prepend_bos=True)
    assert set(ids[:, 0].tolist()) == {101}  # [CLS], the tokenizer's BOS
    tokens = content_tokens(ids)
    directory = write_dictionary(tmp_path / "sae", *token_dictionary(token_gpt2_dir, [*tokens, 101]), prepend_bos=True)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    assert codes(run) == {"special_tokens"}
    assert warning(run, "special_tokens")["detail"]["features"] == [len(tokens)]
    assert warning(run, "special_tokens")["source"] == "0-res"


@pytest.fixture(scope="module")
def sink_gpt2_dir(tmp_path_factory) -> Path:
    """The token GPT-2 with a large first-position embedding: an attention sink's huge first-token activations,
    as real models have."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=2, n_positions=128))
    with torch.no_grad():
        model.transformer.wpe.weight.zero_()
        model.transformer.wpe.weight[0] = torch.randn(32)
        model.transformer.wte.weight[[0, 102]] = 0.0
    return _save_with_minilm_tokenizer(model, tmp_path_factory.mktemp("sink-gpt2"))


def test_a_feature_firing_only_at_the_first_position_is_flagged(sink_gpt2_dir, sample_corpus_file, tmp_path):
    ids = windows_of(sink_gpt2_dir, sample_corpus_file, prepend_bos=False)
    assert 101 not in ids[:, 0].tolist()  # without BOS the first token is text
    tokens = content_tokens(ids)
    sink = load_language_model(sink_gpt2_dir).model.transformer.wpe.weight.detach()[0]
    # Top-1 with a bias that keeps the sink's feature silent on text: on first tokens it wins.
    direction = sink / sink.norm()
    dictionary = with_features(token_dictionary(sink_gpt2_dir, tokens), direction, -1.0, direction[None, :])
    directory = write_dictionary(tmp_path / "sae", *dictionary, prepend_bos=False)
    run = run_with(sink_gpt2_dir, directory, sample_corpus_file)
    assert codes(run) == {"first_position"}
    assert warning(run, "first_position")["detail"]["features"] == [len(tokens)]


def test_zeroed_encoder_rows_make_dead_features(healthy, token_gpt2_dir, sample_corpus_file, tmp_path):
    n = len(healthy[1])
    directory = write_dictionary(tmp_path / "sae", *with_features(healthy, torch.zeros(32, n), -1.0), prepend_bos=False)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    assert codes(run) == {"dead_features"}
    detail = warning(run, "dead_features")["detail"]
    assert (detail["count"], detail["share"], detail["features"][0]) == (n, 0.5, n)


def test_features_firing_everywhere_are_dense(healthy, token_gpt2_dir, sample_corpus_file, tmp_path):
    n = len(healthy[1])
    extra = n // 10  # 1 in 11 features fire on every token: above the 5% limit
    # Top-k keeps the always-on features and each token's own: k = extra + 1.
    dictionary = with_features(healthy, torch.zeros(32, extra), 1.0)
    directory = write_dictionary(tmp_path / "sae", *dictionary, prepend_bos=False, k=extra + 1)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    assert codes(run) == {"dense_features"}
    assert warning(run, "dense_features")["detail"]["features"] == list(range(n, n + extra))


def test_a_dictionary_on_the_wrong_hook_reconstructs_poorly_as_sae_lens_measures(
    healthy, token_gpt2_dir, sample_corpus_file, tmp_path
):
    directory = write_dictionary(tmp_path / "sae", *healthy, prepend_bos=False)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file, slug="0-mlp-out", hook="blocks.0.hook_mlp_out")
    assert "poor_reconstruction" in codes(run)
    detail = warning(run, "poor_reconstruction")["detail"]

    # The reference: transformers' own MLP output and sae-lens's forward, over the text tokens.
    from features.pipeline.dictionaries import load_dictionary

    loaded = load_language_model(token_gpt2_dir)
    windows = make_windows(
        loaded.tokenizer, corpus_documents(str(sample_corpus_file)), corpus_name="x", prepend_bos=False, **WINDOWS
    )
    ids = torch.tensor(windows.token_ids)
    outputs = []
    handle = loaded.model.transformer.h[0].mlp.register_forward_hook(lambda _m, _i, out: outputs.append(out))
    with torch.inference_mode():
        loaded.model(input_ids=ids)
    handle.remove()
    x = outputs[0][content_mask(loaded, ids)]
    sae = load_dictionary(directory).sae
    with torch.inference_mode():
        reconstruction = sae(x)
    fvu = float((x - reconstruction).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    assert fvu > 0.5
    assert detail["fvu"] == pytest.approx(fvu, rel=1e-4)
    assert detail["target_hook"] == "blocks.0.hook_mlp_out"


def test_a_long_training_context_on_a_short_corpus_is_flagged(healthy, token_gpt2_dir, sample_corpus_file, tmp_path):
    directory = write_dictionary(tmp_path / "sae", *healthy, prepend_bos=False, context_size=1024)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    assert codes(run) == {"corpus_shorter_than_context"}
    assert warning(run, "corpus_shorter_than_context")["detail"] == {"corpus_tokens": 16 * 12, "context_size": 1024}


def test_windows_longer_than_the_training_context_are_flagged(healthy, token_gpt2_dir, sample_corpus_file, tmp_path):
    directory = write_dictionary(tmp_path / "sae", *healthy, prepend_bos=False, context_size=8)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    assert codes(run) == {"windows_beyond_context"}


def test_a_dictionary_without_a_bos_setting_gets_a_note(healthy, token_gpt2_dir, sample_corpus_file, tmp_path):
    directory = write_dictionary(tmp_path / "sae", *healthy, prepend_bos=None)
    run = run_with(token_gpt2_dir, directory, sample_corpus_file)
    # Without a setting the tokenizer frames the windows: [CLS] first, which fires some token's feature.
    assert ("prepend_bos_unknown", "info") in [(w["code"], w["severity"]) for w in run.warnings]


def test_a_bos_setting_the_windows_do_not_follow_is_a_mismatch(tiny_gpt2_dir, sample_corpus_file):
    """The run frames windows as the dictionary asks, so the mismatch is checked on windows framed otherwise."""
    tokenizer = load_language_model(tiny_gpt2_dir).tokenizer
    bos = bos_token_id(tokenizer)

    def first_tokens(prepend_bos: bool) -> set[int]:
        windows = make_windows(
            tokenizer, corpus_documents(str(sample_corpus_file)), corpus_name="x", prepend_bos=prepend_bos, **WINDOWS
        )
        return {window[0] for window in windows.token_ids}

    for wanted, framed in ((True, False), (False, True)):
        found = check_prepend_bos(wanted=wanted, first_tokens=first_tokens(framed), bos_token_id=bos, source="s")
        assert [w.code for w in found] == ["prepend_bos_mismatch"]
        assert check_prepend_bos(wanted=wanted, first_tokens=first_tokens(wanted), bos_token_id=bos, source="s") == []


def transcoder(directory: Path, architecture: str = "transcoder") -> Path:
    """A random transcoder from block 1's normalised MLP input to its MLP output."""
    from tests.conftest import save_tiny_dictionary

    save_tiny_dictionary(directory, architecture, d_in=32, d_sae=40, hook_name="blocks.1.ln2.hook_normalized", d_out=32)
    config = json.loads((directory / "cfg.json").read_text())
    config["metadata"]["hook_name_out"] = "blocks.1.hook_mlp_out"
    (directory / "cfg.json").write_text(json.dumps(config))
    return directory


def test_a_transcoder_whose_output_hook_the_pass_lacks_says_so(tiny_gpt2_dir, sample_corpus_file, tmp_path):
    run = run_with(tiny_gpt2_dir, transcoder(tmp_path / "tc"), sample_corpus_file, slug="1-tc")
    note = warning(run, "reconstruction_not_checked")
    assert note["severity"] == "info" and "blocks.1.hook_mlp_out" in note["message"]


def test_a_transcoder_is_checked_against_its_output_hook_when_the_pass_has_it(
    tiny_gpt2_dir, sample_corpus_file, tmp_path
):
    """A random skip transcoder reconstructs nothing: its FVU, measured against the MLP's output (read by another
    source of the run), is sae-lens's."""
    from features.pipeline.dictionaries import load_dictionary

    directory = transcoder(tmp_path / "tc", "skip_transcoder")
    with torch.no_grad():  # give the skip connection weight, so that the check covers it
        from safetensors.torch import load_file, save_file

        weights = load_file(directory / "sae_weights.safetensors")
        weights["W_skip"] = torch.randn(32, 32) * 0.1
        save_file(weights, directory / "sae_weights.safetensors")
    model = registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    sources = [
        registration.dictionary_register(model=model, path=str(directory), slug="1-tc"),
        registration.dictionary_register(
            model=model, path=str(directory), slug="1-other", hook_name="blocks.1.hook_mlp_out"
        ),
    ]
    sources[1].refresh_from_db()
    run = activation_runs.activation_run_create(
        model=model, dictionary_sources=sources, corpus=str(sample_corpus_file), sync=True, top_k=3, **WINDOWS
    )
    run = activation_runs.activation_run_start(run_id=run.pk)
    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    found = next(w for w in run.warnings if w["source"] == "1-tc" and w["code"] == "poor_reconstruction")

    loaded = load_language_model(tiny_gpt2_dir)
    ids = windows_of(tiny_gpt2_dir, sample_corpus_file, prepend_bos=False)
    block = loaded.model.transformer.h[1]
    seen = {}
    handles = [
        block.ln_2.register_forward_pre_hook(lambda _m, args: seen.setdefault("in", args[0])),
        block.mlp.register_forward_hook(lambda _m, _i, out: seen.setdefault("out", out)),
    ]
    with torch.inference_mode():
        loaded.model(input_ids=ids)
    for handle in handles:
        handle.remove()
    mask = content_mask(loaded, ids)
    x_in = torch.nn.functional.layer_norm(seen["in"], (32,), eps=block.ln_2.eps)[
        mask
    ]  # TransformerLens's ln2.hook_normalized
    target = seen["out"][mask]
    with torch.inference_mode():
        reconstruction = load_dictionary(directory).sae(x_in)
    fvu = float((target - reconstruction).pow(2).sum() / (target - target.mean(0)).pow(2).sum())
    assert found["detail"]["fvu"] == pytest.approx(fvu, rel=1e-4)


def test_a_sharded_run_raises_the_same_warnings(token_gpt2_dir, sample_corpus_file, tmp_path, monkeypatch):
    # The reconstruction is measured on the first 7 windows: one batch of the whole run and two of its shards
    # straddle that edge.
    monkeypatch.setattr(stream, "RECONSTRUCTION_WINDOWS", 7)
    ids = windows_of(token_gpt2_dir, sample_corpus_file, prepend_bos=True)
    tokens = content_tokens(ids)
    crafted = with_features(token_dictionary(token_gpt2_dir, [*tokens, 101]), torch.zeros(32, len(tokens)), -1.0)
    directory = write_dictionary(tmp_path / "sae", *crafted, prepend_bos=True, context_size=1024)
    model = registration.model_register(slug="tiny-gpt2", path=str(token_gpt2_dir))
    sources = [
        registration.dictionary_register(model=model, path=str(directory), slug="0-res"),
        registration.dictionary_register(
            model=model, path=str(directory), slug="0-out", hook_name="blocks.0.hook_mlp_out"
        ),
    ]
    runs = []
    for shard_windows in (100, 5):
        run = activation_runs.activation_run_create(
            model=model,
            dictionary_sources=sources,
            corpus=str(sample_corpus_file),
            sync=True,
            top_k=3,
            shard_windows=shard_windows,
            **WINDOWS,
        )
        runs.append(activation_runs.activation_run_start(run_id=run.pk))
    whole, sharded = runs
    assert sharded.shards_total == 4 and sharded.status == PipelineRun.Status.SUCCEEDED
    assert {(w["source"], w["code"]) for w in whole.warnings} >= {
        ("0-res", "special_tokens"),
        ("0-res", "dead_features"),
        ("0-res", "corpus_shorter_than_context"),
        ("0-out", "poor_reconstruction"),
    }
    measured = ~torch.isin(ids[:7], torch.tensor([0, 101, 102]))
    assert warning(whole, "poor_reconstruction")["detail"]["tokens"] == int(measured.sum())
    fvu = warning(whole, "poor_reconstruction")["detail"].pop("fvu")
    assert warning(sharded, "poor_reconstruction")["detail"].pop("fvu") == pytest.approx(fvu, rel=1e-6)
    assert [{**w, "message": ""} for w in sharded.warnings] == [{**w, "message": ""} for w in whole.warnings]


def test_statistics_merge_to_those_of_one_pass():
    torch.manual_seed(0)
    activations = torch.relu(torch.randn(6, 5, 7))
    mask = torch.rand(6, 5) > 0.3
    target, reconstruction = torch.randn(6, 5, 3), torch.randn(6, 5, 3)
    whole, first, second = CheckStatistics(7, 3), CheckStatistics(7, 3), CheckStatistics(7, 3)
    whole.update(activations, mask)
    whole.add_reconstruction(target, reconstruction, mask)
    for part, rows in ((first, slice(0, 2)), (second, slice(2, 6))):
        part.update(activations[rows], mask[rows])
        part.add_reconstruction(target[rows], reconstruction[rows], mask[rows])
    first.merge(CheckStatistics.from_tensors(second.to_tensors("x."), "x."))
    for (name, a), (_, b) in zip(whole._tensors(), first._tensors(), strict=True):
        assert torch.allclose(a, b), name
    assert check_special_tokens(whole, "s") == check_special_tokens(first, "s")
    assert check_first_position(whole, "s") == check_first_position(first, "s")
    fvu = float(((target - reconstruction)[mask]).pow(2).sum() / (target[mask] - target[mask].mean(0)).pow(2).sum())
    assert first.fraction_of_variance_unexplained == pytest.approx(fvu, rel=1e-6)
