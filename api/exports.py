"""Whole-source exports as row generators, in constant memory whatever the size of the source.

Features are read in keyset batches of FEATURE_BATCH by index (the (source, index) unique index), their
examples one batch of features at a time, and context windows through a bounded cache (windows are shared
by many examples, so their tokens are read and encoded once, not once per example). Nothing here holds
more than one batch.

Shapes:
- our JSONL/CSV rows (feature_rows, example_rows, explanation_rows);
- OpenAI automated-interpretability's NeuronRecord (neuron_records: most_positive_activation_records,
  random_sample_by_quantile, ... of ActivationRecords {tokens, activations}) and its explanations
  (openai_explanations: {"neuron_id", "scored_explanations": [{"explanation", "score", ...}]});
- Neuronpedia's dataset rows, in api/neuronpedia/format.py, built from the same iterators.

Encoding is orjson's: activation values are float32 and are written in float32's shortest form, which
reads back to the very same float32.
"""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson
from django.db import connection
from django.db.models import OuterRef, Subquery

from explanations.models import Explanation
from features.models import ActivationExample, ContextWindow, Source
from scoring.models import ExplanationScore

FEATURE_BATCH = 500
WINDOW_CACHE_SIZE = 20_000
JSON_NUMPY = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z


@dataclass(slots=True)
class Example:
    feature_id: int
    kind: str
    rank: int
    interval_index: int | None
    values: np.ndarray  # float32
    max_value: float
    max_token_index: int
    bin_min: float | None
    bin_max: float | None
    bin_contains: float | None
    window_id: int


class WindowCache:
    """Each window's tokens, as a list and as encoded JSON, for the last WINDOW_CACHE_SIZE windows loaded."""

    def __init__(self, size: int = WINDOW_CACHE_SIZE) -> None:
        self.size = size
        self.entries: dict[int, tuple[list[str], bytes]] = {}

    def load(self, window_ids: Iterable[int]) -> None:
        missing = {window_id for window_id in window_ids if window_id not in self.entries}
        if missing:
            for pk, tokens in ContextWindow.objects.filter(pk__in=missing).values_list("pk", "tokens"):
                self.entries[pk] = (tokens, orjson.dumps(tokens))
        while len(self.entries) > self.size:  # dicts keep insertion order: the oldest go first
            del self.entries[next(iter(self.entries))]

    def tokens(self, window_id: int) -> list[str]:
        return self.entries[window_id][0]

    def tokens_json(self, window_id: int) -> bytes:
        return self.entries[window_id][1]


FEATURE_FIELDS = ["id", "index", "max_activation", "density", "histogram", "top_logits", "bottom_logits", "similar"]


