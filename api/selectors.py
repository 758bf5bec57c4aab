"""Reads the API shares: querysets that prefetch what the serializers show, so each endpoint costs a
fixed number of queries however many rows it returns."""

import threading
from collections import OrderedDict
from datetime import UTC

import numpy as np
import orjson
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from circuits.models import Graph
from explanations.models import Comment, Explanation, FeatureList
from features.models import ActivationExample, ContextWindow, Feature, PipelineRun, Source
from neuronpedia.db import PreparedQuery
from scoring.models import ExplanationScore

MAX_INDEX = 2**31 - 1
MAX_ID = 2**63 - 1


def latest_scores_prefetch() -> Prefetch:
    """Each scorer's latest score of an explanation, as `latest_scores`."""
    return Prefetch("scores", queryset=ExplanationScore.objects.latest_per_scorer(), to_attr="latest_scores")


def _explanations_seen(staff: bool) -> QuerySet[Explanation]:
    # Staff see every explanation, hidden ones too (to moderate them); everyone else what readers see.
    return Explanation.objects.all() if staff else Explanation.objects.visible()


def visible_explanations(user) -> QuerySet[Explanation]:
    return _explanations_seen(bool(user and user.is_staff))


def explanations_for_api(user) -> QuerySet[Explanation]:
    return (
        visible_explanations(user)
        .select_related("feature__source__model", "current_revision", "author")
        .prefetch_related(latest_scores_prefetch())
    )


def features_for_list() -> QuerySet[Feature]:
    return Feature.objects.select_related("source__model").only(
        "id", "index", "max_activation", "density", "source__slug", "source__model__slug"
    )


def feature_by_address(queryset: QuerySet[Feature], model_slug: str, source_slug: str, index: int) -> Feature | None:
    if not 0 <= index <= MAX_INDEX:
        return None
    return queryset.filter(source__model__slug=model_slug, source__slug=source_slug, index=index).first()


def sources_for_api() -> QuerySet[Source]:
    """With the run whose dashboards each source shows, for its warnings (its manifest stays in the database)."""
    return Source.objects.select_related("model", "dashboards_run").defer("dashboards_run__manifest")


def source_by_address(model_slug: str, source_slug: str) -> Source | None:
    return sources_for_api().filter(model__slug=model_slug, slug=source_slug).first()


def examples_for_api() -> QuerySet[ActivationExample]:
    return ActivationExample.objects.select_related("window")


def comments_for_api() -> QuerySet[Comment]:
    return Comment.objects.select_related("author")


def lists_visible_to(user) -> QuerySet[FeatureList]:
    condition = Q(is_public=True)
    if user and user.is_authenticated:
        condition |= Q(owner=user)
    return FeatureList.objects.filter(condition).select_related("owner").annotate(item_count=Count("items"))


def runs_for_api() -> QuerySet[PipelineRun]:
    return PipelineRun.objects.select_related("model", "created_by")


def runs_for_api_detail() -> QuerySet[PipelineRun]:
    """With the graph an attribution run stored (RunDetailOut's `graph`), without its nodes and links."""
    graphs = Graph.objects.select_related("model").defer("data", "params")
    return runs_for_api().prefetch_related(Prefetch("graphs", queryset=graphs))


def by_id(queryset: QuerySet, pk: int):
    """The row with this id, or None (an id beyond the database's range is simply not there)."""
    if not 0 < pk <= MAX_ID:
        return None
    return queryset.filter(pk=pk).first()


# --- The feature endpoint's hot path ---------------------------------------------------------------
# The most requested endpoint skips model instances and serializer fields: its two queries are compiled by the
# ORM once per process (per database vendor and variant) and run with new parameters, and the rows become plain
# dicts in the shape serializers.FeatureDetailOut documents. Explanations cost two more queries, only for a
# feature that has some.

