"""The pages that show several domains at once: home, the wiki's search (explanations, comments and graphs), a
source's feature index, a feature (its dashboard, the wiki's explanations and discussion, scores), a pipeline run
of any kind, the top features for a text, and a person's profile (their contributions and their game)."""

from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import wiki_write
from accounts.models import user_is_banned
from circuits.models import Graph
from circuits.selectors import feature_connections as connections_of
from circuits.services.graph_search import graph_search
from circuits.services.pages import graphs_with_feature
from evaluations.selectors import compare_url, source_quality
from explanations import search_results
from explanations.core import websearch
from explanations.models import Comment, Explanation, ExplanationRevision
from explanations.selectors import best_explanation_texts, feature_community, profile_activity
from features import selectors as feature_selectors
from features.addresses import locate, missing_model
from features.core.highlighting import token_spans
from features.dashboard_html import feature_dashboard_html
from features.models import LanguageModel, PipelineRun, Source
from features.page_responses import inference_refusal, inference_response, missing_page, not_found_page
from features.services.runs import broker_answers
from features.services.runs import run_resume as run_resume_any

from . import page_cache, selectors

TEXT_FEATURES_K = 10
# A profile lists the most recent contributions; the totals above each list count them all.
PROFILE_LIST_LIMIT = 50


SHOWN_HOME_GRAPHS = 4


def home(request: HttpRequest) -> HttpResponse:
    models = list(feature_selectors.model_list().prefetch_related("sources"))
    context = {"models": models, "features": [], "best_explained": [], "most_discussed": [], "graphs": []}
    if models:
        context["graphs"] = list(Graph.objects.select_related("model").order_by("-created_at")[:SHOWN_HOME_GRAPHS])
        context["features"] = selectors.recently_active_features()
        selectors.best_explanations_of(context["features"])
        context["best_explained"] = selectors.best_explained_features()
        context["most_discussed"] = selectors.most_discussed_features()
    return render(request, "front/home.html", context)


