"""Reads of connections: a feature's strongest upstream and downstream features and those it fires with, each
with its best explanation, for the feature page's panel and the API."""

from dataclasses import dataclass

from django.db.models import Q
from django.db.models.functions import Abs
from django.urls import reverse

from explanations.selectors import with_best_explanation
from features.models import Feature, PipelineRun

from .models import FeatureCoactivation, FeatureConnection

SHOWN_CONNECTIONS = 10
MAX_SHOWN_CONNECTIONS = 100


@dataclass(frozen=True)
class LinkedFeature:
    model: str
    source: str
    index: int
    explanation: str | None  # its best visible explanation, None without one

    @property
    def address(self) -> str:
        return f"{self.model}/{self.source}/{self.index}"

    @property
    def url(self) -> str:
        return reverse("front:feature", args=[self.model, self.source, self.index])


@dataclass(frozen=True)
class Connection:
    feature: LinkedFeature
    weight: float


@dataclass(frozen=True)
class Coactivation:
    feature: LinkedFeature
    jaccard: float
    lift: float
    together: int
    feature_fires: int
    other_fires: int
    tokens: int


@dataclass(frozen=True)
class FeatureConnections:
    upstream: list[Connection]
    downstream: list[Connection]
    coactive: list[Coactivation]
    run: PipelineRun | None  # the latest finished CONNECTIONS run of the model, None if never computed
    pending: PipelineRun | None  # one queued or running now
    failed: PipelineRun | None  # the latest run, when it failed

    @property
    def computed(self) -> bool:
        return self.run is not None


def _linked(features: list[Feature]) -> dict[int, LinkedFeature]:
    explained = dict(
        with_best_explanation(Feature.objects.filter(pk__in=[feature.pk for feature in features])).values_list(
            "pk", "best_explanation"
        )
    )
    return {
        feature.pk: LinkedFeature(
            model=feature.source.model.slug,
            source=feature.source.slug,
            index=feature.index,
            explanation=explained.get(feature.pk),
        )
        for feature in features
    }


def feature_connections(feature: Feature, *, limit: int = SHOWN_CONNECTIONS) -> FeatureConnections:
    """The feature's `limit` strongest connections each way (by |weight|; ties: the earlier layer and index) and
    its `limit` most co-active features (by Jaccard), with whether the model's connections were computed."""
    related = ("source__model",)
    by_strength = ("-strength", "pk")
    upstream = list(
        FeatureConnection.objects.filter(downstream=feature)
        .select_related(*(f"upstream__{name}" for name in related))
        .annotate(strength=Abs("weight"))
        .order_by(*by_strength)[:limit]
    )
    downstream = list(
        FeatureConnection.objects.filter(upstream=feature)
        .select_related(*(f"downstream__{name}" for name in related))
        .annotate(strength=Abs("weight"))
        .order_by(*by_strength)[:limit]
    )
    coactive = list(
        FeatureCoactivation.objects.filter(feature=feature)
        .select_related(*(f"other__{name}" for name in related))
        .order_by("-jaccard", "other_id")[:limit]
    )
    linked = _linked(
        [row.upstream for row in upstream] + [row.downstream for row in downstream] + [row.other for row in coactive]
    )
    model_runs = PipelineRun.objects.filter(kind=PipelineRun.Kind.CONNECTIONS, model_id=feature.source.model_id)
    pending = model_runs.filter(Q(status=PipelineRun.Status.QUEUED) | Q(status=PipelineRun.Status.RUNNING)).first()
    latest = model_runs.order_by("-created_at", "-pk").first()
    return FeatureConnections(
        upstream=[Connection(linked[row.upstream_id], row.weight) for row in upstream],
        downstream=[Connection(linked[row.downstream_id], row.weight) for row in downstream],
        coactive=[
            Coactivation(
                feature=linked[row.other_id],
                jaccard=row.jaccard,
                lift=row.lift,
                together=row.together,
                feature_fires=row.feature_fires,
                other_fires=row.other_fires,
                tokens=row.tokens,
            )
            for row in coactive
        ],
        run=model_runs.filter(status=PipelineRun.Status.SUCCEEDED).order_by("-finished_at", "-pk").first(),
        pending=pending if pending is not None and not pending.is_stalled else None,
        failed=latest if latest is not None and latest.status == PipelineRun.Status.FAILED else None,
    )
