"""Models and sources: read them, and upload a model checkpoint or a dictionary (SAELens format) as a new
source, or register one already on the server (staff only)."""

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from explanations.services import permissions as permission_services
from features import uploads
from features.models import LanguageModel, Source
from features.pipeline.errors import PipelineInputError
from features.services.registration import dictionary_register

from .. import filters, selectors, serializers
from ..errors import PayloadTooLarge
from .base import READ_ERRORS, or_404, schema_errors, validated


def _check_upload_permission(request: Request, *, server_path: bool) -> None:
    if server_path and not request.user.is_staff:
        raise PermissionDenied("Only staff can register files already on the server; upload the files instead.")


class UploadLimitMixin:
    """Counts uploaded bytes as they arrive and skips files past the limit (features.uploads), so an oversized
    upload never fills the disk. The handler must be in place before DRF reads the body."""

    upload_limit_setting = "NEURONPEDIA_MAX_UPLOAD_BYTES"

    def initialize_request(self, request: HttpRequest, *args, **kwargs):
        if request.method == "POST":
            handler = uploads.UploadLimitHandler(request, getattr(settings, self.upload_limit_setting))
            request.upload_handlers.insert(0, handler)
            request.upload_limit = handler
        return super().initialize_request(request, *args, **kwargs)

    def _uploaded(self, request: Request, serializer_class) -> dict:
        """The request's validated fields, or 413 when files went over the limit (they were not stored)."""
        data = request.data  # parsing the body runs the upload handlers
        handler = getattr(request._request, "upload_limit", None)
        if handler is not None and handler.skipped:
            raise PayloadTooLarge(f"The upload is over the size limit ({', '.join(handler.skipped)} went over it).")
        return validated(serializer_class, data)


@extend_schema_view(
    get=extend_schema(summary="Models", responses={200: serializers.ModelOut(many=True), **READ_ERRORS}),
    post=extend_schema(
        summary="Upload a model checkpoint",
        request={"multipart/form-data": serializers.ModelUploadIn, "application/json": serializers.ModelUploadIn},
        responses={201: serializers.ModelOut, **schema_errors(400, 401, 403, 429)},
    ),
)
class ModelList(UploadLimitMixin, generics.ListAPIView):
    serializer_class = serializers.ModelOut
    queryset = LanguageModel.objects.all()
    pagination_class = None  # a handful of models

    def post(self, request: Request) -> Response:
        data = self._uploaded(request, serializers.ModelUploadIn)
        _check_upload_permission(request, server_path="path" in data)
        permission_services.ensure_can_write(request.user)
        details = {"display_name": data["display_name"], "description": data["description"]}
        try:
            if "path" in data:
                model = uploads.model_register_directory(
                    slug=data["slug"], path=data["path"], created_by=request.user, **details
                )
            else:
                model = uploads.model_upload(slug=data["slug"], files=data["files"], created_by=request.user, **details)
        except PipelineInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        except OSError as error:  # a server path the file system refuses (too long, unreadable)
            raise ValidationError({"path": [f"That path cannot be read: {error.strerror or error}."]}) from error
        return Response(serializers.ModelOut(model).data, status=status.HTTP_201_CREATED)


@extend_schema(summary="A model", responses={200: serializers.ModelOut, **READ_ERRORS})
class ModelDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ModelOut
    queryset = LanguageModel.objects.all()
    lookup_field = "slug"
    lookup_url_kwarg = "model_slug"


@extend_schema_view(
    get=extend_schema(
        summary="Sources (neurons of a layer, or dictionaries)",
        responses={200: serializers.SourceOut(many=True), **READ_ERRORS},
    ),  # noqa: E501
    post=extend_schema(
        summary="Upload a dictionary (SAELens format) as a new source",
        request={
            "multipart/form-data": serializers.DictionaryUploadIn,
            "application/json": serializers.DictionaryUploadIn,
        },
        responses={201: serializers.SourceOut, **schema_errors(400, 401, 403, 429)},
    ),
)
class SourceList(UploadLimitMixin, generics.ListAPIView):
    serializer_class = serializers.SourceOut
    queryset = selectors.sources_for_api()
    filterset_class = filters.SourceFilter
    upload_limit_setting = "NEURONPEDIA_MAX_DICTIONARY_BYTES"

    def post(self, request: Request) -> Response:
        data = self._uploaded(request, serializers.DictionaryUploadIn)
        _check_upload_permission(request, server_path="path" in data)
        permission_services.ensure_can_write(request.user)
        model = data["model"]
        try:
            if "path" in data:
                if Source.objects.filter(model=model, slug=data["slug"]).exists():
                    taken = data["slug"]
                    raise PipelineInputError(f"{model.slug} already has a source {taken!r}; choose another name.")
                source = dictionary_register(
                    model=model, path=data["path"], slug=data["slug"], hook_name=data["hook_name"]
                )
            else:
                source = uploads.dictionary_upload(
                    model=model,
                    slug=data["slug"],
                    config=data["config"],
                    weights=data["weights"],
                    hook_name=data["hook_name"],
                )
        except PipelineInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        except OSError as error:  # a server path the file system refuses (too long, unreadable)
            raise ValidationError({"path": [f"That path cannot be read: {error.strerror or error}."]}) from error
        return Response(serializers.SourceOut(source).data, status=status.HTTP_201_CREATED)


@extend_schema(summary="A source, by model and source slug", responses={200: serializers.SourceOut, **READ_ERRORS})
class SourceDetail(generics.RetrieveAPIView):
    serializer_class = serializers.SourceOut

    def get_object(self) -> Source:
        source = selectors.source_by_address(self.kwargs["model_slug"], self.kwargs["source_slug"])
        return or_404(source, f"There is no source {self.kwargs['model_slug']}/{self.kwargs['source_slug']}.")
