"""Train a sparse autoencoder on one hook of a model, with sae-lens's trainer fed by our own activation stream.

The stream runs the model over token windows with capture_activations (the same capture the dashboards
use, so the SAE is trained on exactly what it will later encode), drops special tokens ([CLS], [SEP],
BOS: they never count towards a feature), and shuffles tokens in a bounded buffer. sae-lens does the
rest the way it does for its own runs: its training SAE classes (initialisation with decoder rows of
norm 0.1 and a tied encoder, the training forward pass and losses), its SAETrainer's step (Adam, the
learning-rate schedule, gradient clipping, dead-feature tracking for the TopK auxiliary loss), and
activations scaled to an average norm of sqrt(d_in) during training ("expected_average_only_in"), the
scale folded into the weights afterwards. The result is an inference SAE that reads raw activations,
saved in the SAELens on-disk format that load_dictionary() reads.

A model in bfloat16 is supported: only its forward pass runs in bfloat16; the SAE, its Adam state and the
activations it trains on are float32 (float32 master weights), on the model's device.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .corpus import bos_token_id
from .devices import device_name, to_cpu_float32
from .errors import PipelineInputError
from .hooks import HookPoint, capture_activations, hook_module, hook_width, parse_hook_name
from .loading import LoadedModel
from .stream import content_mask

ARCHITECTURES = ("topk", "standard", "batchtopk", "jumprelu", "gated", "transcoder")
# Which sparsity setting each architecture reads: k active features, an L1 penalty, or an L0 penalty.
SPARSITY_SETTING = {
    "topk": "k",
    "batchtopk": "k",
    "standard": "l1_coefficient",
    "gated": "l1_coefficient",
    "transcoder": "l1_coefficient",
    "jumprelu": "l0_coefficient",
}


@dataclass
class TrainingReport:
    """How well the trained SAE does on held-out windows, in the model's own activation space."""

    steps: int
    tokens: int  # training tokens seen
    seconds: float
    initial_mse: float  # the freshly initialised SAE, for comparison
    mse: float  # mean squared error per activation dimension
    explained_variance: float  # 1 - sum |x - x_hat|^2 / sum |x - mean x|^2 (as sae-lens logs it)
    l0: float  # mean number of active features per token
    dead_fraction: float  # features that fired on no token of the last dead_window steps

    def as_dict(self) -> dict:
        return {name: round(value, 6) if isinstance(value, float) else value for name, value in vars(self).items()}

    def summary(self) -> str:
        return (
            f"L0 {self.l0:.1f}, explained variance {self.explained_variance:.3f}, MSE {self.mse:.4g} "
            f"(initially {self.initial_mse:.4g}), dead {self.dead_fraction:.1%}; "
            f"{self.steps} steps, {self.tokens:,} tokens, {self.seconds:.0f} s"
        )


@dataclass
class TrainedSAE:
    sae: torch.nn.Module  # a sae-lens inference SAE (StandardSAE or TopKSAE) reading raw activations
    report: TrainingReport

    def save(self, directory: str | Path) -> Path:
        """Write cfg.json and sae_weights.safetensors (the SAELens on-disk format)."""
        directory = Path(directory)
        self.sae.save_model(directory)
        return directory


def window_activations(
    loaded: LoadedModel,
    hook: HookPoint | Sequence[HookPoint],
    windows: Sequence[Sequence[int]],
    *,
    windows_per_pass: int = 32,
) -> Iterator[torch.Tensor]:
    """The hook's activations [n, d] on the content tokens of each batch of windows, in order. Given several
    hooks (a transcoder's input and output), their activations side by side [n, d_1 + d_2], from one pass, so
    that shuffling keeps each token's input next to its output."""
    hooks = [hook] if isinstance(hook, HookPoint) else list(hook)
    for start in range(0, len(windows), windows_per_pass):
        input_ids = torch.tensor(windows[start : start + windows_per_pass], dtype=torch.long)
        captured = capture_activations(loaded, hooks, input_ids)
        activations = torch.cat([to_cpu_float32(captured[each.name]) for each in hooks], dim=-1)
        # float32 on the CPU whatever the model's dtype: the SAE trains in float32 (its master weights and Adam's
        # state); clone(): a normal tensor, not an inference-mode one, so autograd may use it.
        yield activations[content_mask(loaded, input_ids)].clone()


