"""Attribution graphs: list (by model, searched), one graph, its export in circuit-tracer's schema, an import of
circuit-tracer's JSON, and tracing a new one on the task queue (the services of circuits/: the same checks as the
pages and the commands)."""

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from circuits.core.graph_schema import GraphSchemaError
from circuits.models import Graph
from circuits.services.graph_search import graphs_matching
from circuits.services.graphs import (
    DEFAULT_EDGE_THRESHOLD,
    DEFAULT_FEATURE_NODES,
    DEFAULT_NODE_THRESHOLD,
    MAX_FEATURE_NODES,
    MAX_GRAPH_TOKENS,
    MAX_PROMPT_CHARS,
    GraphInputError,
    graph_run_start,
)
from circuits.services.imports import graph_export, graph_import
from features.models import LanguageModel

from .. import selectors
from ..serializers import RunDetailOut
from .base import READ_ERRORS, consume_wiki_rate, or_404, schema_errors, validated


class GraphOut(serializers.ModelSerializer):
    model = serializers.CharField(source="model.slug")
    author = serializers.SerializerMethodField()
    n_nodes = serializers.SerializerMethodField()
    n_links = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    feature_links_missing = serializers.SerializerMethodField()

    class Meta:
        model = Graph
        fields = [
            "id", "model", "slug", "title", "description", "prompt", "target", "origin", "author",
            "replacement_score", "completeness_score", "n_nodes", "n_links", "feature_links_missing", "url",
            "created_at", "updated_at",
        ]  # fmt: skip

    def get_author(self, graph: Graph) -> str | None:
        return graph.author.username if graph.author else None

    def get_n_nodes(self, graph: Graph) -> int:
        return len(graph.data.get("nodes", []))

    def get_n_links(self, graph: Graph) -> int:
        return len(graph.data.get("links", []))

    def get_url(self, graph: Graph) -> str:
        return graph.get_absolute_url()

    def get_feature_links_missing(self, graph: Graph) -> str:
        """Why the graph's nodes are not linked to features of this site; empty when they are."""
        return graph.data.get("metadata", {}).get("feature_links_missing", "")


class GraphImportIn(serializers.Serializer):
    graph = serializers.JSONField(
        help_text="The graph in circuit-tracer's JSON schema (metadata, qParams, nodes, links)"
    )
    slug = serializers.SlugField(max_length=64, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


def _graphs():
    return Graph.objects.select_related("model", "author").order_by("id")


def _graph(model_slug: str, graph_slug: str) -> Graph:
    return or_404(
        _graphs().filter(model__slug=model_slug, slug=graph_slug).first(),
        f"There is no graph {model_slug}/{graph_slug}.",
    )


@extend_schema(
    summary="Attribution graphs",
    parameters=[
        OpenApiParameter("model", str, description="A model's slug"),
        OpenApiParameter(
            "q",
            str,
            description=(
                'Words (the search page\'s syntax: "phrases", or, -word) that its title, description, prompt, '
                "target, node labels or supernode names contain"
            ),
        ),
    ],
    responses={200: GraphOut(many=True), **READ_ERRORS},
)
class GraphList(generics.ListAPIView):
    serializer_class = GraphOut
    filter_backends: list = []

    def get_queryset(self):
        graphs = _graphs()
        model = self.request.query_params.get("model")
        if model:
            graphs = graphs.filter(model__slug=model)
        query = self.request.query_params.get("q", "").strip()[:200]
        return graphs_matching(graphs, query) if query else graphs


class GraphDetail(APIView):
    @extend_schema(summary="An attribution graph", responses={200: GraphOut, **READ_ERRORS})
    def get(self, request: Request, model_slug: str, graph_slug: str) -> Response:
        return Response(GraphOut(_graph(model_slug, graph_slug)).data)


class GraphExport(APIView):
    @extend_schema(
        summary="A graph in circuit-tracer's JSON schema (opens in Neuronpedia's and circuit-tracer's viewers)",
        responses={200: OpenApiTypes.OBJECT, **READ_ERRORS},
    )
    def get(self, request: Request, model_slug: str, graph_slug: str) -> Response:
        return Response(graph_export(_graph(model_slug, graph_slug)))


class GraphImport(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Import a graph written by circuit-tracer into a model",
        request=GraphImportIn,
        responses={201: GraphOut, **schema_errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, model_slug: str) -> Response:
        model = or_404(LanguageModel.objects.filter(slug=model_slug).first(), f"There is no model {model_slug!r}.")
        data = validated(GraphImportIn, request.data)
        consume_wiki_rate(request, "explanation")
        try:
            graph = graph_import(
                model=model,
                raw=json.dumps(data["graph"]),
                author=request.user,
                slug=data["slug"],
                title=data["title"],
                description=data["description"],
            )
        except GraphSchemaError as error:
            raise ValidationError({"graph": error.problems}) from error
        return Response(GraphOut(_graph(model_slug, graph.slug)).data, status=status.HTTP_201_CREATED)


class GraphTraceIn(serializers.Serializer):
    # Shapes only: the limits (tokens, characters, node budget), the target and the sources are checked by
    # graph_run_create, whose words the 400 carries, as the page and `manage.py trace` show them.
    prompt = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text=f"At most {MAX_GRAPH_TOKENS} tokens (with the special token put first) and {MAX_PROMPT_CHARS:,} "
        "characters",
    )
    target = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="A token (its logit after the prompt; #ID for a token id) or SOURCE:INDEX@POSITION (a feature; "
        "a negative position counts from the end). Empty: a causal LM's top next token, or an encoder's most "
        "active feature of its deepest dictionary at the last content token",
    )
    sources = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=200,
        help_text="What stands for each layer's MLP (transcoder slugs, or N-mlp for layer N's neurons; by default "
        "a layer's transcoder, else its neurons), and residual-stream SAEs to splice in mid-graph",
    )
    max_nodes = serializers.IntegerField(
        required=False, default=DEFAULT_FEATURE_NODES, help_text=f"The node budget, 1 to {MAX_FEATURE_NODES:,}"
    )
    node_threshold = serializers.FloatField(
        required=False, default=DEFAULT_NODE_THRESHOLD, help_text="Share of influence the pruned nodes keep, in (0, 1]"
    )
    edge_threshold = serializers.FloatField(
        required=False, default=DEFAULT_EDGE_THRESHOLD, help_text="Share of influence the pruned edges keep, in (0, 1]"
    )
    slug = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="Empty: from the prompt and run"
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class GraphTrace(APIView):
    @extend_schema(
        summary="Trace an attribution graph of a prompt on the task queue",
        description="Answers with the queued run: poll its `url`; once it has succeeded its `graph` names the "
        "graph. Limits and errors as on the page (docs/circuits.md); starting one counts against the wiki's "
        "`run` rate, as an activation run does.",
        request=GraphTraceIn,
        responses={202: RunDetailOut, **schema_errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, model_slug: str) -> Response:
        model = or_404(LanguageModel.objects.filter(slug=model_slug).first(), f"There is no model {model_slug!r}.")
        data = validated(GraphTraceIn, request.data)
        try:
            run = graph_run_start(model=model, user=request.user, **data)
        except GraphInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        run = selectors.runs_for_api_detail().get(pk=run.pk)
        return Response(RunDetailOut(run).data, status=status.HTTP_202_ACCEPTED)
