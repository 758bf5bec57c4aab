"""Neuronpedia's own API paths and shapes, so that its official Python client (`pip install neuronpedia`)
works against this server: point it here (its NPRequest.BASE_URL, or USE_LOCALHOST) with an API key of
ours in NEURONPEDIA_API_KEY.

What the client sends and reads (neuronpedia 1.2.1's requests/*.py) decides the shapes:
- GET  /api/feature/<model>/<source>/<index>           a Neuron row with `explanations` and `activations`
- POST /api/feature/upload-batch                        {modelId, source, features: [...]}
- POST /api/activation/new                              {feature: {modelId, layer, index}, customText: str | [str]}
- POST /api/activation/upload-batch                     {modelId, source, index, activations: [{tokens, values}]}
- POST /api/search-all                                  {modelId, sourceSet, selectedLayers, text: str | [str], ...}
- POST /api/search-topk-by-token                        {modelId, source, text: str | [str], numResults, ...}
- POST /api/list/new | list/add-features | list/get | list/list
- POST /api/model/new, POST /api/source-set/new, GET /api/source-set/<model>/<name>
The client puts the key in X-Api-Key on every request and raises its own errors on 401, 404 and 429; other
4xx bodies are shown to its user, so they are our usual error bodies. The client writes some paths with a
trailing slash (search-all/) and some without; both are accepted.
"""

import math

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.rate_limits import rate_limit_consume
from explanations import services as wiki
from explanations.models import FeatureList, FeatureListItem
from features.models import ActivationExample, Feature, LanguageModel, Source, slug_validator

from . import selectors
from . import services as api_services
from .neuronpedia_format import feature_row
from .parsers import BoundedJSONParser
from .serializers import ErrorOut
from .throttles import INFERENCE_THROTTLES

MAX_TEXTS = 8
MAX_SEARCH_RESULTS = 50
CREATOR_ID = "neuronpedia-django"
ERRORS = {code: OpenApiResponse(ErrorOut) for code in (400, 401, 403, 404, 413, 429)}
ANY_JSON = OpenApiResponse(OpenApiTypes.OBJECT, description="Neuronpedia's shape (see api/compat.py)")
ONE_OR_MANY = OpenApiResponse(OpenApiTypes.ANY, description="One result for one text, a list for a list of texts")
A_LIST = OpenApiResponse(OpenApiTypes.ANY, description="A list of Neuronpedia's list objects")


def _model(slug) -> LanguageModel:
    if not isinstance(slug, str) or not slug:
        raise ValidationError({"modelId": ["Give the model's id."]})
    model = LanguageModel.objects.filter(slug=slug).first()
    if model is None:
        raise NotFound(f"There is no model {slug}.")
    return model


