"""Feature families: a feature's counterparts in other dictionaries (the feature page's "This feature elsewhere"
panel, fetched with htmx) and the page of how one feature splits as width grows."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from features.addresses import Missing, locate
from features.models import Source
from features.page_responses import missing_page, not_found_page

from . import families


def _source_and_index(model_slug: str, source_slug: str, index: int) -> Source | Missing | str:
    source = Source.objects.select_related("model").filter(model__slug=model_slug, slug=source_slug).first()
    if source is None:
        return locate(model_slug, source_slug)
    if index >= source.n_features:
        return Missing(f"{source} has {source.n_features:,} features, numbered 0 to {source.n_features - 1:,}.")
    return source


def feature_elsewhere(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    found = _source_and_index(model_slug, source_slug, index)
    if not isinstance(found, Source):
        return missing_page(request, found) if isinstance(found, str) else not_found_page(request, found)
    context = {
        "source": found,
        "model": found.model,
        "index": index,
        "counterparts": families.feature_counterparts(found, index),
    }
    template = "evaluations/_elsewhere.html" if request.htmx else "evaluations/feature_elsewhere.html"
    return render(request, template, context)


def feature_family(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    found = _source_and_index(model_slug, source_slug, index)
    if not isinstance(found, Source):
        return missing_page(request, found) if isinstance(found, str) else not_found_page(request, found)
    family = families.feature_family(found, index)
    context = {"source": found, "model": found.model, "index": index, "family": family}
    return render(request, "evaluations/feature_family.html", context)
