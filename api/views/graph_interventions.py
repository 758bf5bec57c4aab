"""Interventions on an attribution graph (circuits/services/interventions.py): scale or ablate some of its nodes in
the real model, under the inference rates (each request runs the model twice)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from circuits.models import Graph
from circuits.services.graphs import GraphInputError
from circuits.services.interventions import MAX_EDITS, MAX_SCALE, graph_intervene

from ..parsers import BoundedJSONParser
from .base import or_404, schema_errors, validated
from .inference import InferenceView


class EditIn(serializers.Serializer):
    node_id = serializers.CharField(max_length=64, required=False, help_text="A feature or neuron node, e.g. 1_17_5")
    node_ids = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=MAX_EDITS, help_text="A supernode"
    )
    scale = serializers.FloatField(min_value=-MAX_SCALE, max_value=MAX_SCALE, default=0.0, help_text="0 ablates")

    def validate(self, attrs):
        if ("node_id" in attrs) == ("node_ids" in attrs):
            raise ValidationError("Give node_id, or node_ids for a supernode (not both).")
        return attrs


class InterventionIn(serializers.Serializer):
    edits = EditIn(many=True)


class InterventionOut(serializers.Serializer):
    edits = serializers.ListField(child=serializers.DictField())
    target = serializers.DictField()
    nodes = serializers.ListField(child=serializers.DictField())


class GraphIntervene(InferenceView):
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        summary="Scale or ablate nodes of an attribution graph in the real model (live)",
        description="The returned keys are listed in docs/circuits.md (Interventions).",
        request=InterventionIn,
        responses={200: InterventionOut, **schema_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, model_slug: str, graph_slug: str) -> Response:
        graph = or_404(
            Graph.objects.select_related("model").filter(model__slug=model_slug, slug=graph_slug).first(),
            f"{model_slug} has no graph {graph_slug}.",
        )
        data = validated(InterventionIn, request.data)
        try:
            result = graph_intervene(graph=graph, edits=[dict(edit) for edit in data["edits"]])
        except GraphInputError as error:
            raise ValidationError({"edits": [str(error)]}) from error
        return Response(InterventionOut(result).data)
