"""The whole feature page, cached for anonymous readers.

A reader who is not signed in, asks for the page with no query string and has no messages waiting gets the
page from the `feature_pages` cache after one small query: the feature's id, its `page_version` and
`updated_at`, what its page shows of its source, and whether its neighbours exist. All of them are in the key,
so the cache is never invalidated, only left behind:

- `updated_at` changes with every write of the dashboard (see features/dashboard_html.py);
- `page_version` is bumped by `features.services.page_versions.feature_page_changed` after every write that changes the
  rest of the page: the services that write explanations, votes, comments, scores and locks call it where
  they write with a queryset (`update`, `bulk_create`), and the receivers below call it on every save and
  delete of those rows (the admin's included), and when a user who wrote on a feature is renamed or deleted;
- the neighbours' existence is read, not tracked, since runs and imports create features in bulk.

The version is read before the page, and bumped after the write: a reader caught between them caches the new
page under the old key at worst, never the old page under the new one.

The cached copy has a placeholder where each CSRF token was; each response gets the reader's own token.
"""

import hashlib
import re

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.db.models import Exists, OuterRef
from django.db.models.signals import post_delete, post_save, pre_delete
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

from explanations.models import Comment, Explanation, ExplanationRevision, FeatureLock
from features.dashboard_html import CACHE_ALIAS
from features.dashboard_html import MARKUP_VERSION as DASHBOARD_MARKUP_VERSION
from features.models import Feature
from features.services.page_versions import feature_page_changed
from neuronpedia.db import PreparedQuery
from scoring.models import ExplanationScore

# Part of every key: bump it when the page's markup changes, so that a shared cache (Redis) never serves a
# deployment the pages of the one before.
MARKUP_VERSION = 4  # 2: stored as bytes, and the source fact spans two columns; 3: the best explanation heads the page;
# 4: compact examples, the histogram in the header

# Where the cached copy had a CSRF token. Derived from the secret key, so that no text a user writes on the page
# can contain it and be given a reader's token.
CSRF_PLACEHOLDER = "csrf-" + hashlib.sha256(f"feature-page-csrf:{settings.SECRET_KEY}".encode()).hexdigest()
_CSRF_PLACEHOLDER_BYTES = CSRF_PLACEHOLDER.encode()
# What {% csrf_token %} renders (django.template.defaulttags.CsrfTokenNode), token and all.
_CSRF_INPUT = re.compile(r'(<input type="hidden" name="csrfmiddlewaretoken" value=")[A-Za-z0-9]+(">)')


def _page_state(model: str, source: str, index: int):
    siblings = Feature.objects.filter(source=OuterRef("source"))
    return (
        Feature.objects.filter(source__model__slug=model, source__slug=source, index=index)
        .annotate(
            has_previous=Exists(siblings.filter(index=OuterRef("index") - 1)),
            has_next=Exists(siblings.filter(index=OuterRef("index") + 1)),
        )
        .order_by()
        .values_list(
            *["pk", "page_version", "updated_at", "source__kind", "source__hook_name", "has_previous", "has_next"]
        )
    )


_PAGE_STATE = PreparedQuery(_page_state, model="\x01model-sentinel", source="\x01source-sentinel", index=987_654_321)


def is_cacheable(request: HttpRequest) -> bool:
    """Only the page every anonymous reader gets alike: no query string (the log-in links carry the full path),
    no messages to show, nobody signed in."""
    return (
        request.method == "GET"
        and not request.META.get("QUERY_STRING")
        and not request.user.is_authenticated
        and len(get_messages(request)) == 0
    )


# A feature's index is a PositiveIntegerField: a larger number in an address names no feature, and the prepared
# query (which binds it as it is, unlike the ORM) would fail on it.
MAX_INDEX = 2**31 - 1


def page_key(model_slug: str, source_slug: str, index: int) -> str | None:
    """The cache key of the page as it is now, in one query; None when there is no such feature."""
    if index > MAX_INDEX:
        return None
    rows = _PAGE_STATE.rows(model=model_slug, source=source_slug, index=index)
    if not rows:
        return None
    digest = hashlib.sha256(repr((model_slug, source_slug, index, *rows[0])).encode()).hexdigest()
    return f"feature-page:{MARKUP_VERSION}:{DASHBOARD_MARKUP_VERSION}:{digest}"


def cached_page(request: HttpRequest, key: str) -> HttpResponse | None:
    content = caches[CACHE_ALIAS].get(key)
    if content is None:
        return None
    return HttpResponse(content.replace(_CSRF_PLACEHOLDER_BYTES, get_token(request).encode()))


def store_page(key: str, response: HttpResponse) -> None:
    """Kept as UTF-8 bytes: encoding the 150 kB page anew cost a cached view an eighth of its time."""
    if response.status_code != 200:
        return
    html = _CSRF_INPUT.sub(rf"\g<1>{CSRF_PLACEHOLDER}\g<2>", response.content.decode(response.charset))
    caches[CACHE_ALIAS].set(key, html.encode())


# --- Invalidation: every save and delete of what the page shows --------------------------------------------


def _explanation_features(explanation_ids) -> list[int]:
    return list(Explanation.objects.filter(pk__in=explanation_ids).values_list("feature_id", flat=True))


def _on_feature_row(sender, instance, **kwargs) -> None:  # Explanation, Comment, FeatureLock
    feature_page_changed([instance.feature_id])


def _on_explanation_row(sender, instance, **kwargs) -> None:  # ExplanationRevision, ExplanationScore
    feature_page_changed(_explanation_features([instance.explanation_id]))


def _features_written_by(user) -> set[int]:
    """The features whose page names the user: as an explanation's author or last editor, or a comment's."""
    return {
        *Explanation.objects.filter(author=user).values_list("feature_id", flat=True),
        *Explanation.objects.filter(current_revision__author=user).values_list("feature_id", flat=True),
        *Comment.objects.filter(author=user).values_list("feature_id", flat=True),
    }


def _on_user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # Signing in saves last_login, which no page shows; anything else may be a new username.
    if created or (update_fields is not None and set(update_fields) <= {"last_login", "password"}):
        return
    feature_page_changed(_features_written_by(instance))


def _on_user_deleted(sender, instance, **kwargs) -> None:
    # Sent inside the deletion's transaction, before it sets the user's explanations and comments authorless.
    feature_page_changed(_features_written_by(instance))


def connect_invalidation() -> None:
    for model in (Explanation, Comment, FeatureLock):
        post_save.connect(_on_feature_row, sender=model, dispatch_uid=f"feature-page-{model.__name__}-save")
        post_delete.connect(_on_feature_row, sender=model, dispatch_uid=f"feature-page-{model.__name__}-delete")
    for model in (ExplanationRevision, ExplanationScore):
        post_save.connect(_on_explanation_row, sender=model, dispatch_uid=f"feature-page-{model.__name__}-save")
        post_delete.connect(_on_explanation_row, sender=model, dispatch_uid=f"feature-page-{model.__name__}-delete")
    post_save.connect(_on_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="feature-page-user-save")
    pre_delete.connect(_on_user_deleted, sender=settings.AUTH_USER_MODEL, dispatch_uid="feature-page-user-delete")