SEARCH_KINDS = {
    "all": "Everything",
    "explanations": "Explanations",
    "comments": "Comments",
    "graphs": "Attribution graphs",
}
# "Everything" shows the best few graphs above the explanations and comments (on its first page): their ranks
# are on another scale (circuits/services/graph_search.py), so the two lists are not merged into one.
GRAPHS_IN_ALL = 5


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Full-text search over explanations and comments (explanations.search_results), search by meaning over
    explanations, and graphs by their words (circuits.services.graph_search). The query is searched and shown as
    typed: anything the search reads differently is said on the page (the query's notes)."""
    query = request.GET.get("q", "")
    kind = request.GET.get("kind", "all")
    kind = kind if kind in SEARCH_KINDS else "all"
    mode = request.GET.get("mode", "text")
    mode = mode if mode in search_results.SEARCH_MODES else "text"
    model_slug = request.GET.get("model", "")
    source_slug = request.GET.get("source", "")
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    page = max(1, min(page, search_results.SEARCH_MAX_PAGES))
    page_size = search_results.SEARCH_PAGE_SIZE
    results = graphs = None
    query_notes: tuple[str, ...] = ()
    problem, has_next = "", False
    if query.strip():
        scope = {"model_slug": model_slug, "source_slug": source_slug}
        if kind == "graphs":
            parsed = websearch.parse(query)
            query_notes, problem = parsed.notes, parsed.problem
            if mode == "semantic":
                query_notes += ("Graphs are searched by their words; search by meaning covers explanations only.",)
            graphs = graph_search(query=parsed, **scope, offset=(page - 1) * page_size, limit=page_size)
            has_next = graphs.total > page * page_size and page < search_results.SEARCH_MAX_PAGES
        else:
            if mode == "semantic":
                results = search_results.semantic_search(query=query, **scope, page=page)
            else:
                results = search_results.search_wiki(query=query, kind=kind, **scope, page=page)
                if kind == "all" and page == 1 and not results.problem:
                    graphs = graph_search(query=query, **scope, limit=GRAPHS_IN_ALL)
            query_notes, problem, has_next = results.query_notes, results.problem, results.has_next
    context = {
        "query": query,
        "kind": kind,
        "kinds": SEARCH_KINDS,
        "mode": mode,
        "modes": search_results.SEARCH_MODES,
        "model_slug": model_slug,
        "source_slug": source_slug,
        "models": LanguageModel.objects.order_by("slug").values_list("slug", flat=True),
        "searched": bool(query.strip()),
        "results": results,
        "graphs": graphs,
        "query_notes": query_notes,
        "problem": problem,
        "has_next": has_next,
        "page": page,
        "first_number": (page - 1) * page_size + 1,
    }
    return render(request, "front/search.html", context)


@dataclass
class SortColumn:
    label: str
    sort: str  # what clicking the header sorts by
    aria_sort: str  # "ascending", "descending", or "" when the table is not sorted by this column


def _sort_columns(current: str) -> list[SortColumn]:
    """Headers of the feature index. A click on the current column reverses it; the first click on a
    numeric column sorts highest first, since the strongest features are what people look for."""
    columns = []
    for label, name in [("Index", "index"), ("Max activation", "max_activation"), ("Density", "density")]:
        first_click = name if name == "index" else f"-{name}"
        if current == name:
            columns.append(SortColumn(label, first_click if name == "index" else f"-{name}", "ascending"))
        elif current == f"-{name}":
            columns.append(SortColumn(label, name, "descending"))
        else:
            columns.append(SortColumn(label, first_click, ""))
    return columns


def source_detail(request: HttpRequest, model_slug: str, source_slug: str) -> HttpResponse:
    source = (
        Source.objects.select_related("model", "dashboards_run")
        .filter(model__slug=model_slug, slug=source_slug)
        .first()
    )
    if source is None:
        return missing_page(request, locate(model_slug, source_slug))
    sort = request.GET.get("sort", selectors.DEFAULT_SOURCE_SORT)
    if sort not in selectors.SOURCE_SORTS:
        sort = selectors.DEFAULT_SOURCE_SORT
    features = selectors.source_feature_index(source, sort=sort)
    page = Paginator(features, settings.FEATURES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"model": source.model, "source": source, "page": page, "sort": sort, "columns": _sort_columns(sort)}
    if source.kind != Source.Kind.NEURONS:  # a dictionary: its quality figures and its hook's comparison page
        context.update(quality=source_quality(source), compare_url=compare_url(source), show_quality=True)
    run = source.dashboards_run  # the run whose dashboards the page lists: its checks and manifest
    if run is not None:
        context.update(
            checks_run=run, checks_warnings=run.warnings_for(source.slug), checks_manifest=run.manifest_for(source.slug)
        )
    return render(request, "front/source_detail.html", context)


SHOWN_FEATURE_GRAPHS = 20


def feature_detail(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    key = page_cache.page_key(model_slug, source_slug, index) if page_cache.is_cacheable(request) else None
    if key is not None:
        cached = page_cache.cached_page(request, key)
        if cached is not None:
            return cached
    feature = selectors.feature_for_page(model_slug, source_slug, index)
    if feature is None:
        return missing_page(request, locate(model_slug, source_slug, index))
    context = {
        "feature": feature,
        "source": feature.source,
        "model": feature.source.model,
        "previous_index": feature.previous_index,
        "next_index": feature.next_index,
        "community": feature_community(feature=feature, user=request.user),
        "dashboard": feature_dashboard_html(feature),
        # A graph import or deletion bumps the feature's page_version (circuits/services/imports.py, models.py).
        "graphs": graphs_with_feature(feature)[:SHOWN_FEATURE_GRAPHS],
    }
    response = render(request, "front/feature_detail.html", context)
    if key is not None:
        page_cache.store_page(key, response)
    return response


def _feature_panel(
    request: HttpRequest, model_slug: str, source_slug: str, index: int, *, name: str, read
) -> HttpResponse:
    """A panel the cached feature page fetches with htmx, since what it shows changes apart from the page
    (front/_<name>.html), or without JavaScript a page of its own (front/feature_<name>.html). `read(feature)`
    gives the panel's data, under the context name `name`."""
    feature = feature_selectors.feature_at(model_slug, source_slug, index)
    if feature is None:
        return missing_page(request, locate(model_slug, source_slug, index))
    context = {"feature": feature, "source": feature.source, "model": feature.source.model, name: read(feature)}
    return render(request, f"front/_{name}.html" if request.htmx else f"front/feature_{name}.html", context)


def feature_similar(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    """The features closest to this one, each with its best explanation."""
    return _feature_panel(request, model_slug, source_slug, index, name="similar", read=selectors.similar_features)


def feature_connections(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    """The features this one reads from and writes to (virtual weights) and those it fires with (co-activation),
    each with its best explanation."""
    return _feature_panel(request, model_slug, source_slug, index, name="connections", read=connections_of)


def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = PipelineRun.objects.select_related("model").filter(pk=pk).first()
    if run is None:
        raise Http404(f"There is no pipeline run #{pk}.")
    context = {
        "run": run,
        "shards": run.shards.all()[:SHOWN_SHARDS],
        "shard_counts": dict(run.shards.values_list("status").annotate(count=Count("pk")).order_by()),
        "sources": _run_sources(run),
        # An attribution run's graph, once stored (graph_compute writes it in the run's last step).
        "graph": run.graphs.first() if run.kind == PipelineRun.Kind.ATTRIBUTION else None,
        "can_resume": _can_resume(request, run),
        # A run waiting on workers says so when their broker (Redis) is not answering.
        "broker_down": not run.is_finished and not run.params.get("sync") and not broker_answers(),
    }
    # htmx polls for the progress block alone; see _run_progress.html.
    template = "features/_run_progress.html" if request.htmx else "front/run_detail.html"
    return render(request, template, context)


SHOWN_SHARDS = 100


def _run_sources(run: PipelineRun) -> list[Source]:
    """What a finished activation run computed: its layers' neurons and its dictionaries."""
    if run.status != PipelineRun.Status.SUCCEEDED or run.model is None:
        return []
    neuron_slugs = [f"{layer}-mlp" for layer in run.params.get("layers", [])]
    dictionaries = run.params.get("dictionary_sources", [])
    return list(run.model.sources.filter(Q(slug__in=neuron_slugs) | Q(pk__in=dictionaries)))


def _can_resume(request: HttpRequest, run: PipelineRun) -> bool:
    if not (run.status == PipelineRun.Status.FAILED or run.is_stalled):
        return False
    return request.user.is_staff or (request.user.is_authenticated and run.created_by_id == request.user.pk)


@wiki_write(rate="run")
@require_POST
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(PipelineRun, pk=pk)
    if not (request.user.is_staff or run.created_by_id == request.user.pk):
        raise PermissionDenied("Only the person who started a run, or staff, can resume it.")
    if run.status != PipelineRun.Status.FAILED and not run.is_stalled:
        messages.info(request, f"Run #{run.pk} is {run.get_status_display().lower()}: there is nothing to resume.")
        return redirect(run)
    resumed = run_resume_any(run_id=run.pk)  # any kind: each registers how it resumes with the run engine
    messages.success(request, resumed.summary)
    return redirect(run)


@dataclass
class TokenRow:
    position: int
    span: object  # highlighting.TokenSpan
    hits: list


def text_features(request: HttpRequest, model_slug: str) -> HttpResponse:
    """The features of one source, or of all the model's sources, that fire most on a text."""
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return not_found_page(request, missing_model(model_slug))
    sources = list(feature_selectors.model_sources(model))
    data = request.POST if request.method == "POST" else request.GET
    context = {"model": model, "sources": sources, "text": data.get("text", ""), "source_slug": data.get("source", "")}
    if request.method != "POST":
        return render(request, "front/text_features.html", context)
    from features import inference  # imports torch: only when a text is sent

    refused = inference_refusal(request)
    if refused is None:
        try:
            chosen = None
            if context["source_slug"]:
                chosen = [source for source in sources if source.slug == context["source_slug"]]
                if not chosen:
                    raise inference.InferenceInputError(
                        f"{model.slug} has no source {context['source_slug']!r}; choose one from the list."
                    )
            result = inference.top_features_for_text(model, context["text"], sources=chosen, k=TEXT_FEATURES_K)
        except inference.InferenceInputError as error:
            context["error"] = str(error)
        else:
            context.update(_text_features_context(model, result))
    return inference_response(request, "front/text_features.html", context, refused)


def _text_features_context(model: LanguageModel, result) -> dict:

    explanations = best_explanation_texts(
        model=model, addresses={(hit.source_slug, hit.index) for hit in result.overall}
    )
    top = result.overall[0].value if result.overall else 0.0
    strongest = [hits[0].value if hits else 0.0 for hits in result.per_token]
    peak = max(range(len(strongest)), key=strongest.__getitem__) if top > 0 else None
    spans = [
        replace(span, href=f"#token-{position}", note=_hits_note(hits))
        for position, (span, hits) in enumerate(
            zip(token_spans(result.tokens, strongest, scale=top, max_index=peak), result.per_token, strict=True)
        )
    ]
    return {
        "result": result,
        "overall": [(hit, explanations.get((hit.source_slug, hit.index), "")) for hit in result.overall],
        "spans": spans,
        "token_rows": [
            TokenRow(position, span, hits)
            for position, (span, hits) in enumerate(zip(spans, result.per_token, strict=True))
        ],
    }


def _hits_note(hits) -> str:
    """What hovering a token of the text page shows: its three strongest features."""
    return ", ".join(f"{hit.source_slug}/{hit.index} {hit.value:.2f}" for hit in hits[:3]) or "no feature fires"


def profile(request: HttpRequest, username: str) -> HttpResponse:
    person = get_user_model().objects.filter(username=username).first()
    if person is None:
        raise Http404(f"There is no user called {username}.")
    # Each row links to its feature, whose URL needs the source and the model: join them here so
    # the page costs the same few queries however many rows it shows.
    explanations = (
        Explanation.objects.visible()
        .filter(author=person)
        .select_related("feature__source__model", "current_revision")
        .order_by("-created_at")
    )
    comments = (
        Comment.objects.visible().filter(author=person).select_related("feature__source__model").order_by("-created_at")
    )
    is_owner = request.user.is_authenticated and request.user.pk == person.pk
    context = {
        "person": person,
        "is_owner": is_owner,
        "banned": user_is_banned(person),
        "explanations": explanations[:PROFILE_LIST_LIMIT],
        "explanation_count": explanations.count(),
        "revision_count": ExplanationRevision.objects.filter(author=person).count(),
        "comments": comments[:PROFILE_LIST_LIMIT],
        "comment_count": comments.count(),
        # Revisions (with links to their diffs) and lists: public ones, or all of them for their owner.
        **profile_activity(person=person, viewer=request.user, limit=PROFILE_LIST_LIMIT),
    }
    return render(request, "front/profile.html", context)
