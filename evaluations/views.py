"""The comparison pages (every dictionary on one hook of a model, side by side), and feature families: a
feature's counterparts in other dictionaries (the feature page's "This feature elsewhere"
panel, fetched with htmx) and the page of how one feature splits as width grows."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from features.addresses import Missing, locate, missing_model
from features.models import LanguageModel, Source
from features.page_responses import missing_page, not_found_page

from . import families, selectors


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


def compare_index(request: HttpRequest, model_slug: str) -> HttpResponse:
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return not_found_page(request, missing_model(model_slug))
    hooks = [
        (hook, reverse("evaluations:compare", args=[model.slug, hook]), len(selectors.dictionary_sources(model, hook)))
        for hook in selectors.compared_hooks(model)
    ]
    return render(request, "evaluations/compare_index.html", {"model": model, "hooks": hooks})


def compare(request: HttpRequest, model_slug: str, hook_name: str) -> HttpResponse:
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return not_found_page(request, missing_model(model_slug))
    comparison = selectors.hook_comparison(model, hook_name)
    if not comparison.rows:
        hooks = selectors.compared_hooks(model)
        return not_found_page(
            request,
            Missing(
                message=f"{model.slug} has no dictionary on {hook_name}.",
                suggestions_label="Hooks with dictionaries" if hooks else "",
                suggestions=[(hook, reverse("evaluations:compare", args=[model.slug, hook])) for hook in hooks],
            ),
        )
    context = {
        "model": model,
        "comparison": comparison,
        "sample_size": selectors.SAMPLE_SIZE,
    }
    return render(request, "evaluations/compare.html", context)
