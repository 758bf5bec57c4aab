"""Attribution graphs: list (by model, searched), one graph, its export in circuit-tracer's schema, and an
import of circuit-tracer's JSON (the services of circuits/: the same checks as the import page and command)."""

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
from circuits.services.imports import graph_export, graph_import
from features.models import LanguageModel

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
