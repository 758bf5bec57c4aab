"""GET /api/feature/<model>/<source>/<index>: a feature as Neuronpedia's API returns it, its Neuron row (format.py)
with its explanations and activation examples in the shapes the client's Explanation and Activation read."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from features.models import ActivationExample

from .. import selectors
from .base import ANY_JSON, ERRORS, CompatView, feature_index
from .format import feature_row


def _activation_json(example: dict, feature: dict) -> dict:
    values = example["values"]
    is_top = example["kind"] == ActivationExample.Kind.TOP
    return {
        "id": str(example["id"]),
        "modelId": feature["model"],
        "layer": feature["source"],
        "source": feature["source"],  # what the client's Activation.from_np_db_json reads
        "index": str(feature["index"]),
        "tokens": example["tokens"],
        "values": values,
        "maxValue": example["max_value"],
        "maxValueTokenIndex": example["max_token_index"],
        "minValue": float(values.min()) if len(values) else 0.0,
        "dfaValues": [],
        "dfaTargetIndex": None,
        "dfaMaxValue": None,
        "dataSource": None,
        # The client checks 0 <= binContains <= 1: top examples have no bin (Neuronpedia's dumps say -1).
        "binMin": None if is_top else example["bin_min"],
        "binMax": None if is_top else example["bin_max"],
        "binContains": None if is_top else example["bin_contains"],
        "creatorId": settings.NEURONPEDIA_EXPORT_CREATOR_ID,
    }


def _explanation_json(explanation: dict, feature: dict) -> dict:
    return {
        "id": str(explanation["id"]),
        "modelId": feature["model"],
        "layer": feature["source"],
        "source": feature["source"],  # what the client's Explanation.from_np_db_json reads
        "index": str(feature["index"]),
        "description": explanation["text"],
        "typeName": explanation["method"] or None,
        "explanationModelName": explanation["explainer_model"] or None,
        "authorId": explanation["author"] or settings.NEURONPEDIA_EXPORT_CREATOR_ID,
        "scoreV1": explanation["vote_score"],
        "scoreV2": explanation["best_score"],
        "scores": [
            {"explanationScoreTypeName": score["scorer"], "value": score["value"]} for score in explanation["scores"]
        ],
        "createdAt": explanation["created_at"],
        "updatedAt": explanation["updated_at"],
    }


def feature_json(feature: dict) -> dict:
    """A feature as Neuronpedia's GET /api/feature returns it, from selectors.feature_dashboard(source_details=True)."""
    row = feature_row(
        model_slug=feature["model"],
        source_slug=feature["source"],
        set_name=feature["set_name"],
        hook_name=feature["hook_name"],
        creator_id=settings.NEURONPEDIA_EXPORT_CREATOR_ID,
        feature=feature,
    )
    intervals = sorted(feature["interval_examples"], key=lambda e: (-(e["interval_index"] or 0), e["rank"]))
    row.update(
        {
            "source": {"id": feature["source"], "modelId": feature["model"], "setName": feature["set_name"]},
            "explanations": [_explanation_json(explanation, feature) for explanation in feature["explanations"]],
            "activations": [_activation_json(example, feature) for example in [*feature["top_examples"], *intervals]],
            "lists": [],
            "comments": [],
        }
    )
    return row


class FeatureGet(CompatView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Neuronpedia: a feature with its explanations and activations",
        parameters=[
            OpenApiParameter("model_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("source_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("index", OpenApiTypes.INT, OpenApiParameter.PATH),
        ],
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def get(self, request: Request, model_slug: str, source_slug: str, index: str) -> Response:
        address = (model_slug, source_slug, feature_index(index))
        feature = selectors.feature_dashboard(request.user, address=address, source_details=True)
        if feature is None:
            raise NotFound(f"There is no feature {model_slug}/{source_slug}/{index}.")
        return Response(feature_json(feature))
