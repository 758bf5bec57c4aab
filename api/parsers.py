"""Request bodies with a size limit: DRF's parsers read a body whole, whatever its length."""

import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .errors import PayloadTooLarge


def _read_bounded(stream, parser_context: dict | None, limit: int) -> bytes:
    request = (parser_context or {}).get("request")
    length = request.META.get("CONTENT_LENGTH") if request is not None else None
    try:
        if length and int(length) > limit:
            raise PayloadTooLarge(f"The body is {int(length):,} bytes; the limit is {limit:,}.")
    except ValueError:
        pass
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise PayloadTooLarge(f"The body is over the limit of {limit:,} bytes.")
    return data


def _reject_constant(name: str):
    raise ParseError(f"JSON does not allow {name}; send numbers as finite values.")


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = _read_bounded(stream, parser_context, settings.API_MAX_JSON_BYTES)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(data.decode(encoding), parse_constant=_reject_constant)
        except ParseError:
            raise
        except UnicodeDecodeError as error:
            raise ParseError(f"The body is not valid {encoding}: {error.reason} at byte {error.start}.") from error
        except ValueError as error:
            raise ParseError(f"The body is not valid JSON: {error}") from error
        except RecursionError as error:
            raise ParseError("The JSON is nested too deeply.") from error


class BoundedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        from django.http import QueryDict

        data = _read_bounded(stream, parser_context, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        return QueryDict(data, encoding=encoding)
