"""Neuronpedia's live inference: POST /api/activation/new (a feature's activations on a custom text),
/api/search-all (the features that fire most on a text) and /api/search-topk-by-token (the top features at each
token). Each text is one forward pass (features.inference), under the stricter inference rates."""

import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from features import inference
from features.models import Feature, LanguageModel, Source

from ..throttles import INFERENCE_THROTTLES
from .base import ANY_JSON, ERRORS, CompatView, IndexField, feature_at, json_object, model_by_id

MAX_TEXTS = 8
MAX_SEARCH_RESULTS = 50
ONE_OR_MANY = OpenApiResponse(OpenApiTypes.ANY, description="One result for one text, a list for a list of texts")


# Request shapes, for the schema and its docs (the views read the bodies themselves, as Neuronpedia does:
# a text or a list of texts in one field, indices as numbers or strings).


class FeatureRefIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    layer = serializers.CharField(max_length=64, help_text="The source, e.g. 6-res-jb")
    index = IndexField()


class ActivationNewIn(serializers.Serializer):
    feature = FeatureRefIn()
    customText = serializers.JSONField(help_text="A text, or a list of up to 8 texts")  # noqa: N815


class SearchAllIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    text = serializers.JSONField(help_text="A text, or a list of up to 8 texts")
    sourceSet = serializers.CharField(max_length=64, required=False)  # noqa: N815
    selectedLayers = serializers.ListField(child=serializers.CharField(max_length=64), required=False)  # noqa: N815
    ignoreBos = serializers.BooleanField(required=False)  # noqa: N815
    sortIndexes = serializers.ListField(child=serializers.IntegerField(), required=False)  # noqa: N815
    densityThreshold = serializers.FloatField(required=False)  # noqa: N815
    numResults = serializers.IntegerField(min_value=1, max_value=MAX_SEARCH_RESULTS, required=False)  # noqa: N815


class SearchTopkIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    source = serializers.CharField(max_length=64)
    text = serializers.JSONField(help_text="A text, or a list of up to 8 texts")
    numResults = serializers.IntegerField(min_value=1, max_value=100, required=False)  # noqa: N815
    ignoreBos = serializers.BooleanField(required=False)  # noqa: N815
    densityThreshold = serializers.FloatField(required=False)  # noqa: N815


def _texts(value, *, field: str) -> tuple[list[str], bool]:
    """One text or a list of them: (texts, was_a_list)."""
    if isinstance(value, str):
        return [value], False
    if isinstance(value, list) and value and all(isinstance(text, str) for text in value):
        if len(value) > MAX_TEXTS:
            raise ValidationError({field: [f"Send at most {MAX_TEXTS} texts at once."]})
        return value, True
    raise ValidationError({field: ["Send a text, or a list of texts."]})


class InferenceCompatView(CompatView):
    permission_classes = [permissions.AllowAny]
    throttle_classes = INFERENCE_THROTTLES


def _token_activations_json(feature: Feature, result) -> dict:
    return {
        "modelId": feature.source.model.slug,
        "layer": feature.source.slug,
        "source": feature.source.slug,
        "index": str(feature.index),
        "tokens": result.tokens,
        "values": result.values,
        "maxValue": result.max_value,
        "maxValueTokenIndex": result.max_index,
        "minValue": min(result.values) if result.values else 0.0,
        "dfaValues": [],
        "dfaTargetIndex": None,
        "dfaMaxValue": None,
    }


