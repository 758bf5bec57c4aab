"""Search over explanations and comments (full-text and by meaning)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from features.models import LanguageModel

from .. import search_results


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    # Searched and shown as typed: anything the search reads differently is said on the page (results' notes).
    query = request.GET.get("q", "")
    kind = request.GET.get("kind", "all")
    kind = kind if kind in search_results.SEARCH_KINDS else "all"
    mode = request.GET.get("mode", "text")
    mode = mode if mode in search_results.SEARCH_MODES else "text"
    model_slug = request.GET.get("model", "")
    source_slug = request.GET.get("source", "")
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    results = None
    if query.strip():
        scope = {"model_slug": model_slug, "source_slug": source_slug, "page": page}
        if mode == "semantic":
            results = search_results.semantic_search(query=query, **scope)
        else:
            results = search_results.search_wiki(query=query, kind=kind, **scope)
    context = {
        "query": query,
        "kind": kind,
        "kinds": search_results.SEARCH_KINDS,
        "mode": mode,
        "modes": search_results.SEARCH_MODES,
        "model_slug": model_slug,
        "source_slug": source_slug,
        "models": LanguageModel.objects.order_by("slug").values_list("slug", flat=True),
        "results": results,
        "page": page,
        "first_number": (max(1, page) - 1) * search_results.SEARCH_PAGE_SIZE + 1,
    }
    return render(request, "explanations/search.html", context)
