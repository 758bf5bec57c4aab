"""Streamed exports of a whole source: /api/v1/export/<model>/<source>/<name>.<jsonl|csv>."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from .. import exports, selectors
from ..renderers import OrjsonRenderer
from ..serializers import ErrorOut
from ..throttles import EXPORT_THROTTLES

EXPORT_NAMES = list(exports.EXPORTS)
CONTENT_TYPES = {"jsonl": "application/jsonl; charset=utf-8", "csv": "text/csv; charset=utf-8"}


class FormatFromPath(BaseContentNegotiation):
    """The format is the path's extension, whatever the Accept header says; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportView(APIView):
    permission_classes = [permissions.AllowAny]
    throttle_classes = EXPORT_THROTTLES
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = FormatFromPath

    @extend_schema(
        summary="Export a whole source, streamed",
        description=(
            "features, activations (every example with its tokens and values) and explanations as JSON Lines or "
            "CSV; neuron-records and openai-explanations in OpenAI automated-interpretability's shapes (JSON "
            "Lines only). Streamed in constant memory, whatever the size of the source."
        ),
        parameters=[
            OpenApiParameter("model_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("source_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=EXPORT_NAMES),
            OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["jsonl", "csv"]),
        ],
        responses={
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, description="One JSON object per line"),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="A header row, then one row each"),
            **{code: OpenApiResponse(ErrorOut) for code in (400, 401, 404, 429)},
        },
    )
    def get(self, request: Request, model_slug: str, source_slug: str, name: str, fmt: str) -> StreamingHttpResponse:
        source = selectors.source_by_address(model_slug, source_slug)
        if source is None:
            raise NotFound(f"There is no source {model_slug}/{source_slug}.")
        rows, columns = exports.EXPORTS[name]
        if fmt == "csv" and columns is None:
            raise NotFound(f"{name} is exported as JSON Lines only: use {name}.jsonl.")
        if name == "activations" and fmt == "jsonl":
            body = exports.example_lines(source)  # the biggest export, encoded directly
        elif fmt == "jsonl":
            body = exports.jsonl(rows(source))
        else:
            body = exports.csv_lines(rows(source), columns)
        response = StreamingHttpResponse(body, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{model_slug}_{source_slug}_{name}.{fmt}"'
        return response