def activation_stream(
    loaded: LoadedModel,
    hook: HookPoint | Sequence[HookPoint],
    windows: Sequence[Sequence[int]],
    *,
    batch_tokens: int,
    buffer_tokens: int,
    generator: torch.Generator,
    cache_tokens: int = 0,
) -> Iterator[torch.Tensor]:
    """Endless batches [batch_tokens, d] of the hook's activations on content tokens.

    Each epoch visits the windows in a new random order; tokens are shuffled in a buffer of about
    buffer_tokens, half of which is handed out (in batches) each time it fills, as sae-lens's mixing
    buffer does. When all the windows' tokens fit in cache_tokens, the first epoch's activations are
    kept and later epochs reshuffle them instead of running the model again; otherwise memory stays
    bounded by the buffer whatever the number of windows.
    """
    buffer_tokens = max(buffer_tokens, 2 * batch_tokens)
    hooks = [hook] if isinstance(hook, HookPoint) else list(hook)
    buffer = torch.empty(0, sum(hook_width(loaded, each) for each in hooks))
    cache: list[torch.Tensor] | None = [] if cache_tokens > 0 else None
    cached: torch.Tensor | None = None
    while True:
        if cached is None:
            order = torch.randperm(len(windows), generator=generator).tolist()
            chunks, fill = window_activations(loaded, hook, [windows[i] for i in order]), buffer_tokens
        else:  # every token is in memory: each epoch is a full reshuffle of them
            chunks, fill = [cached], 2 * batch_tokens
        for chunk in chunks:
            if cache is not None:
                cache.append(chunk)
                if sum(len(part) for part in cache) > cache_tokens:
                    cache = None
            buffer = torch.cat([buffer, chunk])
            if len(buffer) < fill:
                continue
            buffer = buffer[torch.randperm(len(buffer), generator=generator)]
            # Streaming, half the buffer stays to be mixed with the windows still to come.
            n_out = (len(buffer) - (len(buffer) // 2 if cached is None else 0)) // batch_tokens * batch_tokens
            for offset in range(0, n_out, batch_tokens):
                yield buffer[offset : offset + batch_tokens]
            buffer = buffer[n_out:]
        if cache is not None:
            cached, cache = torch.cat(cache), None


@torch.no_grad()
def reconstruction_metrics(
    reconstruct: Callable, activations: torch.Tensor, targets: torch.Tensor | None = None
) -> tuple[float, float, float]:
    """(MSE per dimension, explained variance, L0) of `reconstruct(x) -> (x_hat, feature_acts)` against
    `targets` (the activations themselves for an SAE, the output hook's for a transcoder)."""
    targets = activations if targets is None else targets
    squared_error = total_variance = active = 0.0
    mean = targets.mean(0)
    for chunk, target in zip(activations.split(4096), targets.split(4096), strict=True):
        reconstruction, feature_acts = reconstruct(chunk)
        squared_error += (reconstruction - target).pow(2).sum().item()
        total_variance += (target - mean).pow(2).sum().item()
        active += (feature_acts > 0).sum().item()
    n = len(activations)
    return squared_error / targets.numel(), 1 - squared_error / max(total_variance, 1e-12), active / n


def _inference_sae(training_sae) -> torch.nn.Module:
    """The inference SAE sae-lens's save_inference_model() would write, built in memory."""
    from sae_lens import SAE

    state = training_sae.state_dict()
    training_sae.process_state_dict_for_saving_inference(state)  # TopK: folds the decoder norms
    sae = SAE.from_dict(training_sae.cfg.get_inference_sae_cfg_dict())  # BatchTopK becomes a JumpReLU SAE
    sae.load_state_dict(state)
    if sae.cfg.architecture() in ("standard", "jumprelu", "gated"):
        # Unit decoder rows: a feature's activation is then the size of what it writes (each architecture's own
        # fold_W_dec_norm rescales its thresholds and gate biases to match; TopK's choice would change, so not it).
        sae.fold_W_dec_norm()
    return sae.eval()


def _training_sae(
    architecture: str, common: dict, *, k: int, l1_coefficient: float, l0_coefficient: float, steps: int, jumprelu: dict
):
    """sae-lens's training SAE for `architecture`, with its own losses: TopK and BatchTopK with the auxiliary loss
    for dead features; standard and Gated with an L1 penalty weighted by decoder norms (Gated adds its auxiliary
    reconstruction through the gate path); JumpReLU with the L0 penalty through straight-through estimators."""
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.gated_sae import GatedTrainingSAE, GatedTrainingSAEConfig
    from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

    warm_up = max(steps // 20, 1)
    if architecture == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(k=k, **common))
    if architecture == "batchtopk":
        return BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=k, **common))
    if architecture == "gated":
        return GatedTrainingSAE(
            GatedTrainingSAEConfig(l1_coefficient=l1_coefficient, l1_warm_up_steps=warm_up, **common)
        )
    if architecture == "jumprelu":
        return JumpReLUTrainingSAE(
            JumpReLUTrainingSAEConfig(l0_coefficient=l0_coefficient, l0_warm_up_steps=warm_up, **jumprelu, **common)
        )
    return StandardTrainingSAE(
        StandardTrainingSAEConfig(l1_coefficient=l1_coefficient, l1_warm_up_steps=warm_up, **common)
    )


