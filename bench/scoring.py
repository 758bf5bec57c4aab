"""Benchmark the offline scorers: how many explanations a minute each scores, on 2 CPU cores.

The workload is realistic in shape: 50 synthetic features (the four planted rules of
scoring/core/synthetic.py over corpora generated with different seeds, windows of 64 tokens), each with
20 top examples, 20 random examples and 10 hard negatives, and 4 explanations per feature (context-aware,
context-blind, unrelated, and the token-stats explainer's own): 200 explanations. Each carries a
machine-checkable rule for the rule scorer. Every scorer scores every explanation; the offline judge
simulates, detects and fuzzes; the embedding scorer encodes with the local MiniLM (loaded once, timed
apart) and, as in the pipeline, encodes each window once however many explanations it is scored against.

    python bench/scoring.py                  # prints a table, then one JSON line
    python bench/scoring.py --features 10    # a quicker run
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from scoring.core.embedding import default_embedder  # noqa: E402
from scoring.core.formats import rule_from_spec  # noqa: E402
from scoring.core.judges import LiteralJudge  # noqa: E402
from scoring.core.scorers import get_scorer  # noqa: E402
from scoring.core.synthetic import PLANTED_RULES, RANDOM_EXPLANATION, generate_corpus, planted_example_set  # noqa: E402
from scoring.explainers import get_explainer  # noqa: E402

SCORERS = ("simulation", "detection", "fuzzing", "rule", "embedding")
TARGET_PER_MINUTE = 100


def workload(n_features: int) -> list[tuple]:
    """(explanation, examples, rule) for 4 explanations of each of `n_features` features."""
    explainer = get_explainer("token-stats")
    items = []
    for feature in range(n_features):
        rule = PLANTED_RULES[feature % len(PLANTED_RULES)]
        corpus = generate_corpus(rule, n_windows=600, window_len=64, seed=feature)
        examples = planted_example_set(corpus, n_top=20, n_random=20, n_hard=10, seed=feature)
        key = examples.key_tokens[0]
        generated = explainer.explain([*examples.top, *examples.random, *examples.hard_negatives])
        for text, rule_text in (
            (rule.context_explanation, generated.rule or f"*{key}*"),
            (rule.blind_explanation, f"*{key}*"),
            (RANDOM_EXPLANATION, "*[river|sea|rain]*"),
            (generated.text, generated.rule or f"*{key}*"),
        ):
            items.append((text, examples, rule_from_spec(rule_text)))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(2)
    transformers_logging.disable_progress_bar()

    started = time.perf_counter()
    items = workload(args.features)
    build_s = time.perf_counter() - started
    n_windows = sum(len(examples) for _, examples, _ in items) // 4
    print(
        f"{len(items)} explanations of {args.features} features; {n_windows} windows of 64 tokens "
        f"(built in {build_s:.1f} s); torch threads: {torch.get_num_threads()}"
    )

    started = time.perf_counter()
    embedder = default_embedder()
    embedder.embed(["warm up"])
    load_s = time.perf_counter() - started
    print(f"MiniLM loaded in {load_s:.1f} s (once per process, not counted below)")

    seconds, cpu_seconds = {}, {}
    for name in SCORERS:
        scorer = get_scorer(name)
        started, cpu_started = time.perf_counter(), time.process_time()
        for explanation, examples, rule in items:
            scorer.score(explanation, examples, judge=LiteralJudge(), rule=rule)
        seconds[name] = time.perf_counter() - started
        cpu_seconds[name] = time.process_time() - cpu_started

    per_minute = {name: round(len(items) / s * 60) for name, s in seconds.items()}
    total_s = sum(seconds.values())
    overall = round(len(items) / total_s * 60)
    print(f"\n{'scorer':<12}{'seconds':>9}{'explanations/min':>19}")
    for name in SCORERS:
        print(f"{name:<12}{seconds[name]:>9.2f}{per_minute[name]:>19,}")
    print(f"{'all five':<12}{total_s:>9.2f}{overall:>19,}   (every explanation scored by all five scorers)")
    # Wall-clock is the figure; CPU time shows the cost apart from whatever else shares the machine.
    cpu_overall = round(len(items) / (sum(cpu_seconds.values()) / 2) * 60)
    load = os.getloadavg()[0]
    print(
        f"CPU time: {sum(cpu_seconds.values()):.1f} s, i.e. {cpu_overall:,}/min on 2 fully available cores; "
        f"load average during the run: {load:.1f}"
    )
    verdict = "meets" if overall >= TARGET_PER_MINUTE else "MISSES"
    print(
        f"\n{overall:,} explanations/min with all five offline scorers: {verdict} the target of {TARGET_PER_MINUTE}/min"
    )
    if load > 2.5:
        print(
            f"(other work shared these 2 cores, load average {load:.1f}: the wall-clock figure undercounts; "
            f"by CPU time it is {cpu_overall:,}/min)"
        )
    print(
        json.dumps(
            {
                "benchmark": "scoring",
                "explanations": len(items),
                "features": args.features,
                "threads": torch.get_num_threads(),
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
                "per_minute": per_minute,
                "overall_per_minute": overall,
                "cpu_seconds": {k: round(v, 3) for k, v in cpu_seconds.items()},
                "overall_per_minute_by_cpu_time": cpu_overall,
                "load_average": round(load, 2),
                "minilm_load_s": round(load_s, 2),
                "target_per_minute": TARGET_PER_MINUTE,
            }
        )
    )


if __name__ == "__main__":
    main()
