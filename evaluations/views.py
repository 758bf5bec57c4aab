"""The comparison pages: every dictionary on one hook of a model, side by side."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from features.addresses import Missing, missing_model
from features.models import LanguageModel
from features.page_responses import not_found_page

from . import selectors


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