def _index(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValidationError({"index": ["The index is a whole number (or its string)."]})
    index = int(value)
    if index > selectors.MAX_INDEX:
        raise NotFound(f"There is no feature {index}.")
    return index


def _feature(model_slug, source_slug, index, queryset=None) -> Feature:
    if not isinstance(source_slug, str) or not source_slug:
        raise ValidationError({"source": ["Give the source (Neuronpedia's `layer`), e.g. 6-res-jb."]})
    if not isinstance(model_slug, str) or not model_slug:
        raise ValidationError({"modelId": ["Give the model's id."]})
    index = _index(index)
    queryset = queryset if queryset is not None else Feature.objects.select_related("source__model")
    feature = selectors.feature_by_address(queryset, model_slug, source_slug, index)
    if feature is None:
        raise NotFound(f"There is no feature {model_slug}/{source_slug}/{index}.")
    return feature


def _object(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    return data


def _texts(value, *, field: str) -> tuple[list[str], bool]:
    """One text or a list of them: (texts, was_a_list)."""
    if isinstance(value, str):
        return [value], False
    if isinstance(value, list) and value and all(isinstance(text, str) for text in value):
        if len(value) > MAX_TEXTS:
            raise ValidationError({field: [f"Send at most {MAX_TEXTS} texts at once."]})
        return value, True
    raise ValidationError({field: ["Send a text, or a list of texts."]})


# --- Reading a feature ---------------------------------------------------------------------------


def _activation_json(example: dict, feature: dict) -> dict:
    values = example["values"]
    is_top = example["kind"] == ActivationExample.Kind.TOP
    return {
        "id": str(example["id"]),
        "modelId": feature["model"],
        "layer": feature["source"],
        "source": feature["source"],  # what the client's Activation.from_np_db_json reads
        "index": str(feature["index"]),
        "tokens": example["tokens"],
        "values": values,
        "maxValue": example["max_value"],
        "maxValueTokenIndex": example["max_token_index"],
        "minValue": float(values.min()) if len(values) else 0.0,
        "dfaValues": [],
        "dfaTargetIndex": None,
        "dfaMaxValue": None,
        "dataSource": None,
        # The client checks 0 <= binContains <= 1: top examples have no bin (Neuronpedia's dumps say -1).
        "binMin": None if is_top else example["bin_min"],
        "binMax": None if is_top else example["bin_max"],
        "binContains": None if is_top else example["bin_contains"],
        "creatorId": CREATOR_ID,
    }


def _explanation_json(explanation: dict, feature: dict) -> dict:
    return {
        "id": str(explanation["id"]),
        "modelId": feature["model"],
        "layer": feature["source"],
        "source": feature["source"],  # what the client's Explanation.from_np_db_json reads
        "index": str(feature["index"]),
        "description": explanation["text"],
        "typeName": explanation["method"] or None,
        "explanationModelName": explanation["explainer_model"] or None,
        "authorId": explanation["author"] or CREATOR_ID,
        "scoreV1": explanation["vote_score"],
        "scoreV2": explanation["best_score"],
        "scores": [
            {"explanationScoreTypeName": score["scorer"], "value": score["value"]} for score in explanation["scores"]
        ],
        "createdAt": explanation["created_at"],
        "updatedAt": explanation["updated_at"],
    }


def feature_json(feature: dict) -> dict:
    """A feature as Neuronpedia's GET /api/feature returns it, from selectors.feature_dashboard(source_details=True)."""
    row = feature_row(
        model_slug=feature["model"],
        source_slug=feature["source"],
        set_name=feature["set_name"],
        hook_name=feature["hook_name"],
        creator_id=CREATOR_ID,
        feature=feature,
    )
    intervals = sorted(feature["interval_examples"], key=lambda e: (-(e["interval_index"] or 0), e["rank"]))
    row.update(
        {
            "source": {"id": feature["source"], "modelId": feature["model"], "setName": feature["set_name"]},
            "explanations": [_explanation_json(explanation, feature) for explanation in feature["explanations"]],
            "activations": [_activation_json(example, feature) for example in [*feature["top_examples"], *intervals]],
            "lists": [],
            "comments": [],
        }
    )
    return row


class CompatView(APIView):
    """Neuronpedia's paths: same authentication (X-Api-Key or session) and throttles as /api/v1/. Bodies are
    JSON, as the client sends them."""

    parser_classes = [BoundedJSONParser]


# Request shapes, for the schema and its docs (the views read the bodies themselves, as Neuronpedia does:
# a text or a list of texts in one field, indices as numbers or strings).


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^[0-9]+$"}]})
class IndexField(serializers.CharField):
    """A feature's index as Neuronpedia's clients send it: a whole number, or its digits as a string."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", "A whole number, as a string or a number")
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(r"^[0-9]+$", "The index is a whole number (or its string)."))


class FeatureRefIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    layer = serializers.CharField(max_length=64, help_text="The source, e.g. 6-res-jb")
    index = IndexField()


class ActivationNewIn(serializers.Serializer):
    feature = FeatureRefIn()
    customText = serializers.JSONField(help_text="A text, or a list of up to 8 texts")  # noqa: N815


class SearchAllIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    text = serializers.JSONField(help_text="A text, or a list of up to 8 texts")
    sourceSet = serializers.CharField(max_length=64, required=False)  # noqa: N815
    selectedLayers = serializers.ListField(child=serializers.CharField(max_length=64), required=False)  # noqa: N815
    ignoreBos = serializers.BooleanField(required=False)  # noqa: N815
    sortIndexes = serializers.ListField(child=serializers.IntegerField(), required=False)  # noqa: N815
    densityThreshold = serializers.FloatField(required=False)  # noqa: N815
    numResults = serializers.IntegerField(min_value=1, max_value=MAX_SEARCH_RESULTS, required=False)  # noqa: N815


class SearchTopkIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    source = serializers.CharField(max_length=64)
    text = serializers.JSONField(help_text="A text, or a list of up to 8 texts")
    numResults = serializers.IntegerField(min_value=1, max_value=100, required=False)  # noqa: N815
    ignoreBos = serializers.BooleanField(required=False)  # noqa: N815
    densityThreshold = serializers.FloatField(required=False)  # noqa: N815


class ListFeatureIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    layer = serializers.CharField(max_length=64)
    index = IndexField()
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ListAddFeaturesIn(serializers.Serializer):
    listId = serializers.CharField(max_length=20)  # noqa: N815
    featuresToAdd = ListFeatureIn(many=True)  # noqa: N815


class ListGetIn(serializers.Serializer):
    listId = serializers.CharField(max_length=20)  # noqa: N815


class FeatureGet(CompatView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Neuronpedia: a feature with its explanations and activations",
        parameters=[
            OpenApiParameter("model_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("source_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("index", OpenApiTypes.INT, OpenApiParameter.PATH),
        ],
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def get(self, request: Request, model_slug: str, source_slug: str, index: str) -> Response:
        address = (model_slug, source_slug, _index(index))
        feature = selectors.feature_dashboard(request.user, address=address, source_details=True)
        if feature is None:
            raise NotFound(f"There is no feature {model_slug}/{source_slug}/{index}.")
        return Response(feature_json(feature))


# --- Live inference ------------------------------------------------------------------------------


class InferenceCompatView(CompatView):
    permission_classes = [permissions.AllowAny]
    throttle_classes = INFERENCE_THROTTLES


def _token_activations_json(feature: Feature, result) -> dict:
    return {
        "modelId": feature.source.model.slug,
        "layer": feature.source.slug,
        "source": feature.source.slug,
        "index": str(feature.index),
        "tokens": result.tokens,
        "values": result.values,
        "maxValue": result.max_value,
        "maxValueTokenIndex": result.max_index,
        "minValue": min(result.values) if result.values else 0.0,
        "dfaValues": [],
        "dfaTargetIndex": None,
        "dfaMaxValue": None,
    }


class ActivationNew(InferenceCompatView):
    @extend_schema(
        summary="Neuronpedia: a feature's activations on a custom text (or texts)",
        request=ActivationNewIn,
        responses={200: ONE_OR_MANY, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        from features import inference

        data = _object(request.data)
        target = data.get("feature")
        if not isinstance(target, dict):
            raise ValidationError({"feature": ["Give {modelId, layer, index} of the feature."]})
        feature = _feature(target.get("modelId"), target.get("layer", target.get("source")), target.get("index"))
        texts, many = _texts(data.get("customText"), field="customText")
        results = [_token_activations_json(feature, inference.feature_activations(feature, text)) for text in texts]
        return Response(results if many else results[0])


def _search_sources(model: LanguageModel, data: dict) -> list[Source]:
    selected = data.get("selectedLayers") or []
    if not isinstance(selected, list) or not all(isinstance(slug, str) for slug in selected):
        raise ValidationError({"selectedLayers": ["Give a list of source ids, e.g. ['6-res-jb']."]})
    if selected:
        found = {source.slug: source for source in model.sources.filter(slug__in=selected)}
        missing = [slug for slug in selected if slug not in found]
        if missing:
            raise NotFound(f"{model.slug} has no source {', '.join(missing[:5])}.")
        return [found[slug] for slug in dict.fromkeys(selected)]
    source_set = data.get("sourceSet")
    if not isinstance(source_set, str) or not source_set:
        raise ValidationError({"sourceSet": ["Give the source set, or the sources in selectedLayers."]})
    sources = list(model.sources.filter(set_name=source_set).order_by("layer", "slug"))
    if not sources:
        raise NotFound(f"{model.slug} has no source set {source_set}.")
    return sources


def _whole(data: dict, key: str, default: int, low: int, high: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError({key: [f"A whole number from {low} to {high}."]})
    return value


def _finite(data: dict, key: str, default: float) -> float:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError({key: ["A finite number."]})
    return float(value)


class SearchAll(InferenceCompatView):
    @extend_schema(
        summary="Neuronpedia: the features that fire most on a text",
        request=SearchAllIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        from features import inference

        data = _object(request.data)
        model = _model(data.get("modelId"))
        sources = _search_sources(model, data)
        texts, many = _texts(data.get("text"), field="text")
        k = _whole(data, "numResults", 20, 1, MAX_SEARCH_RESULTS)
        density_threshold = _finite(data, "densityThreshold", -1)
        sort_indexes = data.get("sortIndexes") or []
        if not isinstance(sort_indexes, list) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in sort_indexes
        ):
            raise ValidationError({"sortIndexes": ["A list of token positions."]})
        by_slug = {source.slug: source for source in sources}
        results = []
        for text in texts:
            # Density filtering can drop hits, so ask for more than we show when it is on.
            found = inference.top_features_for_text(
                model,
                text,
                sources=sources,
                k=min(k * (2 if density_threshold > 0 else 1), 100),
                with_activations=True,
            )
            features = {
                (feature.source.slug, feature.index): feature
                for feature in Feature.objects.select_related("source__model").filter(
                    source__in=sources, index__in={hit.index for hit in found.overall}
                )
            }
            rows = []
            # Each hit's activations come from the search's own forward pass: one per text, however many hits.
            for hit, activation in zip(found.overall, found.overall_activations, strict=True):
                feature = features.get((hit.source_slug, hit.index))
                if feature is None:  # a dictionary feature whose dashboard has not been computed: still report it
                    feature = Feature(source=by_slug[hit.source_slug], index=hit.index)
                if density_threshold > 0 and feature.pk and feature.density > density_threshold:
                    continue
                rows.append(_token_activations_json(feature, activation))
            if sort_indexes:
                rows.sort(key=lambda row: -sum(row["values"][i] for i in sort_indexes if 0 <= i < len(row["values"])))
            results.append({"tokens": found.tokens, "result": rows[:k], "counts": []})
        if many:
            return Response({"results": results})
        return Response(results[0])


class SearchTopkByToken(InferenceCompatView):
    @extend_schema(
        summary="Neuronpedia: the top features at each token of a text",
        request=SearchTopkIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        from features import inference

        data = _object(request.data)
        model = _model(data.get("modelId"))
        source_slug = data.get("source")
        source = model.sources.filter(slug=source_slug).first() if isinstance(source_slug, str) else None
        if source is None:
            raise NotFound(f"{model.slug} has no source {source_slug!r}.")
        texts, many = _texts(data.get("text"), field="text")
        k = _whole(data, "numResults", 5, 1, 100)
        results = []
        for text in texts:
            found = inference.top_features_for_text(model, text, sources=[source], k=k)
            results.append(
                {
                    "tokens": found.tokens,
                    "results": [
                        {
                            "position": position,
                            "token": token,
                            "topFeatures": [{"featureIndex": hit.index, "activationValue": hit.value} for hit in hits],
                        }
                        for position, (token, hits) in enumerate(zip(found.tokens, found.per_token, strict=True))
                    ],
                }
            )
        return Response({"results": results} if many else results[0])


# --- Uploads ------------------------------------------------------------------------------------


class _LogitIn(serializers.Serializer):
    token = serializers.CharField(max_length=1000, trim_whitespace=False, allow_blank=True)
    value = serializers.FloatField()


class _ActivationIn(serializers.Serializer):
    tokens = serializers.ListField(
        child=serializers.CharField(max_length=1000, trim_whitespace=False, allow_blank=True),
        min_length=1,
        max_length=4096,
    )
    values = serializers.ListField(child=serializers.FloatField(), min_length=1, max_length=4096)
    quantileMax = serializers.FloatField(required=False, allow_null=True, default=None)  # noqa: N815
    quantileMin = serializers.FloatField(required=False, allow_null=True, default=None)  # noqa: N815
    quantileFraction = serializers.FloatField(  # noqa: N815
        required=False, allow_null=True, default=None, min_value=0, max_value=1
    )

    def validate(self, data: dict) -> dict:
        if len(data["tokens"]) != len(data["values"]):
            raise serializers.ValidationError("tokens and values must have the same length.")
        if any(not math.isfinite(value) for value in data["values"]):
            raise serializers.ValidationError("values must be finite numbers.")
        if (data["quantileMin"] is None) != (data["quantileMax"] is None):
            raise serializers.ValidationError("Give both quantileMin and quantileMax, or neither.")
        if data["quantileMin"] is not None and data["quantileMax"] < data["quantileMin"]:
            raise serializers.ValidationError("quantileMax must be at least quantileMin.")
        return data


class _ExplanationIn(serializers.Serializer):
    text = serializers.CharField(max_length=1000)
    methodName = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)  # noqa: N815
    modelName = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)  # noqa: N815


class _FeatureIn(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, max_value=selectors.MAX_INDEX)
    density = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    activations = _ActivationIn(many=True, required=False, max_length=1000)
    explanations = _ExplanationIn(many=True, required=False, max_length=100)
    topLogits = _LogitIn(many=True, required=False, allow_null=True, max_length=1000)  # noqa: N815
    bottomLogits = _LogitIn(many=True, required=False, allow_null=True, max_length=1000)  # noqa: N815


class FeatureUploadBatchIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    source = serializers.CharField(max_length=64)
    features = _FeatureIn(many=True, min_length=1, max_length=128)


class ActivationUploadBatchIn(serializers.Serializer):
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    source = serializers.CharField(max_length=64)
    index = IndexField()
    activations = _ActivationIn(many=True, min_length=1, max_length=1000)


def _uploaded_activation(data: dict) -> api_services.UploadedActivation:
    import numpy as np

    values = np.asarray(data["values"], dtype="<f4")
    if not np.isfinite(values).all():
        raise ValidationError({"activations": ["A value is too large for float32."]})
    interval = None
    if data["quantileMin"] is not None:
        interval = (data["quantileMin"], data["quantileMax"], data["quantileFraction"])
    return api_services.UploadedActivation(tokens=data["tokens"], values=values, interval=interval)


def _source(model_slug: str, source_slug: str) -> Source:
    source = selectors.source_by_address(model_slug, source_slug)
    if source is None:
        raise NotFound(f"There is no source {model_slug}/{source_slug}; create it with source-set/new first.")
    return source


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=_object(data))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class FeatureUploadBatch(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: upload features (with activations and explanations) to your source",
        request=FeatureUploadBatchIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = _valid(FeatureUploadBatchIn, request.data)
        source = _source(data["modelId"], data["source"])
        features = []
        for item in data["features"]:
            features.append(
                api_services.UploadedFeature(
                    index=item["index"],
                    density=item.get("density"),
                    top_logits=[dict(logit) for logit in item["topLogits"]] if item.get("topLogits") else None,
                    bottom_logits=[dict(logit) for logit in item["bottomLogits"]] if item.get("bottomLogits") else None,
                    activations=[_uploaded_activation(a) for a in item.get("activations", [])],
                    explanations=[
                        api_services.UploadedExplanation(
                            text=e["text"], method=e.get("methodName") or "", explainer_model=e.get("modelName") or ""
                        )
                        for e in item.get("explanations", [])
                    ],
                )
            )
        counts = api_services.features_upload(source=source, features=features, user=request.user)
        return Response(
            {
                "success": True,
                "modelId": source.model.slug,
                "source": source.slug,
                "features": counts.features,
                "activations": counts.activations,
                "explanations": counts.explanations,
            }
        )


class ActivationUploadBatch(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: add activation examples to a feature of your source",
        request=ActivationUploadBatchIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = _valid(ActivationUploadBatchIn, request.data)
        feature = _feature(data["modelId"], data["source"], data["index"])
        activations = [_uploaded_activation(a) for a in data["activations"]]
        count = api_services.activations_append(feature=feature, activations=activations, user=request.user)
        return Response({"success": True, "count": count})


# --- Models and source sets ----------------------------------------------------------------------


class ModelNewIn(serializers.Serializer):
    id = serializers.CharField(max_length=64, validators=[slug_validator])
    layers = serializers.IntegerField(min_value=1, max_value=api_services.MAX_LAYERS)
    displayName = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)  # noqa: N815
    url = serializers.CharField(max_length=1000, required=False, allow_null=True, allow_blank=True)


def _model_json(model: LanguageModel) -> dict:
    return {
        "id": model.slug,
        "displayName": model.display_name,
        "displayNameShort": model.display_name,
        "layers": model.n_layers,
        "neuronsPerLayer": model.d_mlp,
        "dimension": model.d_model or None,
        "website": None,
        "creatorId": model.created_by.username if model.created_by_id else CREATOR_ID,
        "visibility": "UNLISTED",
        "inferenceEnabled": bool(model.path),
        "createdAt": model.created_at,
    }


class ModelNew(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: create a model (by name, without a checkpoint)",
        request=ModelNewIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = _valid(ModelNewIn, request.data)
        model = api_services.model_placeholder_create(
            slug=data["id"],
            n_layers=data["layers"],
            display_name=data.get("displayName") or "",
            description=data.get("url") or "",
            created_by=request.user,
        )
        return Response(_model_json(model))


class SourceSetNewIn(serializers.Serializer):
    name = serializers.CharField(max_length=64, validators=[slug_validator])
    modelId = serializers.CharField(max_length=64)  # noqa: N815
    description = serializers.CharField(max_length=2000, required=False, allow_null=True, allow_blank=True)
    url = serializers.CharField(max_length=1000, required=False, allow_null=True, allow_blank=True)


def _source_set_json(model: LanguageModel, name: str, sources: list[Source]) -> dict:
    config = sources[0].config if sources else {}
    return {
        "modelId": model.slug,
        "name": name,
        "description": config.get("description", ""),
        "urls": config.get("urls", []),
        "creatorName": CREATOR_ID,
        "visibility": "UNLISTED",
        "hasDashboards": True,
        "sources": [{"id": source.slug, "modelId": model.slug, "setName": source.set_name} for source in sources],
    }


class SourceSetNew(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: create a source set (one source per layer, yours to upload to)",
        request=SourceSetNewIn,
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = _valid(SourceSetNewIn, request.data)
        model = _model(data["modelId"])
        sources = api_services.source_set_create(
            model=model,
            name=data["name"],
            user=request.user,
            description=data.get("description") or "",
            urls=[data["url"]] if data.get("url") else [],
        )
        return Response(_source_set_json(model, data["name"], sources))


class SourceSetGet(CompatView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Neuronpedia: a source set and its sources",
        parameters=[
            OpenApiParameter("model_slug", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={200: ANY_JSON, **ERRORS},
        tags=["neuronpedia"],
    )
    def get(self, request: Request, model_slug: str, name: str) -> Response:
        model = _model(model_slug)
        sources = list(model.sources.filter(set_name=name).order_by("layer", "slug"))
        if not sources:
            raise NotFound(f"{model.slug} has no source set {name}.")
        return Response(_source_set_json(model, name, sources))


# --- Lists ----------------------------------------------------------------------------------------


def _list_json(feature_list: FeatureList) -> dict:
    return {
        "id": str(feature_list.pk),
        "name": feature_list.name,
        "description": feature_list.description,
        "userId": feature_list.owner.username,
        "isPublic": feature_list.is_public,
        "defaultTestText": None,
        "createdAt": feature_list.created_at,
        "updatedAt": feature_list.updated_at,
    }


def _item_json(item: FeatureListItem) -> dict:
    feature = item.feature
    return {
        "modelId": feature.source.model.slug,
        "layer": feature.source.slug,
        "index": str(feature.index),
        "listId": str(item.feature_list_id),
        "description": item.note,
        "addedAt": item.added_at,
    }


def _list_id(data: dict) -> int:
    value = data.get("listId")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise NotFound("There is no such list.")
    return int(value)


def _visible_list(request: Request, data: dict) -> FeatureList:
    feature_list = selectors.by_id(selectors.lists_visible_to(request.user), _list_id(data))
    if feature_list is None:
        raise NotFound("There is no such list, or it is private.")
    return feature_list


class ListNewIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ListNew(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Neuronpedia: create a list", request=ListNewIn, responses={200: ANY_JSON, **ERRORS},
                   tags=["neuronpedia"])  # fmt: skip
    def post(self, request: Request) -> Response:
        data = _valid(ListNewIn, request.data)
        rate_limit_consume(action="list", key=str(request.user.pk))
        feature_list = wiki.list_create(owner=request.user, name=data["name"], description=data["description"])
        return Response(_list_json(feature_list))


class ListAddFeatures(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Neuronpedia: add features to your list",
        request=ListAddFeaturesIn,
        responses={200: A_LIST, **ERRORS},
        tags=["neuronpedia"],
    )
    def post(self, request: Request) -> Response:
        data = _object(request.data)
        feature_list = _visible_list(request, data)
        wanted = data.get("featuresToAdd")
        if not isinstance(wanted, list) or not wanted or len(wanted) > 1000:
            raise ValidationError({"featuresToAdd": ["A list of 1 to 1,000 {modelId, layer, index, description}."]})
        if not all(isinstance(item, dict) for item in wanted):
            raise ValidationError({"featuresToAdd": ["Each item is {modelId, layer, index, description}."]})
        features = [_feature(item.get("modelId"), item.get("layer"), item.get("index")) for item in wanted]
        rate_limit_consume(action="list", key=str(request.user.pk))
        added = []
        for feature, item in zip(features, wanted, strict=True):
            note = item.get("description") if isinstance(item.get("description"), str) else ""
            added.append(
                wiki.list_add_feature(feature_list=feature_list, feature=feature, user=request.user, note=note or "")
            )
        items = FeatureListItem.objects.select_related("feature__source__model").filter(pk__in=[i.pk for i in added])
        by_pk = {item.pk: item for item in items}
        return Response([_item_json(by_pk[item.pk]) for item in added])


class ListGet(CompatView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(summary="Neuronpedia: a list and its features", request=ListGetIn,
                   responses={200: ANY_JSON, **ERRORS}, tags=["neuronpedia"])  # fmt: skip
    def post(self, request: Request) -> Response:
        feature_list = _visible_list(request, _object(request.data))
        items = (
            FeatureListItem.objects.filter(feature_list=feature_list)
            .select_related("feature__source__model")
            .order_by("added_at", "pk")
        )
        neurons = [_item_json(item) for item in items]
        return Response({**_list_json(feature_list), "neurons": neurons, "activations": []})


class ListOwned(CompatView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Neuronpedia: your lists", request=None, responses={200: A_LIST, **ERRORS},
                   tags=["neuronpedia"])  # fmt: skip
    def post(self, request: Request) -> Response:
        lists = FeatureList.objects.filter(owner=request.user).select_related("owner").order_by("-updated_at")
        return Response([_list_json(feature_list) for feature_list in lists])
