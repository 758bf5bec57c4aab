"""The version of a feature's page (front/page_cache.py): bumped after every write that changes what it shows."""

from collections.abc import Iterable

from django.db.models import F

from features.models import Feature


def feature_page_changed(feature_ids: Iterable[int | None]) -> None:
    """Bump the features' `page_version`, so that no reader is served their page as cached before the write.
    Call it after the write, in its transaction where it has one: a reader who read the old version and then the
    new content only caches the new content under the old key, never the reverse."""
    ids = {pk for pk in feature_ids if pk is not None}
    if ids:
        Feature.objects.filter(pk__in=ids).update(page_version=F("page_version") + 1)
