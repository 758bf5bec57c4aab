"""Uploads through Neuronpedia's client: POST /api/feature/upload-batch (features of your source, with their
activation examples and explanations) and /api/activation/upload-batch (more examples of one feature). The
writes are api.services' (features_upload, activations_append), which check that the source is yours."""

import math

import numpy as np
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from features.models import Source

from .. import selectors
from .. import services as api_services
from .base import ANY_JSON, ERRORS, CompatView, IndexField, feature_at, validated


class _LogitIn(serializers.Serializer):
    token = serializers.CharField(max_length=1000, trim_whitespace=False, allow_blank=True)
    value = serializers.FloatField()


class _ActivationIn(serializers.Serializer):
    tokens = serializers.ListField(
        child=serializers.CharField(max_length=1000, trim_whitespace=False, allow_blank=True),
        min_length=1,
        max_length=4096,
    )
    values = serializers.ListField(child=serializers.FloatField(), min_length=1, max_length=4096)
    quantileMax = serializers.FloatField(required=False, allow_null=True, default=None)  # noqa: N815
    quantileMin = serializers.FloatField(required=False, allow_null=True, default=None)  # noqa: N815
    quantileFraction = serializers.FloatField(  # noqa: N815
        required=False, allow_null=True, default=None, min_value=0, max_value=1
    )

    def validate(self, data: dict) -> dict:
        if len(data["tokens"]) != len(data["values"]):
            raise serializers.ValidationError("tokens and values must have the same length.")
        if any(not math.isfinite(value) for value in data["values"]):
            raise serializers.ValidationError("values must be finite numbers.")
        if (data["quantileMin"] is None) != (data["quantileMax"] is None):
            raise serializers.ValidationError("Give both quantileMin and quantileMax, or neither.")
        if data["quantileMin"] is not None and data["quantileMax"] < data["quantileMin"]:
            raise serializers.ValidationError("quantileMax must be at least quantileMin.")
        return data


class _ExplanationIn(serializers.Serializer):
    text = serializers.CharField(max_length=1000)
    methodName = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)  # noqa: N815
    modelName = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)  # noqa: N815


class _FeatureIn(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, max_value=selectors.MAX_INDEX)
    density = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    activations = _ActivationIn(many=True, required=False, max_length=1000)
    explanations = _ExplanationIn(many=True, required=False, max_length=100)
    topLogits = _LogitIn(many=True, required=False, allow_null=True, max_length=1000)  # noqa: N815
    bottomLogits = _LogitIn(many=True, required=False, allow_null=True, max_length=1000)  # noqa: N815


class FeatureUploadBatchIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    source = serializers.CharField(max_length=64)
    features = _FeatureIn(many=True, min_length=1, max_length=128)


class ActivationUploadBatchIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    source = serializers.CharField(max_length=64)
    index = IndexField()
    activations = _ActivationIn(many=True, min_length=1, max_length=1000)


def _uploaded_activation(data: dict) -> api_services.UploadedActivation:
    values = np.asarray(data["values"], dtype="<f4")
    if not np.isfinite(values).all():
        raise ValidationError({"activations": ["A value is too large for float32."]})
    interval = None
    if data["quantileMin"] is not None:
        interval = (data["quantileMin"], data["quantileMax"], data["quantileFraction"])
    return api_services.UploadedActivation(tokens=data["tokens"], values=values, interval=interval)


def _source(model_slug: str, source_slug: str) -> Source:
    source = selectors.source_by_address(model_slug, source_slug)
    if source is None:
        raise NotFound(f"There is no source {model_slug}/{source_slug}; create it with source-set/new first.")
    return source


class FeatureUploadBatch(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: upload features (with activations and explanations) to your source",
        request=FeatureUploadBatchIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = validated(FeatureUploadBatchIn, request.data)
        source = _source(data["modelId"], data["source"])
        features = []
        for item in data["features"]:
            features.append(
                api_services.UploadedFeature(
                    index=item["index"],
                    density=item.get("density"),
                    top_logits=[dict(logit) for logit in item["topLogits"]] if item.get("topLogits") else None,
                    bottom_logits=[dict(logit) for logit in item["bottomLogits"]] if item.get("bottomLogits") else None,
                    activations=[_uploaded_activation(a) for a in item.get("activations", [])],
                    explanations=[
                        api_services.UploadedExplanation(
                            text=e["text"], method=e.get("methodName") or "", explainer_model=e.get("modelName") or ""
                        )
                        for e in item.get("explanations", [])
                    ],
                )
            )
        counts = api_services.features_upload(source=source, features=features, user=request.user)
        return Response(
            {
                "success": True,
                "modelId": source.model.slug,
                "source": source.slug,
                "features": counts.features,
                "activations": counts.activations,
                "explanations": counts.explanations,
            }
        )


class ActivationUploadBatch(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: add activation examples to a feature of your source",
        request=ActivationUploadBatchIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = validated(ActivationUploadBatchIn, request.data)
        feature = feature_at(data["modelId"], data["source"], data["index"])
        activations = [_uploaded_activation(a) for a in data["activations"]]
        count = api_services.activations_append(feature=feature, activations=activations, user=request.user)
        return Response({"success": True, "count": count})
