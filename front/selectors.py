"""Reads for the pages that show several domains at once: the home page's recent activity, a source's
feature index with each feature's best explanation, and everything a feature page shows besides its dashboard
(the dashboard's own reads are features.selectors.feature_examples)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    QuerySet,
    prefetch_related_objects,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from explanations.models import Comment, Explanation, ExplanationRevision, FeatureLock
from explanations.querysets import visible_explanation
from explanations.selectors import with_best_explanation
from features.models import Feature, PipelineRun, Source
from scoring.models import ExplanationScore

SOURCE_SORTS = {
    "index": ["index"],
    "max_activation": ["max_activation", "index"],
    "-max_activation": ["-max_activation", "index"],
    "density": ["density", "index"],
    "-density": ["-density", "index"],
}
DEFAULT_SOURCE_SORT = "index"

RECENT_RUN_WINDOW = timedelta(hours=1)


def _waiting_scoring_runs() -> QuerySet[PipelineRun]:
    """Scoring runs of the outer explanation that have not finished (a new text waits for its scores)."""
    return PipelineRun.objects.annotate(explanation_id=Cast(KT("params__explanation"), IntegerField())).filter(
        kind=PipelineRun.Kind.SCORING,
        status__in=[PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING],
        explanation_id=OuterRef("pk"),
    )


def recently_active_features(*, limit: int = 12) -> list[Feature]:
    """Features whose explanations were revised or that were commented on most recently, filled up with
    the strongest features of the latest activation run while there are fewer than `limit`."""
    revised = (
        ExplanationRevision.objects.filter(visible_explanation("explanation"))
        .values("explanation__feature_id")
        .annotate(last=Max("created_at"))
        .order_by("-last")[:limit]
    )
    commented = (
        Comment.objects.visible().values("feature_id").annotate(last=Max("created_at")).order_by("-last")[:limit]
    )
    activity = [(row["explanation__feature_id"], row["last"]) for row in revised]
    activity += [(row["feature_id"], row["last"]) for row in commented]
    last_activity: dict[int, datetime] = {}
    for feature_id, last in activity:
        last_activity[feature_id] = max(last, last_activity.get(feature_id, last))
    active_ids = sorted(last_activity, key=last_activity.__getitem__, reverse=True)[:limit]

    with_source = Feature.objects.select_related("source__model")
    active = with_source.in_bulk(active_ids)
    features = [active[pk] for pk in active_ids if pk in active]
    if len(features) >= limit:
        return features
    latest_update = Feature.objects.aggregate(latest=Max("updated_at"))["latest"]
    if latest_update:
        # A run writes all its features within minutes, so this window holds the latest run's features.
        computed = (
            with_source.filter(max_activation__gt=0, updated_at__gte=latest_update - RECENT_RUN_WINDOW)
            .exclude(pk__in=active_ids)
            .order_by("-max_activation", "pk")[: limit - len(features)]
        )
        features.extend(computed)
    return features


def source_feature_index(source: Source, *, sort: str) -> QuerySet[Feature]:
    """The source's features in the given order, each annotated with its best explanation's text and score."""
    return with_best_explanation(source.features.all()).order_by(*SOURCE_SORTS[sort])


def feature_for_page(model_slug: str, source_slug: str, index: int) -> Feature | None:
    """The feature with what its page shows besides the dashboard: visible explanations with each scorer's
    latest score, and comments. The dashboard's examples are read by `feature_examples`, when the rendered
    dashboard is not cached (features/dashboard_html.py).

    One query answers, besides the feature, whether its neighbours exist (`previous_index`, `next_index`),
    whether it is locked (`is_locked`) and whether it has explanations and comments at all: most features have
    none, and then their queries are left out."""
    siblings = Feature.objects.filter(source=OuterRef("source"))
    feature = (
        Feature.objects.select_related("source__model")
        .annotate(
            has_previous=Exists(siblings.filter(index=OuterRef("index") - 1)),
            has_next=Exists(siblings.filter(index=OuterRef("index") + 1)),
            has_explanations=Exists(Explanation.objects.visible().filter(feature=OuterRef("pk"))),
            has_comments=Exists(Comment.objects.filter(feature=OuterRef("pk"))),
            is_locked=Exists(FeatureLock.objects.filter(feature=OuterRef("pk"))),
        )
        .filter(source__model__slug=model_slug, source__slug=source_slug, index=index)
        .order_by()
        .first()
    )
    if feature is None:
        return None
    feature.previous_index = feature.index - 1 if feature.has_previous else None
    feature.next_index = feature.index + 1 if feature.has_next else None
    lookups = []
    if not feature.has_explanations:
        feature.visible_explanations = []
    else:
        latest_score_per_scorer = ExplanationScore.objects.latest_per_scorer()
        lookups.append(
            Prefetch(
                "explanations",
                queryset=Explanation.objects.visible()
                .with_earlier_vote_count()
                .annotate(being_scored=Exists(_waiting_scoring_runs()))
                .select_related("current_revision__author", "author")
                .prefetch_related(Prefetch("scores", queryset=latest_score_per_scorer, to_attr="latest_scores"))
                .best_first(),
                to_attr="visible_explanations",
            )
        )
    if not feature.has_comments:
        feature.all_comments = []
    else:
        lookups.append(
            Prefetch(
                "comments",
                queryset=Comment.objects.select_related("author", "explanation__current_revision").order_by(
                    "created_at", "pk"
                ),
                to_attr="all_comments",
            )
        )
    prefetch_related_objects([feature], *lookups)
    return feature


def best_explanations_of(features: list[Feature]) -> None:
    """Set `best_explanation` (the text, or "") on each feature: one query, however many features."""
    texts = dict(
        with_best_explanation(Feature.objects.filter(pk__in=[feature.pk for feature in features])).values_list(
            "pk", "best_explanation"
        )
    )
    for feature in features:
        feature.best_explanation = texts.get(feature.pk) or ""


def best_explained_features(*, limit: int = 8) -> list[Explanation]:
    """The highest-scoring explanations, one per feature, with their features (the home page's showcase)."""
    best = (
        Explanation.objects.visible()
        .filter(best_score__isnull=False)
        .select_related("feature__source__model", "current_revision")
        .order_by("-best_score", "pk")[: limit * 4]
    )
    chosen, seen = [], set()
    for explanation in best:
        if explanation.feature_id not in seen:
            seen.add(explanation.feature_id)
            chosen.append(explanation)
    return chosen[:limit]


def most_discussed_features(*, limit: int = 8) -> list[Feature]:
    """Features with the most visible comments, each with its best explanation's text."""
    features = list(
        Feature.objects.filter(comments__deleted=False, comments__hidden=False)
        .annotate(comment_count=Count("comments"))
        .select_related("source__model")
        .order_by("-comment_count", "pk")[:limit]
    )
    best_explanations_of(features)
    return features


@dataclass(frozen=True)
class SimilarFeature:
    index: int
    similarity: float
    explanation: str | None  # its best visible explanation, None without one
    score: float | None


def similar_features(feature: Feature) -> list[SimilarFeature]:
    """The features the activation run found closest to `feature` (by the cosine of their directions), in its
    order, each with its best explanation. One query."""
    entries = [entry for entry in feature.similar or [] if isinstance(entry, dict) and "index" in entry]
    rows = with_best_explanation(
        Feature.objects.filter(source_id=feature.source_id, index__in=[e["index"] for e in entries])
    )
    explained = {row[0]: row[1:] for row in rows.values_list("index", "best_explanation", "best_explanation_score")}
    return [
        SimilarFeature(
            entry["index"], float(entry.get("similarity", 0.0)), *explained.get(entry["index"], (None, None))
        )
        for entry in entries
        if entry["index"] in explained  # a feature that no longer exists is not linked
    ]
