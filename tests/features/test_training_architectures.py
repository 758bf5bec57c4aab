"""Every architecture trains here with sae-lens's training classes (ours for the transcoder), saves in SAELens's
format and loads back, with sae-lens and with our loader, encoding alike; JumpReLU's threshold learns through
its straight-through estimator only inside the kernel's bandwidth."""

import pytest
import torch
from django.core.management import call_command
from sae_lens import SAE
from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
from sae_lens.saes.sae import TrainStepInput

from features.models import Source
from features.pipeline.corpus import corpus_documents, make_windows
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.errors import PipelineInputError
from features.pipeline.hooks import parse_hook_name
from features.pipeline.loading import load_language_model
from features.pipeline.training import train_sae, window_activations
from features.services import registration

HOOK = "blocks.1.hook_resid_pre"
SMALL = {"d_sae": 48, "k": 6, "batch_tokens": 64, "buffer_tokens": 256, "lr": 3e-3, "steps": 40, "seed": 3}
# The architecture trained -> the one sae-lens saves for inference (BatchTopK keeps its learnt threshold as a
# JumpReLU SAE, as sae-lens does).
SAVED_AS = {
    "standard": "standard",
    "topk": "topk",
    "batchtopk": "jumprelu",
    "jumprelu": "jumprelu",
    "gated": "gated",
    "transcoder": "transcoder",
}
SPARSITY = {"standard": {"l1_coefficient": 0.5}, "gated": {"l1_coefficient": 0.5}, "jumprelu": {"l0_coefficient": 0.05}}


