"""What every view of Neuronpedia's paths shares: the base view (JSON bodies), the error responses of the schema,
and the readers of the fields Neuronpedia's client sends (modelId, layer or source, index), which refuse what they
cannot read with our usual error bodies (400, or 404 for what is not there)."""

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.views import APIView

from features.models import Feature, LanguageModel

from .. import selectors
from ..parsers import BoundedJSONParser
from ..serializers import ErrorOut
from ..views.base import validated as views_validated

ERRORS = {code: OpenApiResponse(ErrorOut) for code in (400, 401, 403, 404, 413, 429)}
ANY_JSON = OpenApiResponse(OpenApiTypes.OBJECT, description="Neuronpedia's shape (see api/neuronpedia/)")


class CompatView(APIView):
    """Neuronpedia's paths: same authentication (X-Api-Key or session) and throttles as /api/v1/. Bodies are
    JSON, as the client sends them."""

    parser_classes = [BoundedJSONParser]


@extend_schema_field({"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^[0-9]+$"}]})
class IndexField(serializers.CharField):
    """A feature's index as Neuronpedia's clients send it: a whole number, or its digits as a string."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("help_text", "A whole number, as a string or a number")
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(r"^[0-9]+$", "The index is a whole number (or its string)."))


def json_object(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    return data


def validated(serializer_class, data) -> dict:
    """The API's one body check (api/views/base.py), for a JSON object; Neuronpedia's client may send keys
    these routes do not read, so they are not refused here."""
    return views_validated(serializer_class, json_object(data), refuse_unknown_keys=False)


def model_by_id(slug) -> LanguageModel:
    if not isinstance(slug, str) or not slug:
        raise ValidationError({"modelId": ["Give the model's id."]})
    model = LanguageModel.objects.filter(slug=slug).first()
    if model is None:
        raise NotFound(f"There is no model {slug}.")
    return model


def feature_index(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValidationError({"index": ["The index is a whole number (or its string)."]})
    index = int(value)
    if index > selectors.MAX_INDEX:
        raise NotFound(f"There is no feature {index}.")
    return index


def feature_at(model_slug, source_slug, index) -> Feature:
    """The feature at Neuronpedia's address (modelId, layer, index), with its source and model."""
    if not isinstance(source_slug, str) or not source_slug:
        raise ValidationError({"source": ["Give the source (Neuronpedia's `layer`), e.g. 6-res-jb."]})
    if not isinstance(model_slug, str) or not model_slug:
        raise ValidationError({"modelId": ["Give the model's id."]})
    index = feature_index(index)
    queryset = Feature.objects.select_related("source__model")
    feature = selectors.feature_by_address(queryset, model_slug, source_slug, index)
    if feature is None:
        raise NotFound(f"There is no feature {model_slug}/{source_slug}/{index}.")
    return feature
