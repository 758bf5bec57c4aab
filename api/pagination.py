"""Cursor pagination: stable pages however fast rows are added, and no COUNT(*) over big tables."""

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as BadRequest
from rest_framework.pagination import CursorPagination

INVALID_CURSOR = "That cursor is not valid: follow the `next` and `previous` links of a page."
MAX_DATABASE_INT = 2**63 - 1


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = INVALID_CURSOR

    def get_page_size(self, request) -> int:
        """`page_size` must be a whole number from 1 (400 otherwise, where DRF would use the default in silence);
        above max_page_size it is capped."""
        text = request.query_params.get(self.page_size_query_param)
        if text is None:
            return self.page_size
        size = 0
        if text.isascii() and text.isdigit():
            digits = text.lstrip("0")
            size = int(digits or 0) if len(digits) <= 18 else self.max_page_size  # longer is a big number
        if size < 1:
            raise BadRequest({self.page_size_query_param: [f"A whole number from 1 (at most {self.max_page_size})."]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page, {self.page_size} by default; above {self.max_page_size}, {self.max_page_size}."
                )
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: str) -> None:
        """A cursor is signed by nobody: its position must be a value of the ordering field, or the query would
        fail (or overflow) in the database."""
        name = self.ordering[0].lstrip("-") if isinstance(self.ordering, list | tuple) else self.ordering.lstrip("-")
        try:
            field = self._model._meta.get_field("id" if name == "pk" else name)
        except FieldDoesNotExist:
            return
        try:
            value = field.to_python(position)
        except (ValidationError, ValueError, TypeError, OverflowError) as error:
            raise NotFound(INVALID_CURSOR) from error
        is_integer = isinstance(field, models.IntegerField | models.AutoField)
        if is_integer and not -MAX_DATABASE_INT <= value <= MAX_DATABASE_INT:
            raise NotFound(INVALID_CURSOR)
        if isinstance(field, models.FloatField) and value != value:  # NaN
            raise NotFound(INVALID_CURSOR)


class NewestFirst(IdCursorPagination):
    ordering = "-id"