@pytest.fixture(scope="module")
def loaded(tiny_gpt2_dir):
    return load_language_model(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def windows(loaded, sample_corpus_file):
    corpus = str(sample_corpus_file)
    return make_windows(
        loaded.tokenizer, corpus_documents(corpus), n_windows=20, window_len=16, corpus_name=corpus
    ).token_ids


@pytest.mark.parametrize("architecture", list(SAVED_AS))
def test_each_architecture_trains_saves_and_loads_back_alike(architecture, loaded, windows, tmp_path):
    hook_out = "blocks.1.hook_mlp_out" if architecture == "transcoder" else ""
    trained = train_sae(
        loaded,
        HOOK,
        windows,
        architecture=architecture,
        hook_name_out=hook_out,
        **SPARSITY.get(architecture, {}),
        **SMALL,
    )
    report = trained.report
    assert report.mse < report.initial_mse, report.summary()
    assert 0 < report.l0 < SMALL["d_sae"]
    if architecture == "topk":
        assert report.l0 <= SMALL["k"]

    directory = trained.save(tmp_path / architecture)
    ours = load_dictionary(directory)
    theirs = SAE.load_from_disk(directory)
    assert ours.architecture == theirs.cfg.architecture() == SAVED_AS[architecture]
    assert ours.hook_name == HOOK
    assert ours.hook_name_out == (hook_out or HOOK)
    metadata = ours.config["metadata"]
    assert metadata["training_settings"]["architecture"] == architecture
    assert metadata["training_report"]["l0"] == pytest.approx(report.l0, abs=1e-5)

    activations = next(window_activations(loaded, parse_hook_name(HOOK, loaded), windows))
    with torch.no_grad():
        expected = theirs.encode(activations)
    encoded = ours.encode(activations)
    torch.testing.assert_close(encoded, expected)
    assert (encoded > 0).any()  # a dictionary that never fires would make the comparison empty
    reconstruction = ours.reconstruct(activations, encoded)
    assert reconstruction.shape == (len(activations), 32)
    torch.testing.assert_close(reconstruction, theirs.decode(expected))


def test_a_transcoder_predicts_its_output_hook_better_than_its_start(loaded, windows):
    trained = train_sae(
        loaded,
        HOOK,
        windows,
        architecture="transcoder",
        hook_name_out="blocks.1.hook_mlp_out",
        l1_coefficient=0.05,
        **{**SMALL, "steps": 200},
    )
    # Measured against hook_mlp_out, not against its own input: a transcoder copying its input would not improve.
    assert trained.report.explained_variance > 0.3, trained.report.summary()
    assert trained.sae.cfg.metadata.hook_name_out == "blocks.1.hook_mlp_out"


def test_bad_architecture_settings_fail_clearly(loaded, windows):
    with pytest.raises(PipelineInputError, match="hook it predicts"):
        train_sae(loaded, HOOK, windows, architecture="transcoder", **SMALL)
    with pytest.raises(PipelineInputError, match="Only a transcoder"):
        train_sae(loaded, HOOK, windows, architecture="gated", hook_name_out="blocks.1.hook_mlp_out", **SMALL)
    with pytest.raises(PipelineInputError, match="k must be between"):
        train_sae(loaded, HOOK, windows, architecture="batchtopk", **{**SMALL, "k": 0})
    with pytest.raises(PipelineInputError, match="choose one of"):
        train_sae(loaded, HOOK, windows, architecture="matryoshka", **SMALL)


def test_the_jumprelu_threshold_gradient_lives_only_inside_the_bandwidth():
    """Rajamanoharan et al. (2024), eq. 11-12: the pseudo-derivative of the L0 penalty (Heaviside step) with respect
    to threshold t is -(1/eps) K((z - t)/eps) with the rectangle kernel K: non-zero only for |z - t| < eps/2, and
    that of the reconstruction through JumpReLU is -(t/eps) K((z - t)/eps). Elsewhere the threshold gets none."""
    bandwidth, threshold = 0.1, 0.5
    config = JumpReLUTrainingSAEConfig(
        d_in=4, d_sae=6, jumprelu_bandwidth=bandwidth, jumprelu_init_threshold=threshold, l0_coefficient=1.0
    )
    sae = JumpReLUTrainingSAE(config)
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(4, 6))  # feature j's pre-activation is x_j for j < 4, and 0 for features 4 and 5
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    # Feature 0 sits just under the threshold, 1 just over (both inside the window of width 0.1 around 0.5),
    # 2 far above it, 3 far below; 4 and 5 at 0, far below.
    x = torch.tensor([[0.47, 0.53, 2.0, -1.0]])
    output = sae.training_forward_pass(
        TrainStepInput(
            sae_in=x, coefficients={"l0": 1.0}, dead_neuron_mask=None, n_training_steps=0, is_logging_step=False
        )
    )
    output.losses["l0_loss"].backward()
    gradient = sae.threshold.grad
    # L0 loss alone: d/dt sum_j H(z_j - t) = -(1/eps) K(...) = -10 inside the window, 0 outside.
    torch.testing.assert_close(gradient, torch.tensor([-10.0, -10.0, 0, 0, 0, 0]))

    sae.zero_grad()
    output = sae.training_forward_pass(
        TrainStepInput(
            sae_in=x, coefficients={"l0": 0.0}, dead_neuron_mask=None, n_training_steps=0, is_logging_step=False
        )
    )
    output.losses["mse_loss"].backward()
    gradient = sae.threshold.grad
    assert gradient[:2].abs().min() > 0  # inside the bandwidth: the reconstruction moves the threshold
    assert torch.equal(gradient[2:], torch.zeros(4))  # outside: exactly zero


@pytest.mark.django_db
def test_the_command_trains_and_registers_a_transcoder(tiny_gpt2_dir, sample_corpus_file, settings, tmp_path):
    settings.NEURONPEDIA_DATA_DIR = tmp_path / "data"
    registration.model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    call_command(
        "train_sae",
        *("--model", "tiny-gpt2", "--hook", HOOK, "--slug", "1-transcoder", "--d-sae", "40"),
        *("--architecture", "transcoder", "--hook-out", "blocks.1.hook_mlp_out", "--l1-coefficient", "0.1"),
        *("--corpus", str(sample_corpus_file), "--windows", "20", "--window-len", "16"),
        *("--steps", "5", "--batch-tokens", "64"),
    )
    source = Source.objects.get(model__slug="tiny-gpt2", slug="1-transcoder")
    assert (source.kind, source.hook_name, source.n_features) == (Source.Kind.TRANSCODER, HOOK, 40)
    assert source.config["hook_name_out"] == "blocks.1.hook_mlp_out"
    assert source.config["architecture"] == "transcoder"
