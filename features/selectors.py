"""Reads for the wiki pages. Each function runs a fixed number of queries, however much data there is."""

from datetime import datetime, timedelta

from django.db.models import Count, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum

from explanations.models import Comment, Explanation, ExplanationRevision
from scoring.models import ExplanationScore

from .models import ActivationExample, Feature, LanguageModel, PipelineRun, Source

# The order in which a feature's explanations are listed, stated as such on the feature page.
EXPLANATION_ORDER = [F("best_score").desc(nulls_last=True), F("vote_score").desc(), "created_at", "pk"]

SOURCE_SORTS = {
    "index": ["index"],
    "max_activation": ["max_activation", "index"],
    "-max_activation": ["-max_activation", "index"],
    "density": ["density", "index"],
    "-density": ["-density", "index"],
}
DEFAULT_SOURCE_SORT = "index"

RECENT_RUN_WINDOW = timedelta(hours=1)


def model_list() -> QuerySet[LanguageModel]:
    # Feature counts come from Source.n_features: counting feature rows would scan the largest table.
    return LanguageModel.objects.annotate(
        source_count=Count("sources"), feature_count=Sum("sources__n_features", default=0)
    ).order_by("slug")


def recently_active_features(*, limit: int = 12) -> list[Feature]:
    """Features whose explanations were revised or that were commented on most recently, filled up with
    the strongest features of the latest activation run while there are fewer than `limit`."""
    revised = (
        ExplanationRevision.objects.filter(explanation__hidden=False)
        .values("explanation__feature_id")
        .annotate(last=Max("created_at"))
        .order_by("-last")[:limit]
    )
    commented = (
        Comment.objects.filter(deleted=False, hidden=False)
        .values("feature_id")
        .annotate(last=Max("created_at"))
        .order_by("-last")[:limit]
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


def model_sources(model: LanguageModel) -> QuerySet[Source]:
    return model.sources.order_by("layer", "slug")


def model_recent_runs(model: LanguageModel, *, limit: int = 10) -> QuerySet[PipelineRun]:
    # A run that registers its model only learns it when it succeeds; until then it names the slug.
    return PipelineRun.objects.filter(Q(model=model) | Q(model__isnull=True, params__model_slug=model.slug)).order_by(
        "-created_at"
    )[:limit]


def source_feature_index(source: Source, *, sort: str) -> QuerySet[Feature]:
    """The source's features in the given order, each annotated with its best explanation's text."""
    best = Explanation.objects.filter(feature=OuterRef("pk"), hidden=False, current_revision__isnull=False).order_by(
        *EXPLANATION_ORDER
    )
    return source.features.annotate(
        best_explanation=Subquery(best.values("current_revision__text")[:1]),
        best_explanation_score=Subquery(best.values("best_score")[:1]),
    ).order_by(*SOURCE_SORTS[sort])


def feature_for_page(model_slug: str, source_slug: str, index: int) -> Feature | None:
    """The feature with everything its page shows: top examples with their windows, visible
    explanations with each scorer's latest score, and comments."""
    latest_score_per_scorer = ExplanationScore.objects.filter(
        pk=Subquery(
            ExplanationScore.objects.filter(explanation=OuterRef("explanation"), scorer=OuterRef("scorer"))
            .order_by("-created_at", "-pk")
            .values("pk")[:1]
        )
    ).order_by("scorer")
    return (
        Feature.objects.select_related("source__model")
        .prefetch_related(
            Prefetch(
                "examples",
                queryset=ActivationExample.objects.filter(kind=ActivationExample.Kind.TOP)
                .select_related("window")
                .order_by("rank"),
                to_attr="top_examples",
            ),
            Prefetch(
                "examples",
                queryset=ActivationExample.objects.filter(kind=ActivationExample.Kind.INTERVAL)
                .select_related("window")
                .order_by("interval_index", "rank"),
                to_attr="interval_examples",
            ),
            Prefetch(
                "explanations",
                queryset=Explanation.objects.filter(hidden=False)
                .select_related("current_revision__author", "author")
                .prefetch_related(Prefetch("scores", queryset=latest_score_per_scorer, to_attr="latest_scores"))
                .order_by(*EXPLANATION_ORDER),
                to_attr="visible_explanations",
            ),
            Prefetch(
                "comments",
                queryset=Comment.objects.select_related("author", "explanation__current_revision").order_by(
                    "created_at", "pk"
                ),
                to_attr="all_comments",
            ),
        )
        .filter(source__model__slug=model_slug, source__slug=source_slug, index=index)
        .first()
    )


def neighbour_indices(feature: Feature) -> tuple[int | None, int | None]:
    """The indices just before and after the feature's, where those features exist."""
    wanted = [feature.index - 1, feature.index + 1]
    present = set(feature.source.features.filter(index__in=wanted).values_list("index", flat=True))
    return (wanted[0] if wanted[0] in present else None, wanted[1] if wanted[1] in present else None)
