"""What the views of /api/v1/ share: the error responses they document in the schema, and the steps of a thin
view (validate the input, 404 for what is not there, the wiki's rate limit for a write)."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

from accounts.rate_limits import rate_limit_consume

from .. import serializers

ERRORS = {
    400: OpenApiResponse(serializers.ErrorOut, description="Invalid input"),
    413: OpenApiResponse(serializers.ErrorOut, description="The body is over the size limit"),
    401: OpenApiResponse(serializers.ErrorOut, description="Not authenticated, or a bad API key"),
    403: OpenApiResponse(serializers.ErrorOut, description="Not allowed"),
    404: OpenApiResponse(serializers.ErrorOut, description="Not found"),
    429: OpenApiResponse(serializers.ErrorOut, description="Throttled"),
}
READ_ERRORS = {code: ERRORS[code] for code in (400, 401, 404, 429)}


def schema_errors(*codes: int) -> dict:
    """Error responses for the schema; an endpoint that reads a body (400) may also refuse its size (413)."""
    return {code: ERRORS[code] for code in (*codes, 413) if code in codes or (code == 413 and 400 in codes)}


def consume_wiki_rate(request: Request, action: str) -> None:
    """The wiki's own rate limit for this kind of write (WIKI_RATE_LIMITS), as on the web pages."""
    rate_limit_consume(action=action, key=str(request.user.pk))


def or_404(row, message: str):
    if row is None:
        raise NotFound(message)
    return row


def validated(serializer_class, data, *, refuse_unknown_keys: bool = True, **kwargs) -> dict:
    """A request body checked by its input serializer. A JSON object with keys the endpoint does not read is
    refused, naming them: a misspelt key ("source" for "sources") must not be quietly ignored and change the
    answer. (Form bodies carry framework keys, and Neuronpedia's routes accept what its client sends.)"""
    if not isinstance(data, dict) and not hasattr(data, "getlist"):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=data, **kwargs)
    if refuse_unknown_keys and isinstance(data, dict):
        known = {name for name, field in serializer.fields.items() if not field.read_only}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            reads = ", ".join(sorted(known)) or "no fields"
            raise ValidationError({key: [f"Unknown field: this endpoint reads {reads}."] for key in unknown})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