def train_sae(
    loaded: LoadedModel,
    hook_name: str,
    windows: Sequence[Sequence[int]],
    *,
    d_sae: int,
    architecture: str = "topk",
    k: int = 32,
    l1_coefficient: float = 5.0,
    l0_coefficient: float = 1.0,
    jumprelu_threshold: float = 0.01,
    jumprelu_bandwidth: float = 0.05,
    hook_name_out: str = "",
    steps: int = 800,
    batch_tokens: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    buffer_tokens: int = 32768,
    cache_tokens: int = 200_000,
    dead_window: int = 100,
    prepend_bos: bool | None = None,
    model_name: str = "",
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainedSAE:
    """Train a dictionary of d_sae features on `hook_name` over `windows` (token id lists framed as the model's
    tokenizer frames them, or with a BOS as `prepend_bos` says, which the saved config records).

    `architecture` is one of ARCHITECTURES, trained with sae-lens's training SAE of that name:
    "topk" (exactly k active features per token) and "batchtopk" (k on average over a batch, saved as a
    JumpReLU SAE with the threshold it learnt), both with the auxiliary loss for dead features; "standard"
    (ReLU, L1 penalty of l1_coefficient weighted by decoder norms); "gated" (separate gate and magnitude paths
    sharing encoder directions, the L1 penalty on the gate path and its auxiliary reconstruction); "jumprelu"
    (a learnt threshold per feature, starting at jumprelu_threshold, trained through straight-through estimators
    with the rectangle kernel of width jumprelu_bandwidth and an L0 penalty of l0_coefficient, as in
    Rajamanoharan et al. 2024; thresholds and bandwidth are in units of the activations scaled to an average
    norm of sqrt(d_in)). "transcoder" reads `hook_name` and predicts
    `hook_name_out` (a ReLU transcoder with the standard SAE's L1 penalty; sae-lens has no training
    transcoder, so its loop is ours, with SAETrainer's optimiser, schedule and clipping). Penalties warm up over
    the first 5% of steps. Training sees steps x batch_tokens tokens, going over the windows as many times as
    that takes (kept in memory for later passes when they fit in cache_tokens). A tenth of the windows (at most
    64) is held out for the report. Deterministic for a given seed, windows and thread count.
    """
    from sae_lens.saes.sae import SAEMetadata

    hook = parse_hook_name(hook_name, loaded)
    hook_module(loaded, hook)  # fails clearly if the architecture lacks the hook's module
    if architecture not in ARCHITECTURES:
        raise PipelineInputError(
            f"Unknown SAE architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}."
        )
    if d_sae < 1 or steps < 1 or batch_tokens < 1:
        raise PipelineInputError("d_sae, steps and batch_tokens must be positive.")
    if architecture in ("topk", "batchtopk") and not 1 <= k <= d_sae:
        raise PipelineInputError(f"k must be between 1 and d_sae ({d_sae}).")
    if l1_coefficient < 0 or l0_coefficient < 0:
        raise PipelineInputError("Sparsity coefficients cannot be negative.")
    if jumprelu_threshold < 0 or jumprelu_bandwidth <= 0:
        raise PipelineInputError("A JumpReLU threshold cannot be negative, and its bandwidth must be positive.")
    hooks = [hook]
    if architecture == "transcoder":
        if not hook_name_out:
            raise PipelineInputError(
                "A transcoder needs the hook it predicts (hook_name_out), e.g. blocks.0.hook_mlp_out."
            )
        hook_out = parse_hook_name(hook_name_out, loaded)
        hook_module(loaded, hook_out)
        hooks.append(hook_out)
    elif hook_name_out and hook_name_out != hook_name:
        raise PipelineInputError(
            f"Only a transcoder writes to another hook; a {architecture} SAE reconstructs its input."
        )
    if not windows:
        raise PipelineInputError("There are no windows to train on: the corpus is empty.")
    d_in = hook_width(loaded, hook)
    n_eval = min(64, len(windows) // 10) or 1
    train_windows = windows[:-n_eval] if len(windows) > n_eval else windows
    device = device_name(loaded.device)  # the SAE trains where the model runs, always in float32
    eval_activations = torch.cat(list(window_activations(loaded, hooks, windows[-n_eval:]))).to(device)
    if len(eval_activations) == 0:
        raise PipelineInputError("The windows hold only special tokens: there is nothing to train on.")

    if prepend_bos is None:
        # Framed as the tokenizer frames them: record whether that put a BOS first ([CLS] for BERT), so that
        # a run of this dictionary can check that its windows start the same way (checks.check_prepend_bos).
        prepend_bos = windows[0][:1] == [bos_token_id(loaded.tokenizer)]
    metadata = SAEMetadata(
        model_name=model_name or Path(loaded.path).name,
        hook_name=hook.name,
        context_size=len(windows[0]),
        prepend_bos=prepend_bos,
    )
    if architecture == "transcoder":
        metadata.hook_name_out = hooks[1].name
    settings = {"k": k, "l1_coefficient": l1_coefficient, "l0_coefficient": l0_coefficient}
    # What was trained, and with which sparsity setting: a sweep's points are told apart by it.
    metadata.training_settings = {
        "architecture": architecture,
        SPARSITY_SETTING[architecture]: settings[SPARSITY_SETTING[architecture]],
        "steps": steps,
        "batch_tokens": batch_tokens,
        "lr": lr,
        "seed": seed,
    }
    stream = activation_stream(
        loaded,
        hooks,
        train_windows,
        batch_tokens=batch_tokens,
        buffer_tokens=buffer_tokens,
        cache_tokens=cache_tokens,
        generator=torch.Generator().manual_seed(seed),
    )
    if architecture == "transcoder":
        return _train_transcoder(
            stream,
            eval_activations,
            d_in=d_in,
            d_sae=d_sae,
            l1_coefficient=l1_coefficient,
            steps=steps,
            lr=lr,
            seed=seed,
            dead_window=dead_window,
            metadata=metadata,
            device=device,
            on_progress=on_progress,
        )

    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    common = {
        "d_in": d_in,
        "d_sae": d_sae,
        "normalize_activations": "expected_average_only_in",
        "metadata": metadata,
        "dtype": "float32",
        "device": device,
    }
    with torch.random.fork_rng():  # seed the initialisation without touching the caller's random state
        torch.manual_seed(seed)
        training_sae = _training_sae(
            architecture,
            common,
            k=k,
            l1_coefficient=l1_coefficient,
            l0_coefficient=l0_coefficient,
            steps=steps,
            jumprelu={"jumprelu_init_threshold": jumprelu_threshold, "jumprelu_bandwidth": jumprelu_bandwidth},
        )
    trainer = SAETrainer(
        SAETrainerConfig(
            total_training_samples=steps * batch_tokens,
            train_batch_size_samples=batch_tokens,
            lr=lr,
            lr_end=lr,
            lr_warm_up_steps=max(steps // 20, 1),
            lr_decay_steps=steps // 5,  # a linear decay to zero over the last fifth
            dead_feature_window=dead_window,
            feature_sampling_window=steps + 1,  # one sparsity window: the whole run
            device=device,
        ),
        sae=training_sae,
        data_provider=iter(()),  # we drive trainer.step() with our own batches
    )
    # As sae-lens's ActivationScaler.estimate_scaling_factor: sqrt(d_in) / the mean norm of the activations,
    # here of the held-out tokens, which are at hand (one scalar; the SAE never trains on them).
    scaler = trainer.activation_scaler
    scaler.scaling_factor = d_in**0.5 / eval_activations.norm(dim=-1).mean().item()

    def reconstruct_scaled(chunk: torch.Tensor):
        feature_acts = training_sae.encode(scaler.scale(chunk))
        return scaler.unscale(training_sae.decode(feature_acts)), feature_acts

    training_sae.eval()
    initial_mse, _, _ = reconstruction_metrics(reconstruct_scaled, eval_activations)

    started = time.monotonic()
    for step in range(steps):
        trainer.step(next(stream))  # scales the batch, runs the training forward pass, steps Adam
        trainer.n_training_steps += 1
        if on_progress:
            on_progress(step + 1, steps)
    seconds = time.monotonic() - started
    window = min(dead_window, trainer.n_training_steps)
    dead = trainer.n_forward_passes_since_fired >= window
    training_sae.fold_activation_norm_scaling_factor(scaler.scaling_factor)
    scaler.scaling_factor = None

    sae = _inference_sae(training_sae)
    return _finish(sae, eval_activations, None, initial_mse, dead, steps, steps * batch_tokens, seconds)


def _finish(
    sae: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None,
    initial_mse: float,
    dead: torch.Tensor,
    steps: int,
    tokens: int,
    seconds: float,
) -> TrainedSAE:
    """Measure the inference dictionary on the held-out tokens and record the figures in its metadata."""

    def reconstruct(chunk: torch.Tensor):
        feature_acts = sae.encode(chunk)
        return sae.decode(feature_acts), feature_acts

    mse, explained_variance, l0 = reconstruction_metrics(reconstruct, inputs, targets)
    report = TrainingReport(
        steps=steps,
        tokens=tokens,
        seconds=seconds,
        initial_mse=initial_mse,
        mse=mse,
        explained_variance=explained_variance,
        l0=l0,
        dead_fraction=dead.float().mean().item(),
    )
    # The fields sae-lens's trainer records at the end of a run, measured on held-out windows.
    sae.cfg.metadata.l0 = l0
    sae.cfg.metadata.num_dead_features = int(dead.sum())
    sae.cfg.metadata.training_report = report.as_dict()
    return TrainedSAE(sae=sae, report=report)


def _train_transcoder(
    stream: Iterator[torch.Tensor],
    eval_activations: torch.Tensor,
    *,
    d_in: int,
    d_sae: int,
    l1_coefficient: float,
    steps: int,
    lr: float,
    seed: int,
    dead_window: int,
    metadata,
    device: str,
    on_progress: Callable[[int, int], None] | None,
) -> TrainedSAE:
    """A ReLU transcoder x_in -> x_out trained as sae-lens trains a standard SAE (inputs and targets each scaled
    to an average norm of sqrt(d), decoder rows initialised at norm 0.1, MSE summed over dimensions plus an L1
    penalty weighted by decoder norms and warmed up, Adam with SAETrainer's betas, warm-up and final decay of the
    learning rate, gradients clipped at norm 1); the scales and decoder norms are folded in afterwards and the
    result is sae-lens's inference Transcoder."""
    from sae_lens.saes.transcoder import Transcoder, TranscoderConfig

    inputs, targets = eval_activations[:, :d_in], eval_activations[:, d_in:]
    d_out = targets.shape[1]
    scale_in = d_in**0.5 / inputs.norm(dim=-1).mean().item()
    scale_out = d_out**0.5 / targets.norm(dim=-1).mean().item()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        W_dec = torch.randn(d_sae, d_out, device=device)
        W_enc = torch.randn(d_in, d_sae, device=device)
    W_dec = torch.nn.Parameter(0.1 * W_dec / W_dec.norm(dim=1, keepdim=True))
    W_enc = torch.nn.Parameter(0.1 * W_enc / W_enc.norm(dim=0, keepdim=True))
    b_enc = torch.nn.Parameter(torch.zeros(d_sae, device=device))
    b_dec = torch.nn.Parameter(torch.zeros(d_out, device=device))
    parameters = [W_enc, b_enc, W_dec, b_dec]
    optimizer = torch.optim.Adam(parameters, lr=lr, betas=(0.9, 0.999))
    warm_up, decay = max(steps // 20, 1), steps // 5

    def lr_factor(step: int) -> float:
        if step < warm_up:
            return (step + 1) / warm_up
        if decay and step >= steps - decay:
            return (steps - step) / decay
        return 1.0

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    def forward(x_scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature_acts = torch.relu(x_scaled @ W_enc + b_enc)
        return feature_acts @ W_dec + b_dec, feature_acts

    with torch.no_grad():
        initial = forward(inputs * scale_in)[0] / scale_out
        initial_mse = (initial - targets).pow(2).mean().item()
    since_fired = torch.zeros(d_sae, dtype=torch.long, device=device)
    started = time.monotonic()
    for step in range(steps):
        batch = next(stream).to(device)
        x, y = batch[:, :d_in] * scale_in, batch[:, d_in:] * scale_out
        prediction, feature_acts = forward(x)
        mse_loss = (prediction - y).pow(2).sum(dim=-1).mean()
        penalty = l1_coefficient * min(1.0, (step + 1) / warm_up)
        l1_loss = penalty * (feature_acts * W_dec.norm(dim=1)).sum(dim=-1).mean()
        optimizer.zero_grad()
        (mse_loss + l1_loss).backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        fired = (feature_acts > 0).any(dim=0)
        since_fired = torch.where(fired, 0, since_fired + 1)
        if on_progress:
            on_progress(step + 1, steps)
    seconds = time.monotonic() - started
    dead = since_fired >= min(dead_window, steps)

    config = TranscoderConfig(
        d_in=d_in,
        d_sae=d_sae,
        d_out=d_out,
        dtype="float32",
        device=device,
        apply_b_dec_to_input=False,
        normalize_activations="none",
        metadata=metadata,
    )
    transcoder = Transcoder(config)
    with torch.no_grad():
        # Fold the scales (raw x in, raw y out), then unit decoder rows (activations say how much is written).
        norms = (W_dec / scale_out).norm(dim=1).clamp(min=1e-8)
        transcoder.W_enc.copy_(W_enc * scale_in * norms)
        transcoder.b_enc.copy_(b_enc * norms)
        transcoder.W_dec.copy_(W_dec / scale_out / norms[:, None])
        transcoder.b_dec.copy_(b_dec / scale_out)
    return _finish(transcoder.eval(), inputs, targets, initial_mse, dead, steps, steps * len(batch), seconds)
