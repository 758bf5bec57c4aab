"""The API about itself: its index (/api/v1/), ping (the floor bench/api.py measures the API against) and who a
request is from."""

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import serializers
from .base import schema_errors

# The collections a client starts from, by URL name; each answers with its own links onwards.
INDEX_ENDPOINTS = ["models", "sources", "features", "activations", "explanations", "comments", "lists", "runs", "me"]


def index(request: HttpRequest) -> JsonResponse:
    """/api/v1/: where the documentation is and where each collection starts, as absolute links."""
    link = lambda name: request.build_absolute_uri(reverse(f"api:{name}"))  # noqa: E731
    return JsonResponse(
        {
            "name": "Neuronpedia (Django edition) REST API",
            "version": "v1",
            "docs": link("docs"),
            "redoc": link("redoc"),
            "schema": link("schema"),
            "endpoints": {name: link(name) for name in INDEX_ENDPOINTS},
            "neuronpedia_compatible": request.build_absolute_uri("/api/feature/<model>/<source>/<index>"),
        }
    )


def ping(request: HttpRequest) -> JsonResponse:
    """The smallest Django view: the floor that bench/api.py measures the API against."""
    return JsonResponse({"ok": True})


class MeView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: serializers.MeOut, **schema_errors(401, 429)}, summary="Who the request is from")
    def get(self, request: Request) -> Response:
        method = "api-key" if request.auth == "api-key" else "session"
        data = {"username": request.user.username, "is_staff": request.user.is_staff, "authenticated_by": method}
        return Response(serializers.MeOut(data).data)
