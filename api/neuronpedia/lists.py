"""Neuronpedia's lists: POST /api/list/new, /api/list/add-features, /api/list/get and /api/list/list, on our
feature lists (explanations.services writes them, under the wiki's rate limit for lists)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.rate_limits import rate_limit_consume
from explanations.models import FeatureList, FeatureListItem
from explanations.services import lists as list_services

from .. import selectors
from .base import ANY_JSON, ERRORS, CompatView, IndexField, feature_at, json_object, validated

A_LIST = OpenApiResponse(OpenApiTypes.ANY, description="A list of Neuronpedia's list objects")


class ListFeatureIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    layer = serializers.CharField(max_length=64)
    index = IndexField()
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ListAddFeaturesIn(serializers.Serializer):
    listId = serializers.CharField(max_length=20)  # noqa: N815
    featuresToAdd = ListFeatureIn(many=True)  # noqa: N815


class ListGetIn(serializers.Serializer):
    listId = serializers.CharField(max_length=20)  # noqa: N815


def _list_json(feature_list: FeatureList) -> dict:
    return {
        "id": str(feature_list.pk),
        "name": feature_list.name,
        "description": feature_list.description,
        "userId": feature_list.owner.username,
        "isPublic": feature_list.is_public,
        "defaultTestText": None,
        "createdAt": feature_list.created_at,
        "updatedAt": feature_list.updated_at,
    }


def _item_json(item: FeatureListItem) -> dict:
    feature = item.feature
    return {
        "modelId": feature.source.model.slug,
        "layer": feature.source.slug,
        "index": str(feature.index),
        "listId": str(item.feature_list_id),
        "description": item.note,
        "addedAt": item.added_at,
    }


def _list_id(data: dict) -> int:
    value = data.get("listId")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise NotFound("There is no such list.")
    return int(value)


def _visible_list(request: Request, data: dict) -> FeatureList:
    feature_list = selectors.by_id(selectors.lists_visible_to(request.user), _list_id(data))
    if feature_list is None:
        raise NotFound("There is no such list, or it is private.")
    return feature_list


class ListNewIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ListNew(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Neuronpedia: create a list", request=ListNewIn, responses={200: ANY_JSON, **ERRORS},
                   tags=["neuronpedia"])  # fmt: skip
    def post(self, request: Request) -> Response:
        data = validated(ListNewIn, request.data)
        rate_limit_consume(action="list", key=str(request.user.pk))
        feature_list = list_services.list_create(owner=request.user, name=data["name"], description=data["description"])
        return Response(_list_json(feature_list))


class ListAddFeatures(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: add features to your list",
        request=ListAddFeaturesIn,
        responses={200: A_LIST, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = json_object(request.data)
        feature_list = _visible_list(request, data)
        wanted = data.get("featuresToAdd")
        if not isinstance(wanted, list) or not wanted or len(wanted) > 1000:
            raise ValidationError({"featuresToAdd": ["A list of 1 to 1,000 {modelId, layer, index, description}."]})
        if not all(isinstance(item, dict) for item in wanted):
            raise ValidationError({"featuresToAdd": ["Each item is {modelId, layer, index, description}."]})
        features = [feature_at(item.get("modelId"), item.get("layer"), item.get("index")) for item in wanted]
        rate_limit_consume(action="list", key=str(request.user.pk))
        added = []
        for feature, item in zip(features, wanted, strict=True):
            note = item.get("description") if isinstance(item.get("description"), str) else ""
            added.append(
                list_services.list_add_feature(
                    feature_list=feature_list, feature=feature, user=request.user, note=note or ""
                )
            )
        items = FeatureListItem.objects.select_related("feature__source__model").filter(pk__in=[i.pk for i in added])
        by_pk = {item.pk: item for item in items}
        return Response([_item_json(by_pk[item.pk]) for item in added])


class ListGet(CompatView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(summary="Neuronpedia: a list and its features", request=ListGetIn,
                   responses={200: ANY_JSON, **ERRORS}, tags=["neuronpedia"])  # fmt: skip
    def post(self, request: Request) -> Response:
        feature_list = _visible_list(request, json_object(request.data))
        items = (
            FeatureListItem.objects.filter(feature_list=feature_list)
            .select_related("feature__source__model")
            .order_by("added_at", "pk")
        )
        neurons = [_item_json(item) for item in items]
        return Response({**_list_json(feature_list), "neurons": neurons, "activations": []})


class ListOwned(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Neuronpedia: your lists", request=None, responses={200: A_LIST, **ERRORS},
                   tags=["neuronpedia"])  # fmt: skip
    def post(self, request: Request) -> Response:
        lists = FeatureList.objects.filter(owner=request.user).select_related("owner").order_by("-updated_at")
        return Response([_list_json(feature_list) for feature_list in lists])