def feature_batches(source: Source, fields: list[str] = FEATURE_FIELDS) -> Iterator[list[dict]]:
    """The source's features in index order, FEATURE_BATCH at a time (keyset pagination on the index)."""
    last = -1
    while True:
        batch = list(source.features.filter(index__gt=last).order_by("index").values(*fields)[:FEATURE_BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1]["index"]


def fetch_rows(queryset) -> list[tuple]:
    """A values_list queryset's rows. On PostgreSQL, in binary (bytea arrives as bytes, not as hex text to
    decode, and no per-row conversion): about three times as fast for activation examples. Only for
    columns that need no Django converter (numbers, text, bytes)."""
    if connection.vendor != "postgresql":
        return list(queryset)
    import psycopg

    sql, params = queryset.query.sql_with_params()
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def _examples_of(feature_ids: list[int]) -> dict[int, list[Example]]:
    """The examples of a batch of features: top examples by rank, then interval samples by interval and rank."""
    grouped: dict[int, list[Example]] = {feature_id: [] for feature_id in feature_ids}
    rows = (
        ActivationExample.objects.filter(feature_id__in=feature_ids)
        .order_by("feature_id", "kind", "interval_index", "rank")
        .values_list(
            "feature_id",
            "kind",
            "rank",
            "interval_index",
            "values",
            "max_value",
            "max_token_index",
            "bin_min",
            "bin_max",
            "bin_contains",
            "window_id",
        )  # fmt: skip
    )
    # One batch of features' examples at a time (FEATURE_BATCH x ~20 rows): fetched whole, which is much faster
    # than a server-side cursor's round trips, and still bounded. Rows come by feature, kind, interval and rank:
    # top examples go first, then the interval samples, each already in order.
    intervals: dict[int, list[Example]] = {feature_id: [] for feature_id in feature_ids}
    top_kind = ActivationExample.Kind.TOP
    for row in fetch_rows(rows):
        example = Example(row[0], row[1], row[2], row[3], np.frombuffer(row[4], "<f4"), *row[5:])
        (grouped if row[1] == top_kind else intervals)[row[0]].append(example)
    for feature_id, samples in intervals.items():
        grouped[feature_id].extend(samples)
    return grouped


def feature_examples(source: Source, windows: WindowCache) -> Iterator[tuple[dict, list[Example]]]:
    """Every feature of the source (index order) with its examples; their windows are in `windows`."""
    for batch in feature_batches(source, ["id", "index", "max_activation"]):
        grouped = _examples_of([feature["id"] for feature in batch])
        windows.load(example.window_id for examples in grouped.values() for example in examples)
        for feature in batch:
            yield feature, grouped[feature["id"]]


# --- Our rows --------------------------------------------------------------------------------------

FEATURE_COLUMNS = ["model", "source", "index", "max_activation", "density", "histogram", "top_logits", "bottom_logits",
                   "similar"]  # fmt: skip
EXAMPLE_COLUMNS = ["model", "source", "index", "kind", "rank", "interval_index", "bin_min", "bin_max", "bin_contains",
                   "max_value", "max_token_index", "tokens", "values"]  # fmt: skip
EXPLANATION_COLUMNS = ["id", "model", "source", "index", "text", "rule", "author", "method", "explainer_model",
                       "vote_score", "best_score", "scores", "created_at", "updated_at"]  # fmt: skip


def feature_rows(source: Source) -> Iterator[dict]:
    model = source.model.slug
    for batch in feature_batches(source):
        for feature in batch:
            yield {
                "model": model,
                "source": source.slug,
                "index": feature["index"],
                "max_activation": feature["max_activation"],
                "density": feature["density"],
                "histogram": feature["histogram"],
                "top_logits": feature["top_logits"],
                "bottom_logits": feature["bottom_logits"],
                "similar": feature["similar"],
            }


def example_rows(source: Source) -> Iterator[dict]:
    """One row per activation example. `tokens` and `values` are pre-encoded JSON (orjson.Fragment)."""
    model = source.model.slug
    windows = WindowCache()
    for feature, examples in feature_examples(source, windows):
        for example in examples:
            yield {
                "model": model,
                "source": source.slug,
                "index": feature["index"],
                "kind": example.kind,
                "rank": example.rank,
                "interval_index": example.interval_index,
                "bin_min": example.bin_min,
                "bin_max": example.bin_max,
                "bin_contains": example.bin_contains,
                "max_value": example.max_value,
                "max_token_index": example.max_token_index,
                "tokens": orjson.Fragment(windows.tokens_json(example.window_id)),
                "values": example.values,
            }


def example_lines(source: Source) -> Iterator[bytes]:
    """activations.jsonl, encoded directly: the same bytes as jsonl(example_rows(source)), a good deal faster
    (the tokens of each window are encoded once, and each row's small fields in one orjson call)."""
    prefix = orjson.dumps({"model": source.model.slug, "source": source.slug})[:-1] + b","
    windows = WindowCache()
    buffer: list[bytes] = []
    for feature, examples in feature_examples(source, windows):
        index = feature["index"]
        for example in examples:
            head = orjson.dumps(
                {
                    "index": index,
                    "kind": example.kind,
                    "rank": example.rank,
                    "interval_index": example.interval_index,
                    "bin_min": example.bin_min,
                    "bin_max": example.bin_max,
                    "bin_contains": example.bin_contains,
                    "max_value": example.max_value,
                    "max_token_index": example.max_token_index,
                }
            )
            buffer.append(
                b"".join(
                    (
                        prefix,
                        head[1:-1],
                        b',"tokens":',
                        windows.tokens_json(example.window_id),
                        b',"values":',
                        orjson.dumps(example.values, option=JSON_NUMPY),
                        b"}\n",
                    )
                )
            )
        if len(buffer) >= 512:
            yield b"".join(buffer)
            buffer = []
    if buffer:
        yield b"".join(buffer)


def _latest_scores(explanation_ids: list[int]) -> dict[int, dict[str, float]]:
    latest = ExplanationScore.objects.filter(
        pk=Subquery(
            ExplanationScore.objects.filter(explanation=OuterRef("explanation"), scorer=OuterRef("scorer"))
            .order_by("-created_at", "-pk")
            .values("pk")[:1]
        ),
        explanation_id__in=explanation_ids,
    ).order_by("explanation_id", "scorer")
    scores: dict[int, dict[str, float]] = {}
    for explanation_id, scorer, value in latest.values_list("explanation_id", "scorer", "value"):
        scores.setdefault(explanation_id, {})[scorer] = value
    return scores


EXPLANATION_FIELDS = [
    "id", "feature__index", "current_revision__text", "current_revision__rule", "author__username", "method",
    "explainer_model", "vote_score", "best_score", "created_at", "updated_at",
]  # fmt: skip


def explanation_batches(source: Source) -> Iterator[list[dict]]:
    """The source's visible explanations (not hidden, with a text), in id order, FEATURE_BATCH at a time, each
    with its latest scores."""
    explanations = Explanation.objects.visible().filter(feature__source=source)
    last = 0
    while True:
        batch = list(explanations.filter(pk__gt=last).order_by("pk").values(*EXPLANATION_FIELDS)[:FEATURE_BATCH])
        if not batch:
            return
        scores = _latest_scores([row["id"] for row in batch])
        for row in batch:
            row["scores"] = scores.get(row["id"], {})
        yield batch
        last = batch[-1]["id"]


def explanation_rows(source: Source) -> Iterator[dict]:
    model = source.model.slug
    for batch in explanation_batches(source):
        for row in batch:
            rule = row["current_revision__rule"]
            yield {
                "id": row["id"],
                "model": model,
                "source": source.slug,
                "index": row["feature__index"],
                "text": row["current_revision__text"],
                "rule": rule.get("source") if isinstance(rule, dict) else None,
                "author": row["author__username"],
                "method": row["method"],
                "explainer_model": row["explainer_model"],
                "vote_score": row["vote_score"],
                "best_score": row["best_score"],
                "scores": row["scores"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }


# --- OpenAI automated-interpretability shapes --------------------------------------------------------


def _activation_record(example: Example, windows: WindowCache) -> dict:
    return {"tokens": orjson.Fragment(windows.tokens_json(example.window_id)), "activations": example.values}


def neuron_records(source: Source) -> Iterator[dict]:
    """One NeuronRecord per feature (neuron_explainer.activations.activations): the top examples as
    most_positive_activation_records, the interval samples (lowest interval first) as
    random_sample_by_quantile with their lower bounds as quantile_boundaries. Our interval samples are drawn
    across [0, max], not uniformly at random, so random_sample is empty; score_explanations mines hard
    negatives from the interval samples. max_activation is the feature's maximum over the whole corpus."""
    windows = WindowCache()
    for feature, examples in feature_examples(source, windows):
        top = [_activation_record(e, windows) for e in examples if e.kind == ActivationExample.Kind.TOP]
        quantiles: list[list[dict]] = []
        boundaries: list[float] = []
        current = None
        for example in examples:
            if example.kind != ActivationExample.Kind.INTERVAL:
                continue
            if example.interval_index != current:
                current = example.interval_index
                quantiles.append([])
                boundaries.append(example.bin_min if example.bin_min is not None else 0.0)
            quantiles[-1].append(_activation_record(example, windows))
        yield {
            "neuron_id": {"layer_index": source.layer, "neuron_index": feature["index"]},
            "model": source.model.slug,
            "source": source.slug,
            "max_activation": feature["max_activation"],
            "most_positive_activation_records": top,
            "random_sample": [],
            "random_sample_by_quantile": quantiles or None,
            "quantile_boundaries": boundaries or None,
            "mean": None,
            "stddev": None,
            "skewness": None,
            "kurtosis": None,
        }


def openai_explanations(source: Source) -> Iterator[dict]:
    """Per feature with explanations, neuron_explainer's NeuronExplanation shape: {"neuron_id",
    "scored_explanations": [{"explanation", "score", ...}]}. `score` is the simulation scorer's correlation
    (OpenAI's ev_correlation_score) when there is one, else null; `scores` has every scorer's latest value."""
    pending: list[dict] = []
    pending_index = None
    for batch in explanation_batches(source):
        batch.sort(key=lambda row: (row["feature__index"], row["id"]))
        for row in batch:
            if pending and row["feature__index"] != pending_index:
                yield _neuron_explanation(source, pending_index, pending)
                pending = []
            pending_index = row["feature__index"]
            pending.append(row)
    if pending:
        yield _neuron_explanation(source, pending_index, pending)


def _neuron_explanation(source: Source, index: int, rows: list[dict]) -> dict:
    return {
        "neuron_id": {"layer_index": source.layer, "neuron_index": index},
        "model": source.model.slug,
        "source": source.slug,
        "scored_explanations": [
            {
                "explanation": row["current_revision__text"],
                "score": row["scores"].get("simulation"),
                "scored_simulation": {"ev_correlation_score": row["scores"].get("simulation")},
                "scores": row["scores"],
                "author": row["author__username"],
                "method": row["method"],
                "explainer_model": row["explainer_model"],
            }
            for row in rows
        ],
    }


# --- Encoders ---------------------------------------------------------------------------------------


def jsonl(rows: Iterable[dict]) -> Iterator[bytes]:
    """JSON Lines, a few hundred rows per chunk so that the response is not written a line at a time."""
    buffer: list[bytes] = []
    for row in rows:
        buffer.append(orjson.dumps(row, option=JSON_NUMPY | orjson.OPT_APPEND_NEWLINE))
        if len(buffer) >= 256:
            yield b"".join(buffer)
            buffer = []
    if buffer:
        yield b"".join(buffer)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return orjson.dumps(value, option=JSON_NUMPY).decode()


def csv_lines(rows: Iterable[dict], columns: list[str]) -> Iterator[bytes]:
    """CSV with a header row; lists and objects (tokens, values, logits, scores) as JSON in their cell."""
    writer = csv.writer(_Echo())
    yield writer.writerow(columns).encode()
    buffer: list[str] = []
    for row in rows:
        buffer.append(writer.writerow([_csv_cell(row[column]) for column in columns]))
        if len(buffer) >= 256:
            yield "".join(buffer).encode()
            buffer = []
    if buffer:
        yield "".join(buffer).encode()


EXPORTS = {
    # name: (row generator, CSV columns or None for JSONL only)
    "features": (feature_rows, FEATURE_COLUMNS),
    "activations": (example_rows, EXAMPLE_COLUMNS),
    "explanations": (explanation_rows, EXPLANATION_COLUMNS),
    "neuron-records": (neuron_records, None),
    "openai-explanations": (openai_explanations, None),
}
