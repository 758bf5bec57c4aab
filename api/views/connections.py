"""A feature's connections: its strongest upstream and downstream features by virtual weight and the dictionary
features it fires with (circuits/selectors.py), each with its address and best explanation."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from circuits.selectors import MAX_SHOWN_CONNECTIONS, SHOWN_CONNECTIONS, feature_connections
from features import selectors as feature_selectors

from .base import READ_ERRORS, or_404, validated


class ConnectionsIn(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_SHOWN_CONNECTIONS, default=SHOWN_CONNECTIONS, help_text="Rows per list"
    )


class LinkedFeatureOut(serializers.Serializer):
    model = serializers.CharField()
    source = serializers.CharField()
    index = serializers.IntegerField()
    url = serializers.CharField(help_text="The feature's page")
    explanation = serializers.CharField(allow_null=True, help_text="Its best visible explanation; null without one")


class ConnectionOut(serializers.Serializer):
    feature = LinkedFeatureOut()
    weight = serializers.FloatField(
        help_text="Virtual weight: the change of the downstream pre-activation per unit of upstream activation"
    )


class CoactivationOut(serializers.Serializer):
    feature = LinkedFeatureOut()
    jaccard = serializers.FloatField(help_text="Tokens where both fire / tokens where either fires")
    lift = serializers.FloatField(help_text="Tokens where both fire / what independence predicts")
    together = serializers.IntegerField(help_text="Tokens where both fire")
    feature_fires = serializers.IntegerField(help_text="Tokens where this feature fires")
    other_fires = serializers.IntegerField(help_text="Tokens where the other fires")
    tokens = serializers.IntegerField(help_text="Tokens counted")


class ConnectionsOut(serializers.Serializer):
    computed = serializers.BooleanField(help_text="Whether the model's connections were computed at all")
    run = serializers.IntegerField(allow_null=True, help_text="The run that computed them")
    upstream = ConnectionOut(many=True, help_text="Strongest first (by absolute weight)")
    downstream = ConnectionOut(many=True, help_text="Strongest first (by absolute weight)")
    coactive = CoactivationOut(many=True, help_text="Highest Jaccard first")


class FeatureConnections(APIView):
    @extend_schema(
        summary="A feature's connections: upstream and downstream features by virtual weight, co-active features",
        parameters=[ConnectionsIn],
        responses={200: ConnectionsOut, **READ_ERRORS},
    )
    def get(self, request: Request, model_slug: str, source_slug: str, index: int) -> Response:
        limit = validated(ConnectionsIn, request.query_params, refuse_unknown_keys=False)["limit"]
        feature = or_404(
            feature_selectors.feature_at(model_slug, source_slug, index),
            f"There is no feature {model_slug}/{source_slug}/{index}.",
        )
        connections = feature_connections(feature, limit=limit)
        data = {
            "computed": connections.computed,
            "run": connections.run.pk if connections.run else None,
            "upstream": connections.upstream,
            "downstream": connections.downstream,
            "coactive": connections.coactive,
        }
        return Response(ConnectionsOut(data).data)
