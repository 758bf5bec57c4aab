"""Activation runs: start one (it computes the dashboards of layers' neurons and dictionaries on the task
queue) and follow its progress."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from explanations.services import permissions as permission_services
from features.models import Source
from features.pipeline.corpus import BUILTIN_CORPUS, is_builtin
from features.pipeline.errors import PipelineInputError
from features.services.activation_runs import activation_run_create
from features.services.runs import run_enqueue

from .. import filters, selectors, serializers
from ..pagination import NewestFirst
from .base import READ_ERRORS, consume_wiki_rate, or_404, schema_errors, validated


@extend_schema_view(
    get=extend_schema(
        summary="Pipeline runs, newest first", responses={200: serializers.RunOut(many=True), **READ_ERRORS}
    ),  # noqa: E501
    post=extend_schema(
        summary="Start an activation run (computes the dashboards of layers' neurons and dictionaries)",
        request=serializers.RunIn,
        responses={202: serializers.RunOut, **schema_errors(400, 401, 403, 429)},
    ),
)
class RunList(generics.ListAPIView):
    serializer_class = serializers.RunOut
    pagination_class = NewestFirst
    queryset = selectors.runs_for_api()
    filterset_class = filters.RunFilter

    def post(self, request: Request) -> Response:
        data = validated(serializers.RunIn, request.data)
        permission_services.ensure_can_write(request.user)
        corpus = BUILTIN_CORPUS if data["corpus"] == "builtin" else data["corpus"]
        if not is_builtin(corpus) and not request.user.is_staff:
            raise PermissionDenied("Only staff can read a corpus from the server; use a builtin corpus.")
        model = data["model"]
        if not model.path:
            raise ValidationError({"model": [f"{model.slug} has no checkpoint on this server (it was imported)."]})
        dictionaries = list(Source.objects.filter(pk__in=data["dictionaries"], model=model))
        if len(dictionaries) != len(set(data["dictionaries"])):
            raise ValidationError({"dictionaries": [f"Some of those sources are not dictionaries of {model.slug}."]})
        # Counted only for a valid request, as on the web page: a typo should not cost one of the few runs an hour.
        consume_wiki_rate(request, "run")
        try:
            run = activation_run_create(
                model=model,
                layers=data["layers"],
                dictionary_sources=dictionaries,
                corpus=corpus,
                n_windows=data["n_windows"],
                window_len=data["window_len"],
                top_k=data["top_k"],
                shard_windows=data["shard_windows"],
                created_by=request.user,
            )
        except PipelineInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        run_enqueue(run=run)
        run = selectors.runs_for_api().get(pk=run.pk)
        return Response(serializers.RunOut(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    summary="A pipeline run, its progress, (activation runs) its manifest and checks, (attribution runs) its graph",
    responses={200: serializers.RunDetailOut, **READ_ERRORS},
)
class RunDetail(generics.RetrieveAPIView):
    serializer_class = serializers.RunDetailOut

    def get_object(self):
        return or_404(selectors.by_id(selectors.runs_for_api_detail(), self.kwargs["pk"]), "There is no such run.")
