"""Features (listed, or one with its whole dashboard, by id or by address) and their activation examples."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import filters, selectors, serializers
from .base import READ_ERRORS, or_404


@extend_schema(summary="Features", responses={200: serializers.FeatureOut(many=True), **READ_ERRORS})
class FeatureIndex(generics.ListAPIView):
    serializer_class = serializers.FeatureOut
    queryset = selectors.features_for_list()
    filterset_class = filters.FeatureFilter


class FeatureDetail(APIView):
    """The most requested endpoint: built from .values() as plain data (selectors.feature_dashboard), in the shape
    FeatureDetailOut documents, rather than through model instances and serializer fields."""

    @extend_schema(summary="A feature with its dashboard", responses={200: serializers.FeatureDetailOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        feature = selectors.feature_dashboard(request.user, pk=pk)
        return Response(or_404(feature, f"There is no feature with id {pk}."))


class FeatureByAddress(APIView):
    @extend_schema(
        operation_id="features_by_address_retrieve",
        summary="A feature with its dashboard, by model, source and index",
        responses={200: serializers.FeatureDetailOut, **READ_ERRORS},
    )
    def get(self, request: Request, model_slug: str, source_slug: str, index: int) -> Response:
        feature = selectors.feature_dashboard(request.user, address=(model_slug, source_slug, index))
        return Response(or_404(feature, f"There is no feature {model_slug}/{source_slug}/{index}."))


@extend_schema(
    summary="Activation examples (top and interval samples)",
    responses={200: serializers.ExampleOut(many=True), **READ_ERRORS},
)  # noqa: E501
class ExampleList(generics.ListAPIView):
    serializer_class = serializers.ExampleOut
    queryset = selectors.examples_for_api()
    filterset_class = filters.ExampleFilter


@extend_schema(summary="An activation example", responses={200: serializers.ExampleOut, **READ_ERRORS})
class ExampleDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ExampleOut

    def get_object(self):
        return or_404(selectors.by_id(selectors.examples_for_api(), self.kwargs["pk"]), "There is no such example.")