EXAMPLE_COLUMNS = [
    "id", "kind", "rank", "interval_index", "bin_min", "bin_max", "bin_contains", "max_value", "max_token_index",
    "window_id", "values",
]  # fmt: skip
WINDOW_CACHE_SIZE = 50_000


class WindowTokens:
    """The tokens of context windows, by id, for the last WINDOW_CACHE_SIZE windows this process loaded.
    Safe because a window never changes once stored (the pipeline and imports only create windows, and ids are
    never reused): many features show the same windows, so most requests find them here. A database restored
    under a running server needs the server restarted (as for any process-level cache)."""

    def __init__(self, size: int = WINDOW_CACHE_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[int, list[str]] = OrderedDict()
        self.lock = threading.Lock()

    def get_many(self, window_ids: list[int]) -> dict[int, list[str]]:
        with self.lock:
            found = {pk: self.entries[pk] for pk in window_ids if pk in self.entries}
        missing = [pk for pk in window_ids if pk not in found]
        if missing:
            loaded = dict(ContextWindow.objects.filter(pk__in=missing).values_list("pk", "tokens"))
            with self.lock:
                self.entries.update(loaded)
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
            found.update(loaded)
        return found


window_tokens = WindowTokens()
FEATURE_COLUMNS = [
    "id", "index", "max_activation", "density", "updated_at", "histogram", "top_logits", "bottom_logits", "similar",
    "source__slug", "source__model__slug", "source__set_name", "source__hook_name",
]  # fmt: skip


def _features_with_flag(staff: bool) -> QuerySet[Feature]:
    explanations = _explanations_seen(staff).filter(feature=OuterRef("pk"))
    return Feature.objects.annotate(has_explanations=Exists(explanations))


# Two small queries, the feature (one row, with its source's slugs and whether it has explanations) and its
# examples in the order of the (feature, kind, interval_index, rank) index, cost PostgreSQL about half the CPU of
# one LEFT JOIN: that repeats the feature's JSON columns and re-evaluates the EXISTS on each of the 20 rows, and
# sorts them.
_FEATURE_BY_ID = {
    staff: PreparedQuery(
        lambda pk, staff=staff: (
            _features_with_flag(staff).filter(pk=pk).order_by().values_list(*FEATURE_COLUMNS, "has_explanations")
        ),
        pk=987_654_321_987,
    )
    for staff in (False, True)
}
_FEATURE_BY_ADDRESS = {
    staff: PreparedQuery(
        lambda model, source, index, staff=staff: (
            _features_with_flag(staff)
            .filter(source__model__slug=model, source__slug=source, index=index)
            .order_by()
            .values_list(*FEATURE_COLUMNS, "has_explanations")
        ),
        model="\x01model-sentinel",
        source="\x01source-sentinel",
        index=987_654_321,
    )
    for staff in (False, True)
}
_EXAMPLES_OF = PreparedQuery(
    lambda feature_id: (
        ActivationExample.objects.filter(feature_id=feature_id)
        .order_by("kind", "interval_index", "rank")
        .values_list(*EXAMPLE_COLUMNS)
    ),
    binary=True,
    feature_id=987_654_321_987,
)


def _json(value):
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _datetime(value):
    """A raw row's datetime, aware: SQLite gives naive UTC datetimes (or text), PostgreSQL aware ones."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def _explanations_of(feature_id: int, user) -> list[dict]:
    rows = list(
        visible_explanations(user)
        .filter(feature_id=feature_id)
        .best_first()
        .values(
            "id",
            "current_revision__text",
            "current_revision__rule",
            "author__username",
            "method",
            "explainer_model",
            "vote_score",
            "best_score",
            "current_revision_id",
            "created_at",
            "updated_at",
        )  # fmt: skip
    )
    scores: dict[int, list[dict]] = {}
    latest = ExplanationScore.objects.filter(
        pk=Subquery(
            ExplanationScore.objects.filter(explanation=OuterRef("explanation"), scorer=OuterRef("scorer"))
            .order_by("-created_at", "-pk")
            .values("pk")[:1]
        ),
        explanation_id__in=[row["id"] for row in rows],
    ).order_by("scorer")
    for explanation_id, scorer, value, created_at in latest.values_list(
        "explanation_id", "scorer", "value", "created_at"
    ):
        scores.setdefault(explanation_id, []).append({"scorer": scorer, "value": value, "created_at": created_at})
    for row in rows:
        row["scores"] = scores.get(row["id"], [])
    return rows


def feature_dashboard(
    user, *, pk: int | None = None, address: tuple[str, str, int] | None = None, source_details: bool = False
) -> dict | None:
    """A feature with its whole dashboard as plain data (the shape of serializers.FeatureDetailOut), by id or by
    (model, source, index); None if there is none. Activation values are float32 arrays. With source_details,
    also the source's set_name and hook_name (for Neuronpedia's shape)."""
    staff = bool(user and user.is_staff)
    if pk is not None:
        if not 0 < pk <= MAX_ID:
            return None
        rows = _FEATURE_BY_ID[staff].rows(pk=pk)
    else:
        model_slug, source_slug, index = address
        if not 0 <= index <= MAX_INDEX:
            return None
        rows = _FEATURE_BY_ADDRESS[staff].rows(model=model_slug, source=source_slug, index=index)
    if not rows:
        return None
    (feature_id, index, max_activation, density, updated_at, histogram, top_logits, bottom_logits, similar,
     source_slug, model_slug, set_name, hook_name, has_explanations) = rows[0]  # fmt: skip
    examples = _EXAMPLES_OF.rows(feature_id=feature_id)
    top, intervals = [], []
    tokens_of = window_tokens.get_many([row[9] for row in examples])
    for (example_id, kind, rank, interval_index, bin_min, bin_max, bin_contains, max_value, max_token_index,
         window_id, values) in examples:  # fmt: skip
        example = {
            "id": example_id, "feature": feature_id, "kind": kind, "rank": rank, "interval_index": interval_index,
            "bin_min": bin_min, "bin_max": bin_max, "bin_contains": bin_contains, "max_value": max_value,
            "max_token_index": max_token_index, "window": window_id, "tokens": tokens_of[window_id],
            "values": np.frombuffer(bytes(values), dtype="<f4"),
        }  # fmt: skip
        (top if kind == ActivationExample.Kind.TOP else intervals).append(example)
    explanations = []
    if has_explanations:
        for explanation in _explanations_of(feature_id, user):
            rule = explanation["current_revision__rule"]
            explanations.append(
                {
                    "id": explanation["id"],
                    "feature": feature_id,
                    "model": model_slug,
                    "source": source_slug,
                    "index": index,
                    "text": explanation["current_revision__text"] or "",
                    "rule": (rule.get("source") or None) if isinstance(rule, dict) else None,
                    "author": explanation["author__username"],
                    "method": explanation["method"],
                    "explainer_model": explanation["explainer_model"],
                    "vote_score": explanation["vote_score"],
                    "best_score": explanation["best_score"],
                    "current_revision": explanation["current_revision_id"],
                    "scores": explanation["scores"],
                    "created_at": explanation["created_at"],
                    "updated_at": explanation["updated_at"],
                }  # fmt: skip
            )
    details = {"set_name": set_name, "hook_name": hook_name} if source_details else {}
    return {
        **details,
        "id": feature_id,
        "model": model_slug,
        "source": source_slug,
        "index": index,
        "max_activation": max_activation,
        "density": density,
        "page": reverse("front:feature", args=[model_slug, source_slug, index]),
        "updated_at": _datetime(updated_at),
        "histogram": _json(histogram),
        "top_logits": _json(top_logits),
        "bottom_logits": _json(bottom_logits),
        "similar": _json(similar),
        "top_examples": top,
        "interval_examples": intervals,
        "explanations": explanations,
    }
