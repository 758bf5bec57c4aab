"""Live inference: a feature's activations on a text, the features that fire most on a text, and generation
with features added (steering). Each request runs the model (features.inference), under the stricter rates."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from features import inference, steering
from features.models import Feature, LanguageModel, Source

from .. import selectors, serializers
from ..parsers import BoundedJSONParser
from ..throttles import INFERENCE_THROTTLES
from .base import or_404, schema_errors, validated


class InferenceView(APIView):
    """Runs a model for every request: open to everyone, under the stricter inference rates."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = INFERENCE_THROTTLES


class FeatureActivate(InferenceView):
    @extend_schema(
        summary="The feature's activations on a text (live)",
        request=serializers.TextIn,
        responses={200: serializers.TokenActivationsOut, **schema_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        feature = or_404(selectors.by_id(selectors.features_for_list(), pk), f"There is no feature with id {pk}.")
        data = validated(serializers.TextIn, request.data)
        result = inference.feature_activations(feature, data["text"])
        return Response(serializers.TokenActivationsOut(result).data)


def _model_or_404(slug: str) -> LanguageModel:
    return or_404(LanguageModel.objects.filter(slug=slug).first(), f"There is no model {slug}.")


def _sources_of(model: LanguageModel, slugs: list[str]) -> list[Source] | None:
    if not slugs:
        return None
    found = {source.slug: source for source in model.sources.filter(slug__in=slugs)}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise ValidationError({"sources": [f"{model.slug} has no source {', '.join(missing)}."]})
    return [found[slug] for slug in dict.fromkeys(slugs)]


class TopFeatures(InferenceView):
    @extend_schema(
        summary="The features that fire most on a text (live)",
        request=serializers.TopFeaturesIn,
        responses={200: serializers.TopFeaturesOut, **schema_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, model_slug: str) -> Response:
        model = _model_or_404(model_slug)
        data = validated(serializers.TopFeaturesIn, request.data)
        result = inference.top_features_for_text(
            model, data["text"], sources=_sources_of(model, data.get("sources") or []), k=data["k"]
        )
        return Response(serializers.TopFeaturesOut(result).data)


class Steer(InferenceView):
    parser_classes = [BoundedJSONParser]  # its features are a list of objects, which a form cannot carry

    @extend_schema(
        summary="Generate with and without features added (live)",
        request=serializers.SteerIn,
        responses={200: serializers.SteerOut, **schema_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, model_slug: str) -> Response:
        model = _model_or_404(model_slug)
        data = validated(serializers.SteerIn, request.data)
        additions = []
        for item in data["features"]:
            feature = (
                Feature.objects.select_related("source__model")
                .filter(source__model=model, source__slug=item["source"], index=item["index"])
                .first()
            )
            if feature is None:
                raise ValidationError({"features": [f"{model.slug} has no feature {item['source']}/{item['index']}."]})
            additions.append((feature, item["strength"]))
        result = steering.steer(
            model,
            data["prompt"],
            additions,
            max_new_tokens=data["max_new_tokens"],
            temperature=data["temperature"],
            seed=data["seed"],
        )
        return Response(serializers.SteerOut(result).data)
