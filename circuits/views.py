"""Graph pages: the index and search, a graph as SVG with its node panel, subgraph, annotations, history and
comments, import and export. The view state (pins, groups, the clicked node) lives in the address, as
Neuronpedia's qParams do, so a view can be shared; see services/pages.py."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from accounts.decorators import wiki_write
from accounts.rate_limits import RateLimited
from features.models import LanguageModel
from features.page_responses import inference_refusal

from .core.graph_layout import graph_layout, layout_svg, node_kind, node_label, node_weight, subgraph
from .core.graph_schema import GraphSchemaError
from .forms import GraphCommentForm, GraphImportForm, GraphTraceForm, NodeLabelForm
from .models import Graph
from .services import graphs as graph_services
from .services import pages
from .services.graph_search import graphs_matching
from .services.imports import graph_export, graph_import
from .services.revisions import graph_annotate

SHOWN_GRAPHS = 100
SHOWN_INTERVENTION_NODES = 12
# The node list beneath the graph: the most influential, so that a phone is not sent thousands of rows.
SHOWN_NODE_ROWS = 300
# Only these nodes can be scaled: a feature or neuron of the replacement model (circuits/services/interventions.py).
EDITABLE_TYPE = "cross layer transcoder"


def _state_query(request: HttpRequest) -> str:
    """The view state a form posted back with (a query string), so the reader returns to the same view."""
    state = request.POST.get("state", "?")
    return state if state.startswith("?") else "?"


def _graph_or_404(model_slug: str, graph_slug: str) -> Graph:
    return get_object_or_404(Graph.objects.select_related("model", "author"), model__slug=model_slug, slug=graph_slug)


def graph_index(request: HttpRequest, model_slug: str = "") -> HttpResponse:
    model = get_object_or_404(LanguageModel, slug=model_slug) if model_slug else None
    graphs = Graph.objects.select_related("model", "author")
    if model is not None:
        graphs = graphs.filter(model=model)
    query = request.GET.get("q", "").strip()[:200]
    if query:
        graphs = graphs_matching(graphs, query)
    context = {"model": model, "graphs": graphs[:SHOWN_GRAPHS], "graph_query": query, "shown_limit": SHOWN_GRAPHS}
    if model is None and request.user.is_authenticated:
        # Only models with a checkpoint on this server can be traced (an imported one has none).
        context["traceable_models"] = LanguageModel.objects.exclude(path="")
    return render(request, "circuits/graph_index.html", context)


def _given(value: float | None, default: float) -> float:
    return default if value is None else value  # a 0 typed in is refused by the service, not replaced


@wiki_write()
def graph_trace_page(request: HttpRequest, model_slug: str) -> HttpResponse:
    """Start an attribution graph on the task queue, under the same rules as the activation run's page
    (features.views.run_new): signed in, not banned, and the "run" rate limit for a request that starts one."""
    model = get_object_or_404(LanguageModel, slug=model_slug)
    form = GraphTraceForm(request.POST or None, model=model)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                run = graph_services.graph_run_start(
                    model=model,
                    user=request.user,
                    prompt=data["prompt"],
                    target=data["target"],
                    sources=data["sources"],
                    max_nodes=data["max_nodes"],
                    node_threshold=_given(data["node_threshold"], graph_services.DEFAULT_NODE_THRESHOLD),
                    edge_threshold=_given(data["edge_threshold"], graph_services.DEFAULT_EDGE_THRESHOLD),
                    slug=data["slug"],
                    title=data["title"],
                )
            except RateLimited as limited:
                form.add_error(None, str(limited))
                status = 429
            except graph_services.GraphInputError as error:
                form.add_error(None, str(error))
            else:
                return redirect(run)
    context = {
        "model": model,
        "form": form,
        "max_tokens": graph_services.MAX_GRAPH_TOKENS,
        "max_chars": graph_services.MAX_PROMPT_CHARS,
        "max_nodes": graph_services.MAX_FEATURE_NODES,
        "default_nodes": graph_services.DEFAULT_FEATURE_NODES,
        "max_edges": graph_services.MAX_EDGE_ENTRIES,
    }
    return render(request, "circuits/graph_trace.html", context, status=status)


def _grouped(state: pages.ViewState, label: str) -> list[list[str]]:
    """The state's supernodes plus one group of the pinned nodes (taken out of any other group)."""
    pinned = set(state.pinned)
    groups = [[name, *[m for m in members if m not in pinned]] for name, *members in state.supernodes]
    return [g for g in groups if len(g) > 1] + [[label, *state.pinned]]