class ActivationNew(InferenceCompatView):
    @extend_schema(
        summary="Neuronpedia: a feature's activations on a custom text (or texts)",
        request=ActivationNewIn,
        responses={200: ONE_OR_MANY, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request.data)
        target = data.get("feature")
        if not isinstance(target, dict):
            raise ValidationError({"feature": ["Give {modelId, layer, index} of the feature."]})
        feature = feature_at(target.get("modelId"), target.get("layer", target.get("source")), target.get("index"))
        texts, many = _texts(data.get("customText"), field="customText")
        results = [_token_activations_json(feature, inference.feature_activations(feature, text)) for text in texts]
        return Response(results if many else results[0])


def _search_sources(model: LanguageModel, data: dict) -> list[Source]:
    selected = data.get("selectedLayers") or []
    if not isinstance(selected, list) or not all(isinstance(slug, str) for slug in selected):
        raise ValidationError({"selectedLayers": ["Give a list of source ids, e.g. ['6-res-jb']."]})
    if selected:
        found = {source.slug: source for source in model.sources.filter(slug__in=selected)}
        missing = [slug for slug in selected if slug not in found]
        if missing:
            raise NotFound(f"{model.slug} has no source {', '.join(missing[:5])}.")
        return [found[slug] for slug in dict.fromkeys(selected)]
    source_set = data.get("sourceSet")
    if not isinstance(source_set, str) or not source_set:
        raise ValidationError({"sourceSet": ["Give the source set, or the sources in selectedLayers."]})
    sources = list(model.sources.filter(set_name=source_set).order_by("layer", "slug"))
    if not sources:
        raise NotFound(f"{model.slug} has no source set {source_set}.")
    return sources


def _whole(data: dict, key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({key: [f"A whole number from {low} to {high}."]})
    return value


def _finite(data: dict, key: str, default: float) -> float:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({key: ["A finite number."]})
    return float(value)


class SearchAll(InferenceCompatView):
    @extend_schema(
        summary="Neuronpedia: the features that fire most on a text",
        request=SearchAllIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request.data)
        model = model_by_id(data.get("modelId"))
        sources = _search_sources(model, data)
        texts, many = _texts(data.get("text"), field="text")
        k = _whole(data, "numResults", 20, 1, MAX_SEARCH_RESULTS)
        density_threshold = _finite(data, "densityThreshold", -1)
        sort_indexes = data.get("sortIndexes") or []
        if not isinstance(sort_indexes, list) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in sort_indexes
        ):
            raise ValidationError({"sortIndexes": ["A list of token positions."]})
        by_slug = {source.slug: source for source in sources}
        results = []
        for text in texts:
            # Density filtering can drop hits, so ask for more than we show when it is on.
            found = inference.top_features_for_text(
                model,
                text,
                sources=sources,
                k=min(k * (2 if density_threshold > 0 else 1), 100),
                with_activations=True,
            )
            features = {
                (feature.source.slug, feature.index): feature
                for feature in Feature.objects.select_related("source__model").filter(
                    source__in=sources, index__in={hit.index for hit in found.overall}
                )
            }
            rows = []
            # Each hit's activations come from the search's own forward pass: one per text, however many hits.
            for hit, activation in zip(found.overall, found.overall_activations, strict=True):
                feature = features.get((hit.source_slug, hit.index))
                if feature is None:  # a dictionary feature whose dashboard has not been computed: still report it
                    feature = Feature(source=by_slug[hit.source_slug], index=hit.index)
                if density_threshold > 0 and feature.pk and feature.density > density_threshold:
                    continue
                rows.append(_token_activations_json(feature, activation))
            if sort_indexes:
                rows.sort(key=lambda row: -sum(row["values"][i] for i in sort_indexes if 0 <= i < len(row["values"])))
            results.append({"tokens": found.tokens, "result": rows[:k], "counts": []})
        if many:
            return Response({"results": results})
        return Response(results[0])


class SearchTopkByToken(InferenceCompatView):
    @extend_schema(
        summary="Neuronpedia: the top features at each token of a text",
        request=SearchTopkIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request.data)
        model = model_by_id(data.get("modelId"))
        source_slug = data.get("source")
        source = model.sources.filter(slug=source_slug).first() if isinstance(source_slug, str) else None
        if source is None:
            raise NotFound(f"{model.slug} has no source {source_slug!r}.")
        texts, many = _texts(data.get("text"), field="text")
        k = _whole(data, "numResults", 5, 1, 100)
        results = []
        for text in texts:
            found = inference.top_features_for_text(model, text, sources=[source], k=k)
            results.append(
                {
                    "tokens": found.tokens,
                    "results": [
                        {
                            "position": position,
                            "token": token,
                            "topFeatures": [{"featureIndex": hit.index, "activationValue": hit.value} for hit in hits],
                        }
                        for position, (token, hits) in enumerate(zip(found.tokens, found.per_token, strict=True))
                    ],
                }
            )
        return Response({"results": results} if many else results[0])
