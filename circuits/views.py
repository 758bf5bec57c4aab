from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .models import Graph


def graph_detail(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    graph = get_object_or_404(Graph.objects.select_related("model"), model__slug=model_slug, slug=graph_slug)
    return render(request, "circuits/graph_detail.html", {"graph": graph})
