"""The path converters of the API's URLs, registered on import: np_slug (a model or source slug) and np_id (an id
or a feature index). SLUG is the slug's pattern, for the re_path routes."""

from django.urls import register_converter


class SlugConverter:
    """A model or source slug: letters, digits, '.', '_' and '-' (anything else cannot name one)."""

    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class IdConverter:
    """A database id or feature index. Up to 19 digits; out-of-range values are simply not found."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(SlugConverter, "np_slug")
register_converter(IdConverter, "np_id")

SLUG = SlugConverter.regex
