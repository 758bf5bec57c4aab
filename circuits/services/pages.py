"""What the graph pages read and write besides imports and annotations: the view state kept in the address
(Neuronpedia's qParams), a node's details for the hover/tap panel, the graphs a feature is in, the comment
thread, the graph search."""

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict

from explanations.models import Explanation
from explanations.services.permissions import ensure_can_write
from features.models import ActivationExample, Feature, unpack_floats
from features.token_html import activation_snippet_html

from ..core.graph_layout import node_label
from ..core.graph_schema import GraphLimits, GraphSchemaError, supernodes_clean
from ..models import Graph, GraphComment

MAX_COMMENT_LENGTH = 10_000
SHOWN_LINKS = 8
SHOWN_EXAMPLES = 3


@dataclass
class ViewState:
    """pinnedIds, supernodes and clickedId as Neuronpedia's graph viewer keeps them in the query string
    (pinnedIds comma-separated, supernodes as JSON), plus `subgraph=1` for the view of what is pinned. Unknown
    node ids in a shared address are dropped; a malformed supernodes parameter is ignored with a notice."""

    pinned: list[str] = field(default_factory=list)
    supernodes: list[list[str]] = field(default_factory=list)
    clicked: str = ""
    subgraph: bool = False
    notice: str = ""
    supernodes_from_address: bool = False

    def query(self, **changes) -> str:
        """The query string of this state with some parts changed (pinned=..., clicked=..., ...)."""
        state = {
            "pinned": self.pinned,
            "supernodes": self.supernodes,
            "clicked": self.clicked,
            "subgraph": self.subgraph,
        } | changes
        params = QueryDict(mutable=True)
        if state["pinned"]:
            params["pinnedIds"] = ",".join(state["pinned"])
        if state["supernodes"] and (self.supernodes_from_address or "supernodes" in changes):
            params["supernodes"] = json.dumps(state["supernodes"], separators=(",", ":"))
        if state["clicked"]:
            params["clickedId"] = state["clicked"]
        if state["subgraph"]:
            params["subgraph"] = "1"
        encoded = params.urlencode(safe=",[]:")
        return f"?{encoded}" if encoded else "?"


def click_queries(state: ViewState, node_ids: list[str]) -> dict[str, str]:
    """state.query(clicked=node_id) for many nodes at once: the rest of the query is built once (a graph page has
    a link per node)."""
    base = state.query(clicked="")
    joiner = "" if base == "?" else "&"
    return {node_id: f"{base}{joiner}clickedId={quote(node_id, safe=',:')}" for node_id in node_ids}


def view_state(graph: Graph, params: QueryDict) -> ViewState:
    node_ids = {node["node_id"] for node in graph.data.get("nodes", [])}
    saved = graph.data.get("qParams", {})
    pinned_raw = params.get("pinnedIds")
    pinned = pinned_raw.split(",") if pinned_raw is not None else list(saved.get("pinnedIds", []))
    state = ViewState(
        pinned=[p for p in dict.fromkeys(pinned) if p in node_ids],
        clicked=params.get("clickedId", "") if params.get("clickedId", "") in node_ids else "",
        subgraph=params.get("subgraph") == "1",
        supernodes=list(saved.get("supernodes", [])),
    )
    if "supernodes" in params:
        try:
            state.supernodes = supernodes_clean(json.loads(params["supernodes"]), node_ids, GraphLimits())
            state.supernodes_from_address = True
        except (json.JSONDecodeError, GraphSchemaError) as error:
            problem = "; ".join(error.problems) if isinstance(error, GraphSchemaError) else "it is not JSON"
            state.notice = (
                f"The supernodes in the address were ignored ({problem}); the graph's saved groups are shown."
            )
    return state


def node_links(graph: Graph, node_id: str) -> tuple[list[dict], list[dict]]:
    """The node's strongest incoming and outgoing links, each with the other end's label."""
    nodes = {node["node_id"]: node for node in graph.data.get("nodes", [])}
    links = graph.data.get("links", [])
    tokens = graph.data.get("metadata", {}).get("prompt_tokens", [])
    incoming = [link for link in links if link["target"] == node_id]
    outgoing = [link for link in links if link["source"] == node_id]

    def shown(links: list[dict], end: str) -> list[dict]:
        links = sorted(links, key=lambda link: -abs(link["weight"]))[:SHOWN_LINKS]
        return [
            {"node_id": link[end], "label": node_label(nodes[link[end]], tokens), "weight": link["weight"]}
            for link in links
        ]

    return shown(incoming, "source"), shown(outgoing, "target")


def node_feature(graph: Graph, node: dict) -> Feature | None:
    if node.get("source") is None or node.get("index") is None:
        return None
    return (
        Feature.objects.select_related("source__model")
        .filter(source__model=graph.model, source__slug=node["source"], index=node["index"])
        .first()
    )


def node_details(graph: Graph, node_id: str) -> dict | None:
    """What the panel shows for one node: its label and values, its links, and for a feature its best
    explanation and top examples."""
    node = next((n for n in graph.data.get("nodes", []) if n["node_id"] == node_id), None)
    if node is None:
        return None
    feature = node_feature(graph, node)
    explanation = None
    examples = []
    if feature is not None:
        explanation = (
            Explanation.objects.visible()
            .best_first()
            .filter(feature=feature)
            .select_related("current_revision")
            .first()
        )
        top = (
            ActivationExample.objects.filter(feature=feature, kind=ActivationExample.Kind.TOP)
            .select_related("window")
            .order_by("rank")[:SHOWN_EXAMPLES]
        )
        scale = feature.max_activation or 1.0
        examples = [
            activation_snippet_html(
                example.window.tokens, unpack_floats(example.values), scale=scale, max_index=example.max_token_index
            )
            for example in top
        ]
    incoming, outgoing = node_links(graph, node_id)
    return {
        "node": node,
        "label": node_label(node, graph.data.get("metadata", {}).get("prompt_tokens", [])),
        "feature": feature,
        "feature_url": feature.get_absolute_url() if feature is not None else "",
        "explanation": explanation,
        "examples": examples,
        "incoming": incoming,
        "outgoing": outgoing,
    }


def graphs_with_feature(feature: Feature) -> QuerySet[Graph]:
    return (
        Graph.objects.filter(feature_nodes__feature=feature).select_related("model").distinct().order_by("-created_at")
    )


def graph_comment_post(*, graph: Graph, author, body: str) -> GraphComment:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write something first."})
    if len(body) > MAX_COMMENT_LENGTH:
        raise ValidationError({"body": f"Keep a comment under {MAX_COMMENT_LENGTH:,} characters."})
    ensure_can_write(author)
    with transaction.atomic():
        return GraphComment.objects.create(graph=graph, author=author, body=body)
