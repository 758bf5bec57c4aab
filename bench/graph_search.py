"""Benchmark graph search (circuits/services/graph_search.py) over 10,000 graphs: p50/p95 of graph_search() for
a few queries, on PostgreSQL (the trigram index) or SQLite (a scan of the search texts).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/graph_search.py
    python bench/graph_search.py --sqlite /tmp/bench-graph-search.sqlite3
    ... --graphs 1000            # fewer graphs

It creates (drops first) a database `bench_graph_search` on the server in DATABASE_URL, or a fresh SQLite file,
migrates it, and loads one model with N graphs. Each graph has a title, a description, a 12-word prompt and
40 labelled nodes and 4 supernodes, words drawn from a Zipf-distributed vocabulary of 20,000 words (MiniLM's
whole words), and a `data` of about 150 KB, as a graph pruned to a few hundred nodes has: search must not read it.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")

from search import load_average, percentile, vocabulary  # noqa: E402  (bench/search.py)

BENCH_DATABASE = "bench_graph_search"
# After the most common word that is searched (not a stop word; found at run time): a word in a few graphs, a
# phrase in one graph in 50, an alternative with an exclusion, a word in no graph.
QUERIES = ["capital", '"capital city"', "river or lake -sea", "zzzzqx"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sqlite", metavar="PATH", help="benchmark SQLite in this file instead")
    parser.add_argument("--reuse", action="store_true", help="query the SQLite file a previous run loaded")
    return parser.parse_args()


def load(count: int) -> None:
    from circuits.core.graph_search import graph_search_text
    from circuits.models import Graph, GraphSearchText
    from features.models import LanguageModel

    words = vocabulary()
    weights = [1 / (rank + 1) for rank in range(len(words))]
    rng = random.Random(0)

    def phrase(n: int) -> str:
        return " ".join(rng.choices(words, weights, k=n))

    model = LanguageModel.objects.create(
        slug="bench", display_name="Bench", path="/tmp/bench", architecture="gpt2", n_layers=12, d_model=768,
        d_mlp=3072, vocab_size=50257,
    )  # fmt: skip
    filler = {"nodes": [{"node_id": f"{i}_{i}_0", "clerp": "", "pad": "x" * 400} for i in range(350)], "links": []}
    for start in range(0, count, 500):
        graphs, texts = [], []
        for number in range(start, min(count, start + 500)):
            title, description, prompt = phrase(5), phrase(20), phrase(12)
            if number % 50 == 0:
                title += " capital city"
            labels, supernodes = [phrase(3) for _ in range(40)], [phrase(2) for _ in range(4)]
            graphs.append(
                Graph(model=model, slug=f"g{number}", title=title, description=description, prompt=prompt, data=filler)
            )
            texts.append(
                graph_search_text(
                    title=title,
                    description=description,
                    prompt=prompt,
                    target="",
                    labels=labels,
                    supernode_names=supernodes,
                )  # fmt: skip
            )
        created = Graph.objects.bulk_create(graphs)
        GraphSearchText.objects.bulk_create(
            GraphSearchText(graph_id=graph.pk, text=text) for graph, text in zip(created, texts, strict=True)
        )


def main() -> None:
    args = parse_args()
    if args.sqlite:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = args.sqlite
        for suffix in ("", "-wal", "-shm") if not args.reuse else ():
            Path(args.sqlite + suffix).unlink(missing_ok=True)
    else:
        server_url = os.environ.get("DATABASE_URL", "")
        if not server_url.startswith(("postgres://", "postgresql://")):
            sys.exit("Set DATABASE_URL to a PostgreSQL server, or pass --sqlite PATH")
        import psycopg

        with psycopg.connect(server_url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        os.environ["DATABASE_URL"] = urlunsplit(urlsplit(server_url)._replace(path=f"/{BENCH_DATABASE}"))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from circuits.services.graph_search import graph_search

    started = time.perf_counter()
    if not args.reuse:
        call_command("migrate", verbosity=0)
        load(args.graphs)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE circuits_graphsearchtext")
            cursor.execute("VACUUM ANALYZE circuits_graph")
    from circuits.models import Graph

    loaded = "reused" if args.reuse else f"loaded in {time.perf_counter() - started:.0f} s"
    print(f"{connection.vendor}: {Graph.objects.count():,} graphs ({loaded}); {os.cpu_count()} CPUs, "
          f"load average {load_average()}")  # fmt: skip
    print(f"{'query':24} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8}")
    from explanations.core.websearch import STOP_WORDS

    common = next(word for word in vocabulary() if word not in STOP_WORDS)
    for query in [common, *QUERIES]:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            results = graph_search(query=query, limit=20)
            times.append((time.perf_counter() - started) * 1000)
        print(f"{query:24} {results.total:>8,} {percentile(times, 0.5):>8.1f} {percentile(times, 0.95):>8.1f}")
    print(f"Load average after: {load_average()}")


if __name__ == "__main__":
    main()
