"""Time SAEDashboard 0.8.0 on the fixture of bench/pipeline.py. Runs in SAEDashboard's own environment:

    bench/.venv-saedashboard/bin/python bench/saedashboard_run.py --cache bench/.cache/pipeline --windows 64

It does what Neuronpedia's runner (sae_dashboard.neuronpedia.neuronpedia_runner) does for each batch of
features: a SaeVisConfig with that runner's settings (32 prompts per forward pass, 64 features per
quantile batch, its sequence layout, special tokens ignored) and cache_dir set, so that the model's
forward runs once, for the first feature batch, and later batches load the cached activations from
disk; then SaeVisRunner(config).run(...). The converter to Neuronpedia's JSON is left out of the
timing. The model is a TransformerLens HookedSAETransformer of GPT-2-small shape carrying the very
weights of the fixture's checkpoint (unprocessed: no LayerNorm folding or centring), so the SAE sees
the same activations, and the same sparsity, as in our pipeline. The last line printed is JSON.
"""

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
from sae_dashboard.components_config import (
    ActsHistogramConfig,
    Column,
    FeatureTablesConfig,
    LogitsHistogramConfig,
    LogitsTableConfig,
    SequencesConfig,
)
from sae_dashboard.layout import SaeVisLayoutConfig
from sae_dashboard.sae_vis_data import SaeVisConfig
from sae_dashboard.sae_vis_runner import SaeVisRunner
from sae_lens import SAE, HookedSAETransformer
from transformer_lens import HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights
from transformers import GPT2LMHeadModel

HOOK = "blocks.6.hook_resid_pre"
SPECIAL_TOKENS = {0, 101, 102}  # MiniLM's [PAD], [CLS], [SEP]: what the runner passes as ignore_tokens


def peak_rss_mb() -> float:
    """This process's own high-water mark (ru_maxrss would include the parent's across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_model(model_dir: Path) -> tuple[HookedSAETransformer, float]:
    hf_model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    hf_config = hf_model.config
    cfg = HookedTransformerConfig(
        n_layers=hf_config.n_layer,
        d_model=hf_config.n_embd,
        n_heads=hf_config.n_head,
        d_head=hf_config.n_embd // hf_config.n_head,
        d_mlp=4 * hf_config.n_embd,
        n_ctx=hf_config.n_positions,
        d_vocab=hf_config.vocab_size,
        act_fn="gelu_new",
        normalization_type="LN",
        eps=hf_config.layer_norm_epsilon,
        device="cpu",
    )
    model = HookedSAETransformer(cfg)
    model.load_and_process_state_dict(
        convert_gpt2_weights(hf_model, cfg),
        fold_ln=False,
        center_writing_weights=False,
        center_unembed=False,
        fold_value_biases=False,
    )
    model.eval()
    # Check that the hook carries the same activations as the checkpoint's own forward.
    probe = torch.randint(1000, 2000, (2, 16))
    with torch.inference_mode():
        expected = hf_model(probe, output_hidden_states=True).hidden_states[6]
        _, cache = model.run_with_cache(probe, names_filter=HOOK, stop_at_layer=7)
    difference = float((cache[HOOK] - expected).abs().max())
    return model, difference


def layout() -> SaeVisLayoutConfig:
    """The layout Neuronpedia's runner uses, with its default group sizes."""
    return SaeVisLayoutConfig(
        columns=[
            Column(
                SequencesConfig(
                    stack_mode="stack-all",
                    buffer=None,  # type: ignore[arg-type]
                    compute_buffer=True,
                    n_quantiles=5,
                    top_acts_group_size=20,
                    quantile_group_size=5,
                ),
                ActsHistogramConfig(),
                LogitsHistogramConfig(),
                LogitsTableConfig(),
                FeatureTablesConfig(n_rows=3),
            )
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True, type=Path, help="the fixture directory of bench/pipeline.py")
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--feature-batch", type=int, default=512)
    parser.add_argument("--max-batches", type=int, default=None, help="time only this many batches; extrapolate")
    args = parser.parse_args()

    torch.set_num_threads(2)
    windows = json.loads((args.cache / "windows.json").read_text())[: args.windows]
    tokens = torch.tensor(windows, dtype=torch.long)
    model, difference = build_model(args.cache / "model")
    sae = SAE.load_from_disk(args.cache / "sae", device="cpu")
    sae.eval()
    d_sae = sae.cfg.d_sae
    batches = [list(range(d_sae))[start : start + args.feature_batch] for start in range(0, d_sae, args.feature_batch)]
    to_run = batches[: args.max_batches] if args.max_batches else batches
    print(
        f"SAEDashboard: {len(tokens)} x {tokens.shape[1]} tokens, {d_sae} features in {len(batches)} batches of "
        f"{args.feature_batch}; hook activations match the checkpoint's to {difference:.1e}",
        file=sys.stderr,
        flush=True,
    )

    seconds, cpu_seconds = [], []
    with tempfile.TemporaryDirectory(prefix="saedashboard-cache-") as cache_dir:
        for index, features in enumerate(to_run):
            config = SaeVisConfig(
                hook_point=HOOK,
                features=features,
                minibatch_size_features=args.feature_batch,
                minibatch_size_tokens=32,
                quantile_feature_batch_size=64,
                verbose=False,
                device="cpu",
                feature_centric_layout=layout(),
                perform_ablation_experiments=False,
                dtype="float32",
                cache_dir=Path(cache_dir),  # the activation cache: the forward runs for the first batch only
                ignore_tokens=SPECIAL_TOKENS,
                use_dfa=False,
            )
            start, cpu = time.perf_counter(), time.process_time()
            data = SaeVisRunner(config).run(encoder=sae, model=model, tokens=tokens)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu)
            print(
                f"SAEDashboard batch {index + 1}/{len(to_run)}: {seconds[-1]:.1f} s, {len(data.feature_data_dict)} "
                f"features, peak RSS so far {peak_rss_mb():.0f} MB",
                file=sys.stderr,
                flush=True,
            )
            del data
        cached = sorted(path.name for path in Path(cache_dir).iterdir())

    # The first batch also runs (and caches) the forward; later batches are alike, so extrapolate from them.
    extrapolated = len(to_run) < len(batches)

    def total(times: list[float]) -> float:
        if not extrapolated:
            return sum(times)
        later = times[1:] or times
        return times[0] + sum(later) / len(later) * (len(batches) - 1)

    print(
        json.dumps(
            {
                "seconds": total(seconds),
                "cpu_seconds": total(cpu_seconds),
                "batch_seconds": seconds,
                "batches_run": len(to_run),
                "batches_total": len(batches),
                "extrapolated": extrapolated,
                "peak_rss_mb": peak_rss_mb(),
                "activation_cache_files": len(cached),
                "hook_max_abs_difference": difference,
            }
        )
    )


if __name__ == "__main__":
    main()
