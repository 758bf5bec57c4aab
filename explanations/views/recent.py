"""Recent changes across the wiki, and a person's watchlist."""

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from features.models import LanguageModel

from .. import selectors

# --- Recent changes, watchlist, search -------------------------------------------------------


def _before(request: HttpRequest) -> datetime | None:
    value = request.GET.get("before", "")
    return parse_datetime(value) if value else None


@require_GET
def recent_changes(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in selectors.CHANGE_KINDS else ""
    model_slug = request.GET.get("model", "")
    people_only = request.GET.get("by") == "people"
    changes = selectors.recent_changes(
        model_slug=model_slug, kind=kind, people_only=people_only, before=_before(request)
    )
    context = {
        "changes": changes,
        "kind": kind,
        "kinds": selectors.CHANGE_KINDS,
        "model_slug": model_slug,
        "models": LanguageModel.objects.order_by("slug").values_list("slug", flat=True),
        "people_only": people_only,
        "title": "Recent changes",
    }
    return render(request, "explanations/recent_changes.html", context)


@login_required
@require_GET
def watchlist(request: HttpRequest) -> HttpResponse:
    changes = selectors.recent_changes(watcher=request.user, before=_before(request))
    watched = request.user.watches.select_related("feature__source__model").order_by("-created_at")
    context = {"changes": changes, "watched": watched, "title": "Your watchlist"}
    return render(request, "explanations/watchlist.html", context)
