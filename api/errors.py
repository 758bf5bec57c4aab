"""One shape for every error the API returns, whatever raised it:

    {"error": {"code": "not_found", "message": "There is no feature tiny-bert/0-mlp/99.", "details": null}}

`code` is stable and machine-readable (DRF's codes: invalid, parse_error, not_authenticated,
authentication_failed, permission_denied, not_found, method_not_allowed, throttled, ...), `message` is
meant for a person, `details` carries the per-field messages of a validation error, or the seconds to
wait of a throttled request. Django's own exceptions (Http404, PermissionDenied, ValidationError), the
wiki's rate limits and the pipeline's input errors are mapped here, so views simply raise them.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.rate_limits import RateLimited
from features.pipeline.errors import PipelineInputError

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class WikiRateLimited(exceptions.Throttled):
    """The wiki's own limits on writing (WIKI_RATE_LIMITS) apply through the API too."""

    def __init__(self, limited: RateLimited) -> None:
        super().__init__(wait=limited.retry_after, detail=str(limited))


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status_code: int, code: str, message: str, details=None) -> JsonResponse:
    """For the plain Django views under /api/ (the JSON 404 for unknown paths)."""
    return JsonResponse(error_body(code, message, details), status=status_code)


def _django_validation_details(error: DjangoValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {field: [str(message) for message in messages] for field, messages in error.message_dict.items()}
    return {"non_field_errors": list(error.messages)}


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    """Map the non-DRF exceptions a view may raise onto DRF's; None for an unexpected one."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or "You cannot do that.")
    if isinstance(exc, DjangoValidationError):
        if getattr(exc, "code", None) == "edit_conflict":
            return Conflict(" ".join(exc.messages))
        return exceptions.ValidationError(_django_validation_details(exc))
    if isinstance(exc, RateLimited):
        return WikiRateLimited(exc)
    if isinstance(exc, PipelineInputError) or type(exc).__name__ == "InferenceInputError":
        return exceptions.ValidationError({"non_field_errors": [str(exc)]})
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(str(exc) or PayloadTooLarge.default_detail)
    if isinstance(exc, TooManyFieldsSent | SuspiciousOperation):
        return exceptions.ParseError(str(exc) or "The request could not be read.")
    if isinstance(exc, OverflowError | DataError):
        # A number too large for the database (an id like 10**30 in a body or a cursor): bad input, not a crash.
        return exceptions.ValidationError({"non_field_errors": ["A number in the request is out of range."]})
    return None


def _message_and_details(exc: exceptions.APIException) -> tuple[str, object]:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict) and set(detail) == {"non_field_errors"} and len(detail["non_field_errors"]) == 1:
            return str(detail["non_field_errors"][0]), detail
        if isinstance(detail, list) and len(detail) == 1:
            return str(detail[0]), {"non_field_errors": detail}
        return "Some of the input is not valid; see details.", detail if isinstance(detail, dict) else {
            "non_field_errors": detail
        }
    if isinstance(exc, exceptions.Throttled):
        return str(exc.detail), {"retry_after": exc.wait}
    return str(exc.detail), None


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc: Exception, context: dict) -> Response:
    api_exception = _as_api_exception(exc)
    if api_exception is None:
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "an API view", exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on our side; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    response = drf_exception_handler(api_exception, context)
    message, details = _message_and_details(api_exception)
    response.data = error_body(_code(api_exception), message, details)
    return response


@csrf_exempt  # it changes nothing; without this a cookie-carrying POST would get Django's HTML CSRF page
def not_found(request: HttpRequest, unmatched: str = "") -> JsonResponse:
    """Every /api/ path that matches no endpoint: a JSON 404, never the wiki's HTML page."""
    message = f"There is no API endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            message += f" Did you mean {request.path}/ (with the trailing slash)?"
    return error_response(404, "not_found", message)