def _panel(details: dict | None, state: pages.ViewState) -> dict | None:
    """The node panel's links keep the rest of the view (pins, groups) in their addresses."""
    if details is None:
        return None
    node_id = details["node"]["node_id"]
    pinned = state.pinned
    details["pinned"] = node_id in pinned
    details["pin_query"] = state.query(
        pinned=[p for p in pinned if p != node_id] if node_id in pinned else [*pinned, node_id]
    )
    for link in details["incoming"] + details["outgoing"]:
        link["query"] = state.query(clicked=link["node_id"])
    return details


def graph_detail(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    graph = _graph_or_404(model_slug, graph_slug)
    state = pages.view_state(graph, request.GET)
    url = graph.get_absolute_url()
    # Grouping and ungrouping change only the address (like pinning); "Save" writes the groups to the graph.
    if "group" in request.GET:
        label = " ".join(request.GET["group"].split())[:100]
        if not label or not state.pinned:
            messages.error(request, "Pin the nodes to group first, and name the group.")
            return redirect(url + state.query())
        return redirect(url + state.query(supernodes=_grouped(state, label), pinned=[]))
    if "ungroup" in request.GET:
        kept = [g for i, g in enumerate(state.supernodes) if str(i) != request.GET["ungroup"]]
        return redirect(url + state.query(supernodes=kept))

    # A graph row made by hand (the admin) may lack parts of the schema: the page shows it empty, not a 500.
    data = {"metadata": {}, "qParams": {}, "nodes": [], "links": [], **graph.data}
    tokens = data["metadata"].get("prompt_tokens", [])
    if state.subgraph:
        nodes, links = subgraph(data["nodes"], data["links"], pinned=state.pinned, supernodes=state.supernodes)
    else:
        nodes, links = data["nodes"], data["links"]
    layout = graph_layout(nodes, links, tokens)
    group_of = {m: name for name, *members in state.supernodes for m in members}
    clicks = pages.click_queries(state, [n["node_id"] for n in nodes])
    node_rows = sorted(
        (
            {
                "node_id": n["node_id"],
                "label": node_label(n, tokens),
                "kind": node_kind(n),
                "layer": n["layer"],
                "ctx_idx": n["ctx_idx"],
                "token": tokens[n["ctx_idx"]] if n["ctx_idx"] < len(tokens) else "",
                "weight": node_weight(n),
                "pinned": n["node_id"] in state.pinned,
                "group": group_of.get(n["node_id"], ""),
                "click_query": clicks[n["node_id"]],
            }
            for n in nodes
        ),
        key=lambda row: -row["weight"],
    )
    for row in node_rows[:SHOWN_NODE_ROWS]:  # the pin links of the rows shown
        node_id = row["node_id"]
        row["pin_query"] = state.query(
            pinned=[p for p in state.pinned if p != node_id] if row["pinned"] else [*state.pinned, node_id]
        )
    saved_groups = data["qParams"].get("supernodes", [])
    editable = {n["node_id"] for n in data["nodes"] if n["feature_type"] == EDITABLE_TYPE}
    context = {
        "graph": graph,
        "model": graph.model,
        "state": state,
        "layout": layout,
        "svg": mark_safe(  # noqa: S308 - layout_svg escapes every text and attribute it writes
            layout_svg(
                layout,
                hrefs={row["node_id"]: row["click_query"] for row in node_rows},
                pinned=set(state.pinned),
                clicked=state.clicked,
                node_url=reverse("circuits:node", args=[graph.model.slug, graph.slug, "NODE"]),
            )
        ),
        "node_rows": node_rows[:SHOWN_NODE_ROWS],
        "hidden_node_rows": max(0, len(node_rows) - SHOWN_NODE_ROWS),
        "pinned_set": set(state.pinned),
        "clicked": _panel(pages.node_details(graph, state.clicked), state)
        if state.clicked and not state.subgraph
        else None,
        "supernode_rows": [
            {
                "index": i,
                "label": g[0],
                "members": g[1:],
                "ungroup_query": state.query(supernodes=[x for j, x in enumerate(state.supernodes) if j != i]),
            }
            for i, g in enumerate(state.supernodes)
        ],
        "groups_unsaved": state.supernodes != saved_groups,
        "supernodes_json": json.dumps(state.supernodes),
        "subgraph_query": state.query(subgraph=not state.subgraph, clicked=""),
        "clear_pins_query": state.query(pinned=[]),
        "comments": graph.comments.filter(hidden=False).select_related("author"),
        "comment_form": GraphCommentForm(),
        "links_missing": data["metadata"].get("feature_links_missing", ""),
        "n_nodes": len(data["nodes"]),
        "n_links": len(data["links"]),
        "can_intervene": can_intervene(graph),
        "intervention_choices": intervention_choices(state, editable),
    }
    if state.notice:
        messages.warning(request, state.notice)
    return render(request, "circuits/graph_detail.html", context)


def graph_node(request: HttpRequest, model_slug: str, graph_slug: str, node_id: str) -> HttpResponse:
    """The node panel: an htmx partial for the graph page (tap or click on a node); without htmx, the graph page
    with the node clicked."""
    graph = _graph_or_404(model_slug, graph_slug)
    details = pages.node_details(graph, node_id)
    if details is None:
        raise Http404(f"There is no node {node_id!r} in this graph.")
    state = pages.view_state(graph, request.GET)
    state.clicked = node_id
    if not request.htmx:
        return redirect(graph.get_absolute_url() + state.query())
    context = {"graph": graph, "clicked": _panel(details, state), "state": state}
    return render(request, "circuits/_node_panel.html", context)


def graph_export_download(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    graph = _graph_or_404(model_slug, graph_slug)
    response = JsonResponse(graph_export(graph), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{graph.model.slug}-{graph.slug}.json"'
    return response


def graph_history(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    graph = _graph_or_404(model_slug, graph_slug)
    revisions = graph.revisions.select_related("author")[:200]
    return render(
        request, "circuits/graph_history.html", {"graph": graph, "model": graph.model, "revisions": revisions}
    )


@wiki_write(rate="explanation")
def graph_import_page(request: HttpRequest, model_slug: str) -> HttpResponse:
    model = get_object_or_404(LanguageModel, slug=model_slug)
    form = GraphImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            graph = graph_import(
                model=model,
                raw=form.cleaned_data["file"].read(),
                author=request.user,
                slug=form.cleaned_data["slug"],
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
            )
        except GraphSchemaError as error:
            problems = error.problems
        except ValidationError as error:
            for name, errors in error.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(request, f"Imported “{graph.title}”.")
            return redirect(graph)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "circuits/graph_import.html", {"model": model, "form": form, "problems": problems}, status=status
    )


@require_POST
@wiki_write(rate="explanation")
def graph_label(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    graph = _graph_or_404(model_slug, graph_slug)
    form = NodeLabelForm(request.POST)
    back = graph.get_absolute_url() + _state_query(request)
    if not form.is_valid():
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect(back)
    try:
        revision = graph_annotate(
            graph=graph, user=request.user, labels={form.cleaned_data["node_id"]: form.cleaned_data["label"]}
        )
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, revision.summary if revision else "The label was already that.")
    return redirect(back)


@require_POST
@wiki_write(rate="explanation")
def graph_supernodes_save(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    """Save the groups of the address to the graph (a revision), so every reader sees them."""
    graph = _graph_or_404(model_slug, graph_slug)
    try:
        supernodes = json.loads(request.POST.get("supernodes", ""))
        revision = graph_annotate(graph=graph, user=request.user, supernodes=supernodes)
    except json.JSONDecodeError:
        messages.error(request, "The groups were not readable; nothing was saved.")
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, revision.summary if revision else "The graph already has these groups.")
    return redirect(graph.get_absolute_url() + _state_query(request))


@require_POST
@wiki_write(rate="comment")
def graph_comment(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    graph = _graph_or_404(model_slug, graph_slug)
    form = GraphCommentForm(request.POST)
    if form.is_valid():
        try:
            pages.graph_comment_post(graph=graph, author=request.user, body=form.cleaned_data["body"])
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
    else:
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
    return redirect(reverse("circuits:graph", args=[model_slug, graph_slug]) + "#comments")


def can_intervene(graph: Graph) -> bool:
    """Interventions rerun the model with the graph's own sources: a graph computed here knows them."""
    return graph.origin == Graph.Origin.COMPUTED and "input_ids" in graph.params


def intervention_choices(state: pages.ViewState, editable: set[str]) -> list[tuple[str, str]]:
    """(value: comma-separated node ids, label) of what the form offers to edit: the clicked node, the pinned
    nodes, each supernode; only their feature and neuron nodes."""
    choices = []
    if state.clicked in editable:
        choices.append((state.clicked, f"the clicked node {state.clicked}"))
    pinned = [p for p in state.pinned if p in editable]
    if pinned:
        choices.append((",".join(pinned), f"the {len(pinned)} pinned node{'s' if len(pinned) != 1 else ''}"))
    for label, *members in state.supernodes:
        members = [m for m in members if m in editable]
        if members:
            choices.append((",".join(members), f"supernode \u201c{label}\u201d ({len(members)} nodes)"))
    return choices


def graph_intervention(request: HttpRequest, model_slug: str, graph_slug: str) -> HttpResponse:
    """Scale or ablate the chosen nodes in the real model (circuits/services/interventions.py) and show the target's
    and the other nodes' new values beside the graph's linear prediction. An htmx partial on the graph page; a
    page of its own without JavaScript."""
    graph = _graph_or_404(model_slug, graph_slug)
    template = "circuits/_intervention.html" if request.htmx else "circuits/graph_intervention.html"
    context: dict = {"graph": graph, "model": graph.model, "error": "", "result": None}
    node_ids = [n for n in request.GET.get("nodes", "").split(",") if n]
    try:
        scale = float(request.GET.get("scale", "0"))
    except ValueError:
        scale = None
    if not can_intervene(graph):
        context["error"] = (
            "Interventions need a graph computed here (its model and sources are known); this one was imported."
        )
    elif not node_ids:
        context["error"] = "Choose the nodes to edit: click or pin feature nodes, or group them, first."
    elif scale is None:
        context["error"] = "The scale is a number: 0 ablates the nodes, 2 doubles them, -1 flips them."
    if context["error"]:
        return render(request, template, context, status=400)
    refused = inference_refusal(request)
    if refused is not None:
        context["error"] = refused[0]
        response = render(request, template, context, status=429)
        response["Retry-After"] = str(refused[1])
        return response
    # Imported here: the interventions load torch and the model, which most graph pages never need.
    from .services.graphs import GraphInputError
    from .services.interventions import graph_intervene

    try:
        result = graph_intervene(graph=graph, edits=[{"node_ids": node_ids, "scale": scale}])
    except GraphInputError as error:
        context["error"] = str(error)
        return render(request, template, context, status=400)
    labels = {n["node_id"]: node_label(n) for n in graph.data["nodes"]}
    edited = {edit["node_id"] for edit in result["edits"]}
    for row in result["nodes"]:
        row["label"] = labels.get(row["node_id"], row["node_id"])
        row["edited"] = row["node_id"] in edited
    context.update(
        result=result,
        scale=scale,
        edited_rows=[row for row in result["nodes"] if row["edited"]],
        downstream_rows=[
            row
            for row in result["nodes"]
            if not row["edited"] and (abs(row["pre_activation_change"]) > 1e-6 or row["predicted_change"])
        ][:SHOWN_INTERVENTION_NODES],
    )
    return render(request, template, context)
