"""What a dictionary's quality figures cost: in the activation pass, and as a separate evaluation.

The workload is bench/pipeline.py's (built once into bench/.cache/pipeline/): a GPT-2-small-shaped model with
random weights, a standard SAE with 6144 features on blocks.6.hook_resid_pre calibrated to fire on about 1.5%
of tokens, and windows of 128 tokens of the standard library's docstrings.

  (1) the pass: compute_dashboards over N windows, with the time spent in the quality statistics (L0 and its
      distribution, and the reconstruction sums of the checks' sampled windows: features/pipeline/quality.py)
      measured around their calls, and the figures' final computation (histograms) timed apart. The target:
      under 10% of the pass.
  (2) the evaluation (evaluations/core/metrics.py) over the same windows: without the loss (one forward to
      the hook, encode, decode) and with it (three more full forwards: clean, spliced, zero-ablated).

    python bench/quality.py                  # 64 windows of 128 tokens
    python bench/quality.py --windows 16     # a quicker run
"""

import argparse
import json
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import pipeline  # noqa: E402  (bench/pipeline.py: the shared workload)


def timed(owner, name: str, spent: list[float]) -> None:
    """Wrap owner.name so that the seconds spent in it add up in spent[0]."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from evaluations.core.metrics import evaluate_dictionary
    from features.pipeline.dictionaries import load_dictionary
    from features.pipeline.hooks import capture_activations
    from features.pipeline.loading import load_language_model
    from features.pipeline.quality import QualityStatistics
    from features.pipeline.sources import dictionary_source
    from features.pipeline.stream import compute_dashboards

    torch.set_num_threads(2)
    pipeline.prepare_fixture(pipeline.CACHE_DIR)
    paths = pipeline.fixture_paths(pipeline.CACHE_DIR)
    windows = pipeline.load_windows(args.windows)
    tokens = len(windows) * len(windows[0])
    loaded = load_language_model(paths["model"], device=args.device)
    source = dictionary_source(loaded, load_dictionary(paths["sae"], device=args.device), slug=pipeline.SLUG)
    ids = torch.tensor(windows, dtype=torch.long)
    capture_activations(loaded, [source.hook], ids[: pipeline.BATCH_SIZE])  # warm-up, untimed

    start = time.perf_counter()
    for first in range(0, len(windows), pipeline.BATCH_SIZE):
        capture_activations(loaded, [source.hook], ids[first : first + pipeline.BATCH_SIZE])
    floor = time.perf_counter() - start

    spent = [0.0]
    timed(QualityStatistics, "add_sparsity", spent)
    timed(QualityStatistics, "add_reconstruction", spent)
    start = time.perf_counter()
    accumulators = compute_dashboards(loaded, [source], windows, batch_size=pipeline.BATCH_SIZE)
    pass_seconds = time.perf_counter() - start
    accumulator = accumulators[pipeline.SLUG]
    start = time.perf_counter()
    figures = accumulator.checks.quality.metrics(accumulator.positive_counts)
    final_seconds = time.perf_counter() - start
    statistics_seconds = spent[0]  # before the evaluations below add to it
    in_pass = statistics_seconds + final_seconds

    start = time.perf_counter()
    evaluate_dictionary(loaded, source, windows, batch_size=pipeline.BATCH_SIZE, with_loss=False)
    without_loss = time.perf_counter() - start
    start = time.perf_counter()
    evaluation = evaluate_dictionary(loaded, source, windows, batch_size=pipeline.BATCH_SIZE, with_loss=True)
    with_loss = time.perf_counter() - start
    metrics = evaluation.metrics()

    print(f"{len(windows)} windows x {len(windows[0])} tokens = {tokens:,} tokens on {args.device}")
    print(f"floor (forward to the hook):       {floor:7.2f} s")
    print(f"activation pass (dashboards):      {pass_seconds:7.2f} s")
    print(
        f"  of which quality statistics:     {statistics_seconds:7.2f} s, final figures {final_seconds * 1000:.1f} ms: "
        f"{in_pass / (pass_seconds - in_pass):.1%} over the pass without them"
    )
    print(f"evaluation without the loss:       {without_loss:7.2f} s ({without_loss / floor:.2f}x the floor)")
    print(
        f"evaluation with the spliced loss:  {with_loss:7.2f} s ({with_loss / floor:.2f}x the floor; "
        f"{with_loss - without_loss:.2f} s for the three full forwards)"
    )
    print(
        f"figures: L0 {figures['l0']:.1f}, explained variance (pass, first windows) "
        f"{figures.get('explained_variance', float('nan')):.4f}, (evaluation) {metrics['explained_variance']:.4f}, "
        f"delta loss {metrics['delta_loss']:.4f}"
    )
    print(
        json.dumps(
            {
                "windows": len(windows),
                "tokens": tokens,
                "device": args.device,
                "floor_s": floor,
                "pass_s": pass_seconds,
                "quality_in_pass_s": in_pass,
                "quality_share": in_pass / (pass_seconds - in_pass),
                "evaluation_without_loss_s": without_loss,
                "evaluation_with_loss_s": with_loss,
            }
        )
    )


if __name__ == "__main__":
    main()
