"""Where uploads go, as Neuronpedia's client creates them: POST /api/model/new (a model by name, without a
checkpoint), /api/source-set/new (one source per layer of a model, yours to upload to) and
GET /api/source-set/<model>/<name>."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from features.models import LanguageModel, Source, slug_validator

from .. import services as api_services
from .base import ANY_JSON, ERRORS, CompatView, model_by_id, validated


class ModelNewIn(serializers.Serializer):
    id = serializers.CharField(max_length=64, validators=[slug_validator])
    layers = serializers.IntegerField(min_value=1, max_value=api_services.MAX_LAYERS)
    displayName = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)  # noqa: N815
    url = serializers.CharField(max_length=1000, required=False, allow_null=True, allow_blank=True)


def _model_json(model: LanguageModel) -> dict:
    return {
        "id": model.slug,
        "displayName": model.display_name,
        "displayNameShort": model.display_name,
        "layers": model.n_layers,
        "neuronsPerLayer": model.d_mlp,
        "dimension": model.d_model or None,
        "website": None,
        "creatorId": model.created_by.username if model.created_by_id else settings.NEURONPEDIA_EXPORT_CREATOR_ID,
        "visibility": "UNLISTED",
        "inferenceEnabled": bool(model.path),
        "createdAt": model.created_at,
    }


class ModelNew(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: create a model (by name, without a checkpoint)",
        request=ModelNewIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = validated(ModelNewIn, request.data)
        model = api_services.model_placeholder_create(
            slug=data["id"],
            n_layers=data["layers"],
            display_name=data.get("displayName") or "",
            description=data.get("url") or "",
            created_by=request.user,
        )
        return Response(_model_json(model))


class SourceSetNewIn(serializers.Serializer):
    name = serializers.CharField(max_length=64, validators=[slug_validator])
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    description = serializers.CharField(max_length=2000, required=False, allow_null=True, allow_blank=True)
    url = serializers.CharField(max_length=1000, required=False, allow_null=True, allow_blank=True)


def _source_set_json(model: LanguageModel, name: str, sources: list[Source]) -> dict:
    config = sources[0].config if sources else {}
    return {
        "modelId": model.slug,
        "name": name,
        "description": config.get("description", ""),
        "urls": config.get("urls", []),
        "creatorName": settings.NEURONPEDIA_EXPORT_CREATOR_ID,
        "visibility": "UNLISTED",
        "hasDashboards": True,
        "sources": [{"id": source.slug, "modelId": model.slug, "setName": source.set_name} for source in sources],
    }


class SourceSetNew(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: create a source set (one source per layer, yours to upload to)",
        request=SourceSetNewIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = validated(SourceSetNewIn, request.data)
        model = model_by_id(data["modelId"])
        sources = api_services.source_set_create(
            model=model,
            name=data["name"],
            user=request.user,
            description=data.get("description") or "",
            urls=[data["url"]] if data.get("url") else [],
        )
        return Response(_source_set_json(model, data["name"], sources))


class SourceSetGet(CompatView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Neuronpedia: a source set and its sources",
        parameters=[
            OpenApiParameter("model_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def get(self, request: Request, model_slug: str, name: str) -> Response:
        model = model_by_id(model_slug)
        sources = list(model.sources.filter(set_name=name).order_by("layer", "slug"))
        if not sources:
            raise NotFound(f"{model.slug} has no source set {name}.")
        return Response(_source_set_json(model, name, sources))
