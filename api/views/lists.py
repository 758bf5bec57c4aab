"""Feature lists: public ones and your own, their features (with a note each)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from explanations.models import FeatureList, FeatureListItem
from explanations.services import lists as list_services

from .. import filters, selectors, serializers
from .base import READ_ERRORS, consume_wiki_rate, or_404, schema_errors, validated


def _visible_list(request: Request, pk: int) -> FeatureList:
    feature_list = selectors.by_id(selectors.lists_visible_to(request.user), pk)
    return or_404(feature_list, "There is no such list, or it is private.")


@extend_schema_view(
    get=extend_schema(
        summary="Public lists, and your own", responses={200: serializers.ListOut(many=True), **READ_ERRORS}
    ),  # noqa: E501
    post=extend_schema(
        summary="Create a list",
        request=serializers.ListIn,
        responses={201: serializers.ListOut, **schema_errors(400, 401, 403, 429)},
    ),
)
class ListList(generics.ListAPIView):
    serializer_class = serializers.ListOut
    filterset_class = filters.ListFilter

    def get_queryset(self):
        return selectors.lists_visible_to(self.request.user)

    def post(self, request: Request) -> Response:
        data = validated(serializers.ListIn, request.data)
        consume_wiki_rate(request, "list")
        feature_list = list_services.list_create(
            owner=request.user, name=data["name"], description=data["description"], is_public=data["is_public"]
        )
        return Response(serializers.ListOut(_visible_list(request, feature_list.pk)).data, status=201)


class ListDetail(APIView):
    @extend_schema(summary="A list", responses={200: serializers.ListOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(serializers.ListOut(_visible_list(request, pk)).data)

    @extend_schema(
        summary="Change your list",
        request=serializers.ListPatchIn,
        responses={200: serializers.ListOut, **schema_errors(400, 401, 403, 404, 429)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        data = validated(serializers.ListPatchIn, request.data)
        consume_wiki_rate(request, "list")
        list_services.list_update(
            feature_list=feature_list,
            user=request.user,
            name=data.get("name", feature_list.name),
            description=data.get("description", feature_list.description),
            is_public=data.get("is_public", feature_list.is_public),
        )
        return Response(serializers.ListOut(_visible_list(request, pk)).data)

    @extend_schema(summary="Delete your list", request=None, responses={204: None, **schema_errors(401, 403, 404, 429)})
    def delete(self, request: Request, pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        consume_wiki_rate(request, "list")
        list_services.list_delete(feature_list=feature_list, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(
        summary="The features of a list", responses={200: serializers.ListItemOut(many=True), **READ_ERRORS}
    ),  # noqa: E501
    post=extend_schema(
        summary="Add a feature to your list (again: updates its note)",
        request=serializers.ListItemIn,
        responses={201: serializers.ListItemOut, **schema_errors(400, 401, 403, 404, 429)},
    ),
)
class ListItems(generics.ListAPIView):
    serializer_class = serializers.ListItemOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FeatureListItem.objects.none()
        feature_list = _visible_list(self.request, self.kwargs["pk"])
        return FeatureListItem.objects.filter(feature_list=feature_list).select_related("feature__source__model")

    def post(self, request: Request, pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        data = validated(serializers.ListItemIn, request.data)
        consume_wiki_rate(request, "list")
        item = list_services.list_add_feature(
            feature_list=feature_list, feature=data["feature"], user=request.user, note=data["note"]
        )
        item = FeatureListItem.objects.select_related("feature__source__model").get(pk=item.pk)
        return Response(serializers.ListItemOut(item).data, status=status.HTTP_201_CREATED)


class ListItemDetail(APIView):
    @extend_schema(
        summary="Remove a feature from your list",
        request=None,
        responses={204: None, **schema_errors(401, 403, 404, 429)},
    )  # noqa: E501
    def delete(self, request: Request, pk: int, feature_pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        if feature_pk > selectors.MAX_ID:
            raise NotFound("That feature is not in the list.")
        consume_wiki_rate(request, "list")
        list_services.list_remove_feature(feature_list=feature_list, feature_id=feature_pk, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
