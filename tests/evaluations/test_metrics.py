"""A dictionary's quality figures against brute force and against SAELens's own evaluation (sae_lens.evals) on
the same tiny GPT-2, the same dictionary and the same tokens."""

import math

import pytest
import torch
from sae_lens import SAE
from sae_lens.evals import get_downstream_reconstruction_metrics, get_sparsity_and_variance_metrics
from sae_lens.training.activation_scaler import ActivationScaler
from transformer_lens import HookedTransformer
from transformer_lens.config.hooked_transformer_config import HookedTransformerConfig
from transformer_lens.loading_from_pretrained import get_pretrained_state_dict
from transformers import GPT2LMHeadModel

from evaluations.core.metrics import evaluate_dictionary
from features.pipeline.corpus import make_windows, text_file_documents
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.loading import load_language_model
from features.pipeline.quality import QualityStatistics, log_density_histogram
from features.pipeline.sources import dictionary_source
from features.pipeline.stream import content_mask

pytestmark = pytest.mark.filterwarnings("ignore:HookedTransformer is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file):
    loaded = load_language_model(tiny_gpt2_dir)
    dictionary = load_dictionary(tiny_sae_dir)
    spec = dictionary_source(loaded, dictionary, "1-res")
    windows = make_windows(
        loaded.tokenizer, text_file_documents(sample_corpus_file), n_windows=6, window_len=16, corpus_name="sample"
    ).token_ids
    return loaded, spec, windows


@pytest.fixture(scope="module")
def evaluation(setup):
    loaded, spec, windows = setup
    return evaluate_dictionary(loaded, spec, windows, batch_size=4).metrics()


def brute_force(loaded, spec, windows):
    """Every figure token by token, from the model's hidden states and sae-lens's own encode and decode, with the
    loss from a forward pass written out block by block."""
    ids = torch.tensor(windows)
    mask = content_mask(loaded, ids)
    model: GPT2LMHeadModel = loaded.model
    sae = spec.dictionary.sae
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states[1]  # the input of block 1
        x = hidden[mask].double()
        features = sae.encode(hidden[mask])
        x_hat = sae.decode(features).double()
        l0 = (features > 0).sum(-1).double()
        mse = ((x - x_hat) ** 2).sum(-1).mean()
        variance = ((x - x.mean(0)) ** 2).sum(-1).mean()
        cosine = torch.nn.functional.cosine_similarity(x, x_hat, dim=-1).mean()
        shrinkage = (x_hat**2).sum(-1).mean() / (x * x_hat).sum(-1).mean()
        fires = (features > 0).sum(0)

        def log_probs(replace):
            positions = torch.arange(ids.shape[1])[None]
            h = model.transformer.wte(ids) + model.transformer.wpe(positions)
            for layer, block in enumerate(model.transformer.h):
                if layer == 1:
                    h = replace(h)
                h = block(h)
                h = h[0] if isinstance(h, tuple) else h
            return torch.log_softmax(model.lm_head(model.transformer.ln_f(h)).double(), -1)

        def spliced(h):
            return torch.where(mask[..., None], sae.decode(sae.encode(h)), h)

        clean, with_sae, ablated = log_probs(lambda h: h), log_probs(spliced), log_probs(torch.zeros_like)
        targets = ids[:, 1:, None]
        ce_mask = mask[:, :-1]

        def ce(lp):
            return float(-lp[:, :-1].gather(-1, targets).squeeze(-1)[ce_mask].mean())

        def kl(lp):
            return float((clean.exp() * (clean - lp)).sum(-1)[mask].mean())

    return {
        "l0": float(l0.mean()),
        "mse": float(mse),
        "explained_variance": float(1 - mse / variance),
        "fvu": float(mse / variance),
        "cosine": float(cosine),
        "shrinkage": float(shrinkage),
        "dead_fraction": float((fires == 0).double().mean()),
        "dense_fraction": float((fires / len(x) > 0.1).double().mean()),
        "ce_loss_clean": ce(clean),
        "ce_loss_spliced": ce(with_sae),
        "ce_loss_ablated": ce(ablated),
        "kl_spliced": kl(with_sae),
        "kl_ablated": kl(ablated),
        "tokens": int(mask.sum()),
        "l0_values": l0,
        "fires": fires,
    }


def test_every_figure_equals_brute_force(setup, evaluation):
    loaded, spec, windows = setup
    expected = brute_force(loaded, spec, windows)
    assert evaluation["tokens"] == expected["tokens"] < len(windows) * len(windows[0])  # special tokens left out
    for name in (
        "l0",
        "mse",
        "explained_variance",
        "fvu",
        "cosine",
        "shrinkage",
        "dead_fraction",
        "dense_fraction",
        "ce_loss_clean",
        "ce_loss_spliced",
        "ce_loss_ablated",
        "kl_spliced",
        "kl_ablated",
    ):
        assert evaluation[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
    clean, spliced, ablated = (evaluation[f"ce_loss_{name}"] for name in ("clean", "spliced", "ablated"))
    assert evaluation["delta_loss"] == pytest.approx(spliced - clean)
    assert evaluation["loss_recovered"] == pytest.approx((ablated - spliced) / (ablated - clean))
    assert 0 < evaluation["l0"] < spec.n_features / 2  # the tiny dictionary is sparse but not dead
    assert evaluation["kl_spliced"] > 0 and evaluation["kl_ablated"] > 0  # (a random dictionary may do worse)
    l0 = expected["l0_values"]
    assert evaluation["l0_median"] == int(l0.sort().values[(len(l0) - 1) // 2])
    assert sum(evaluation["l0_histogram"]["counts"]) == expected["tokens"]
    histogram = evaluation["log_density_histogram"]
    assert histogram["dead"] == int((expected["fires"] == 0).sum())
    assert sum(histogram["counts"]) + histogram["dead"] == spec.n_features


def hooked_gpt2(loaded, directory) -> HookedTransformer:
    """TransformerLens's GPT-2 with the tiny checkpoint's weights, unprocessed: the reference's model."""
    config = loaded.model.config
    cfg = HookedTransformerConfig(
        d_model=config.n_embd,
        d_head=config.n_embd // config.n_head,
        n_heads=config.n_head,
        d_mlp=4 * config.n_embd,
        n_layers=config.n_layer,
        n_ctx=config.n_positions,
        d_vocab=config.vocab_size,
        act_fn="gelu_new",
        eps=config.layer_norm_epsilon,
        normalization_type="LN",
        original_architecture="GPT2LMHeadModel",
        device="cpu",
    )
    state = get_pretrained_state_dict(str(directory), cfg, hf_model=loaded.model)
    model = HookedTransformer(cfg, move_to_device=False)
    model.load_and_process_state_dict(
        state, fold_ln=False, center_writing_weights=False, center_unembed=False, fold_value_biases=False
    )
    model.eval()
    return model


@pytest.fixture(scope="module")
def mlp_out_sae_dir(tmp_path_factory):
    """An SAE on the MLP's output of block 0: a module's output, where the reconstruction is written back by a
    forward hook (the residual SAE's is a block's input, written back by a pre-hook)."""
    from ..conftest import save_tiny_dictionary

    return save_tiny_dictionary(
        tmp_path_factory.mktemp("mlp-out-sae"),
        "standard",
        d_in=32,
        d_sae=48,
        hook_name="blocks.0.hook_mlp_out",
        encoder_scale=30.0,
    )


@pytest.mark.parametrize("which", ["resid_pre", "mlp_out"])
def test_the_figures_agree_with_sae_lens_evals(which, setup, tiny_gpt2_dir, tiny_sae_dir, mlp_out_sae_dir):
    loaded, spec, windows = setup
    sae_dir = tiny_sae_dir if which == "resid_pre" else mlp_out_sae_dir
    spec = dictionary_source(loaded, load_dictionary(sae_dir), which)
    evaluation = evaluate_dictionary(loaded, spec, windows, batch_size=4).metrics()
    assert evaluation["l0"] > 0 and evaluation["delta_loss"] != 0  # a dictionary that changes something
    model = hooked_gpt2(loaded, tiny_gpt2_dir)
    sae = SAE.load_from_disk(sae_dir, device="cpu")
    tokens = torch.tensor(windows)

    class FixedTokens:  # sae-lens's activation store, reduced to the one method its evals call
        def get_batch_tokens(self, n):
            assert n == len(tokens)
            return tokens

    ignore = sorted(set(loaded.tokenizer.all_special_ids))
    sparsity, _ = get_sparsity_and_variance_metrics(
        sae,
        model,
        FixedTokens(),
        ActivationScaler(),
        n_batches=1,
        compute_l2_norms=True,
        compute_sparsity_metrics=True,
        compute_variance_metrics=True,
        compute_featurewise_density_statistics=True,
        eval_batch_size_prompts=len(tokens),
        model_kwargs={},
        ignore_tokens=ignore,
    )
    downstream = get_downstream_reconstruction_metrics(
        sae,
        model,
        FixedTokens(),
        ActivationScaler(),
        compute_kl=True,
        compute_ce_loss=True,
        n_batches=1,
        eval_batch_size_prompts=len(tokens),
        ignore_tokens=ignore,
    )
    pairs = {
        "l0": sparsity["l0"],
        "mse": sparsity["mse"],
        "explained_variance": sparsity["explained_variance"],
        "cosine": sparsity["cossim"],
        "shrinkage": sparsity["relative_reconstruction_bias"],
        "ce_loss_clean": downstream["ce_loss_without_sae"],
        "ce_loss_spliced": downstream["ce_loss_with_sae"],
        "ce_loss_ablated": downstream["ce_loss_with_ablation"],
        "loss_recovered": downstream["ce_loss_score"],
        "kl_spliced": downstream["kl_div_with_sae"],
        "kl_ablated": downstream["kl_div_with_ablation"],
        "kl_recovered": downstream["kl_div_score"],
    }
    mismatches = {
        name: (evaluation[name], theirs)
        for name, theirs in pairs.items()
        if not math.isclose(evaluation[name], theirs, rel_tol=1e-3, abs_tol=1e-5)
        # sae-lens's cosine is NaN once a token's reconstruction is the zero vector; ours counts that token 0
        and not (name == "cosine" and math.isnan(theirs))
    }
    assert not mismatches


def test_shards_merge_into_the_one_pass_figures(setup):
    loaded, spec, windows = setup
    whole = evaluate_dictionary(loaded, spec, windows, with_loss=False)
    first = evaluate_dictionary(loaded, spec, windows[:2], with_loss=False)
    rest = evaluate_dictionary(loaded, spec, windows[2:], with_loss=False)
    merged = QualityStatistics.from_tensors(first.quality.to_tensors("q."), "q.")
    merged.merge(rest.quality)
    ours = merged.metrics(first.content_fires + rest.content_fires)
    expected = whole.metrics()
    for name in ("l0", "mse", "explained_variance", "cosine", "shrinkage", "dead_fraction"):
        assert ours[name] == pytest.approx(expected[name]), name
    assert ours["l0_histogram"] == expected["l0_histogram"]
    assert ours["log_density_histogram"] == expected["log_density_histogram"]


def test_a_bert_dictionary_has_no_loss_and_says_why(tiny_bert_dir, tmp_path, sample_corpus_file):
    from ..conftest import save_tiny_dictionary

    loaded = load_language_model(tiny_bert_dir)
    directory = save_tiny_dictionary(
        tmp_path / "sae", "standard", d_in=32, d_sae=24, hook_name="blocks.1.hook_resid_pre", encoder_scale=3.0
    )
    spec = dictionary_source(loaded, load_dictionary(directory), "1-res")
    windows = make_windows(
        loaded.tokenizer, text_file_documents(sample_corpus_file), n_windows=2, window_len=12, corpus_name="s"
    ).token_ids
    evaluation = evaluate_dictionary(loaded, spec, windows)
    assert evaluation.losses is None and "next-token head" in evaluation.loss_refusal
    assert "explained_variance" in evaluation.metrics() and "delta_loss" not in evaluation.metrics()
    assert evaluation.metrics()["loss_applies"] is False  # pages say "does not apply", not "not measured"


def test_the_log_density_histogram_bins_by_decade_quarter():
    histogram = log_density_histogram(torch.tensor([0.0, 1e-9, 1e-3, 0.5, 1.0]))
    assert histogram["dead"] == 1
    counts = histogram["counts"]
    assert counts[0] == 1  # rarer than 1e-8: the first bin
    assert counts[20] == 1  # 1e-3 = 10 ** (-8 + 20 / 4)
    assert counts[30] == 1 and counts[31] == 1  # 0.5 (log -0.3) and 1.0 (in the last bin, its upper edge included)


def test_neurons_are_refused(setup):
    loaded, spec, windows = setup
    from features.pipeline.sources import neuron_source

    with pytest.raises(PipelineInputError, match="Only dictionaries"):
        evaluate_dictionary(loaded, neuron_source(loaded, 0), windows)


def test_a_transcoders_output_is_spliced_at_its_output_hook(setup, tiny_gpt2_dir, tmp_path):
    """A skip transcoder reads ln2's normalised input of block 0 and writes the MLP's output: the spliced loss
    equals TransformerLens's forward with the MLP's output replaced by the transcoder's (on content tokens)."""
    import json

    from ..conftest import save_tiny_dictionary

    loaded, _, windows = setup
    directory = save_tiny_dictionary(
        tmp_path, "skip_transcoder", d_in=32, d_sae=48, d_out=32, hook_name="blocks.0.ln2.hook_normalized",
        encoder_scale=3.0,
    )  # fmt: skip
    config = json.loads((directory / "cfg.json").read_text())
    config["metadata"]["hook_name_out"] = "blocks.0.hook_mlp_out"
    (directory / "cfg.json").write_text(json.dumps(config))
    dictionary = load_dictionary(directory)
    spec = dictionary_source(loaded, dictionary, "0-tc")
    ours = evaluate_dictionary(loaded, spec, windows, batch_size=4).metrics()

    model = hooked_gpt2(loaded, tiny_gpt2_dir)
    tokens = torch.tensor(windows)
    mask = content_mask(loaded, tokens)
    inputs = {}

    def capture(value, hook):
        inputs["x"] = value

    def replace(value, hook):
        written = dictionary.reconstruct(inputs["x"], dictionary.encode(inputs["x"]))
        return torch.where(mask[..., None], written, value)

    with torch.no_grad():
        clean = torch.log_softmax(model(tokens).double(), -1)
        spliced = torch.log_softmax(
            model.run_with_hooks(
                tokens,
                fwd_hooks=[("blocks.0.ln2.hook_normalized", capture), ("blocks.0.hook_mlp_out", replace)],
            ).double(),
            -1,
        )
        _, cache = model.run_with_cache(tokens)
    ce = -spliced[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)[mask[:, :-1]].mean()
    kl = (clean.exp() * (clean - spliced)).sum(-1)[mask].mean()
    assert ours["ce_loss_spliced"] == pytest.approx(float(ce), rel=1e-4)
    assert ours["kl_spliced"] == pytest.approx(float(kl), rel=1e-3) and ours["kl_spliced"] > 0
    x, target = cache["blocks.0.ln2.hook_normalized"][mask], cache["blocks.0.hook_mlp_out"][mask].double()
    written = dictionary.reconstruct(x, dictionary.encode(x)).double()
    mse = ((target - written) ** 2).sum(-1).mean()
    assert ours["mse"] == pytest.approx(float(mse), rel=1e-4)  # against the output hook, not the input
