"""Where each node of an attribution graph is drawn: prompt positions along x, layers along y (embeddings at
the bottom, logits or the target at the top), nodes sized by influence and links by weight.

Pure Python (no Django): the graph page renders the result as SVG (circuits/templates/circuits/_graph_svg.html).

Influence: circuit-tracer writes a node's cumulative influence, the share of the graph's total influence on the
target held by the nodes ranked above it and by itself, so that a smaller value is a more influential node (the
first node is near 0, the last near the pruning threshold). A node's drawn weight is therefore 1 - influence.
"""

import math
from dataclasses import dataclass, field
from html import escape

SLOT = 22  # horizontal room for one node in a cell (one layer at one position)
MIN_COLUMN = 56  # wide enough for a short token label
ROW = 58
MARGIN_LEFT = 44  # the layer labels
MARGIN_TOP = 18
MARGIN_BOTTOM = 46  # the token labels
MIN_RADIUS = 3.5
MAX_RADIUS = 10.0
MAX_LINK_WIDTH = 4.0
# The strongest links drawn; the node panel lists every link of a node.
MAX_DRAWN_LINKS = 400
SUPERNODE_PREFIX = "supernode:"


@dataclass
class PlacedNode:
    node_id: str
    x: float
    y: float
    r: float
    kind: str  # feature, error, embedding, logit, supernode
    label: str
    layer: str
    ctx_idx: int
    members: list[str] = field(default_factory=list)


@dataclass
class PlacedLink:
    source: str
    target: str
    x1: float
    y1: float
    x2: float
    y2: float
    weight: float
    width: float

    @property
    def sign(self) -> str:
        return "pos" if self.weight >= 0 else "neg"


@dataclass
class Layout:
    width: float
    height: float
    nodes: list[PlacedNode]
    links: list[PlacedLink]
    rows: list[tuple[str, float]]  # (layer label, y)
    columns: list[tuple[str, float]]  # (token, x of its centre)
    hidden_links: int  # links not drawn (weaker than the strongest MAX_DRAWN_LINKS)


def node_kind(node: dict) -> str:
    if str(node.get("node_id", "")).startswith(SUPERNODE_PREFIX):
        return "supernode"
    return {
        "mlp reconstruction error": "error",
        "embedding": "embedding",
        "logit": "logit",
    }.get(node.get("feature_type", ""), "feature")


def node_weight(node: dict) -> float:
    """0 to 1, larger for a more influential node (see the module's docstring)."""
    if node_kind(node) == "logit":  # the target (and other logits) at the top: ranked last, drawn mid-sized
        return 0.5
    influence = node.get("influence")
    if influence is None or not math.isfinite(influence):
        return 0.5
    return min(1.0, max(0.0, 1.0 - float(influence)))


# A node's row: its layer, and within a layer its stream (circuit-tracer's probe_location_idx): a residual SAE
# spliced at resid_pre (0) or resid_mid (1) draws below the layer's MLP nodes (which carry none: 2), one at
# resid_post (3) above them. Row keys are "3" for a layer's MLP row, "3@0" for another stream of layer 3.
MLP_STREAM = 2
STREAM_NAMES = {0: "pre", 1: "mid", 3: "post"}


def node_row(node: dict) -> str:
    layer = str(node["layer"])
    stream = node.get("probe_location_idx")
    if not layer.isdigit() or stream is None or stream == MLP_STREAM:
        return layer
    return f"{layer}@{stream}"


def _row_parts(row: str) -> tuple[str, int]:
    layer, _, stream = row.partition("@")
    return layer, int(stream) if stream else MLP_STREAM


def _layer_key(row: str) -> tuple[int, int, int]:
    layer, stream = _row_parts(row)
    return (0, 0, 0) if layer == "E" else (1, int(layer), stream) if layer.isdigit() else (2, 0, 0)


def layer_label(row: str, top_layer: str | None) -> str:
    if row == "E":
        return "Emb"
    if row == top_layer:
        return "Out"
    layer, stream = _row_parts(row)
    return f"L{layer}" if stream == MLP_STREAM else f"L{layer}{STREAM_NAMES.get(stream, stream)}"


def graph_layout(
    nodes: list[dict], links: list[dict], tokens: list[str], *, max_links: int = MAX_DRAWN_LINKS
) -> Layout:
    layers = sorted({node_row(n) for n in nodes}, key=_layer_key)
    logit_layers = {node_row(n) for n in nodes if node_kind(n) == "logit"}
    top_layer = layers[-1] if layers and layers[-1] in logit_layers else None
    row_of = {layer: i for i, layer in enumerate(layers)}
    n_positions = max([len(tokens), *(n["ctx_idx"] + 1 for n in nodes)]) if nodes else len(tokens)

    cells: dict[tuple[str, int], list[dict]] = {}
    for node in sorted(nodes, key=lambda n: -node_weight(n)):
        cells.setdefault((node_row(node), node["ctx_idx"]), []).append(node)
    column_width = [MIN_COLUMN] * n_positions
    for (_, ctx), members in cells.items():
        column_width[ctx] = max(column_width[ctx], len(members) * SLOT + 8)
    column_left = [MARGIN_LEFT]
    for width in column_width[:-1]:
        column_left.append(column_left[-1] + width)
    width = MARGIN_LEFT + sum(column_width) + 8
    height = MARGIN_TOP + max(len(layers), 1) * ROW + MARGIN_BOTTOM

    def row_y(layer: str) -> float:
        return MARGIN_TOP + (len(layers) - 1 - row_of[layer]) * ROW + ROW / 2

    placed: dict[str, PlacedNode] = {}
    for (layer, ctx), members in cells.items():
        start = column_left[ctx] + (column_width[ctx] - len(members) * SLOT) / 2
        for k, node in enumerate(members):
            kind = node_kind(node)
            radius = MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * math.sqrt(node_weight(node))
            placed[node["node_id"]] = PlacedNode(
                node_id=node["node_id"],
                x=round(start + (k + 0.5) * SLOT, 1),
                y=round(row_y(layer), 1),
                r=round(radius, 1),
                kind=kind,
                label=node_label(node, tokens),
                layer=layer,
                ctx_idx=ctx,
                members=list(node.get("members", [])),
            )

    drawable = [link for link in links if link["source"] in placed and link["target"] in placed]
    drawable.sort(key=lambda link: -abs(link["weight"]))
    strongest = abs(drawable[0]["weight"]) if drawable else 1.0
    drawn = []
    for link in drawable[:max_links]:
        a, b = placed[link["source"]], placed[link["target"]]
        drawn.append(
            PlacedLink(
                source=a.node_id,
                target=b.node_id,
                x1=a.x,
                y1=a.y,
                x2=b.x,
                y2=b.y,
                weight=link["weight"],
                width=round(0.4 + MAX_LINK_WIDTH * abs(link["weight"]) / (strongest or 1.0), 2),
            )
        )
    drawn.reverse()  # the strongest last, so it is drawn on top
    return Layout(
        width=round(width, 1),
        height=round(height, 1),
        nodes=list(placed.values()),
        links=drawn,
        rows=[(layer_label(layer, top_layer), row_y(layer)) for layer in layers],
        columns=[
            (tokens[i] if i < len(tokens) else "", column_left[i] + column_width[i] / 2) for i in range(n_positions)
        ],
        hidden_links=len(drawable) - len(drawn),
    )


def node_label(node: dict, tokens: list[str] | None = None) -> str:
    """What a reader calls the node: its label (clerp) where it has one, else what it is."""
    if node.get("clerp"):
        return node["clerp"]
    kind = node_kind(node)
    if kind == "error" and node.get("hook"):
        return f"Error of {node.get('source', 'the SAE')} at {node['hook']}"
    if kind == "error":
        return f"Error at layer {node['layer']}"
    if kind == "embedding":
        if tokens and 0 <= node["ctx_idx"] < len(tokens):
            return f"Token \u201c{tokens[node['ctx_idx']].strip()}\u201d at {node['ctx_idx']}"
        return f"Token at position {node['ctx_idx']}"
    if kind == "logit":
        return "Output logit"
    if node.get("source") is not None and node.get("index") is not None:
        return f"{node['source']}:{node['index']}"
    return node["node_id"]


def subgraph(
    nodes: list[dict], links: list[dict], *, pinned: list[str], supernodes: list[list[str]]
) -> tuple[list[dict], list[dict]]:
    """The graph of the pinned nodes and the supernodes (grouping takes nodes out of the pins), each supernode
    drawn as one node at its members' mean layer and position; the links between kept nodes, a supernode's
    being the sum of its members' (the direct effects add up)."""
    by_id = {n["node_id"]: n for n in nodes}
    group_of: dict[str, str] = {}
    merged: list[dict] = []
    for i, (label, *members) in enumerate(supernodes):
        members = [m for m in members if m in by_id]
        if not members:
            continue
        group_id = f"{SUPERNODE_PREFIX}{i}"
        for member in members:
            group_of[member] = group_id
        member_nodes = [by_id[m] for m in members]
        numeric = [int(n["layer"]) for n in member_nodes if str(n["layer"]).isdigit()]
        layer = str(round(sum(numeric) / len(numeric))) if numeric else str(member_nodes[0]["layer"])
        merged.append(
            {
                "node_id": group_id,
                "feature_type": "supernode",
                "layer": layer,
                "ctx_idx": round(sum(n["ctx_idx"] for n in member_nodes) / len(member_nodes)),
                "clerp": label,
                "influence": min(
                    (n["influence"] for n in member_nodes if n.get("influence") is not None), default=None
                ),
                "members": members,
            }
        )
    kept = {p for p in pinned if p in by_id and p not in group_of}
    out_nodes = [by_id[p] for p in by_id if p in kept] + merged
    keep_ids = kept | {g["node_id"] for g in merged}
    sums: dict[tuple[str, str], float] = {}
    for link in links:
        source = group_of.get(link["source"], link["source"])
        target = group_of.get(link["target"], link["target"])
        if source in keep_ids and target in keep_ids and source != target:
            sums[(source, target)] = sums.get((source, target), 0.0) + link["weight"]
    out_links = [{"source": s, "target": t, "weight": w} for (s, t), w in sums.items()]
    return out_nodes, out_links


def _truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def layout_svg(layout: Layout, *, hrefs: dict[str, str], pinned: set[str], clicked: str, node_url: str) -> str:
    """The layout as one SVG element (escaped here: the caller marks it safe). Built in Python rather than a
    template loop, which took most of a large graph's page time (bench/graph_pages.py). `node_url` is the
    node panel's address with NODE standing for the node id (graph.js fills it in)."""
    width, height = layout.width, layout.height
    parts = [
        f'<svg class="graph-svg" id="graph-svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="graph-svg-title" data-node-url="{escape(node_url)}">'
        f'<title id="graph-svg-title">Attribution graph: {len(layout.nodes)} nodes; the list below names each.'
        "</title>"
    ]
    for label, y in layout.rows:
        parts.append(
            f'<line class="row-rule" x1="40" x2="{width}" y1="{y}" y2="{y}"/>'
            f'<text class="row-label" x="4" y="{y}" dy="4">{escape(label)}</text>'
        )
    for token, x in layout.columns:
        parts.append(
            f'<text class="token-label" x="{x}" y="{height - 18}" text-anchor="middle">'
            f"{escape(_truncate(token, 9))}</text>"
        )
    parts.append('<g class="links">')
    for link in layout.links:
        parts.append(
            f'<line class="link {link.sign}" data-source="{escape(link.source)}" data-target="{escape(link.target)}" '
            f'x1="{link.x1}" y1="{link.y1}" x2="{link.x2}" y2="{link.y2}" stroke-width="{link.width}">'
            f"<title>{link.weight:.4f}</title></line>"
        )
    parts.append('</g><g class="nodes">')
    for node in layout.nodes:
        classes = f"gnode kind-{node.kind}"
        classes += " pinned" if node.node_id in pinned else ""
        classes += " clicked" if node.node_id == clicked else ""
        parts.append(
            f'<a class="{classes}" href="{escape(hrefs.get(node.node_id, "?"))}" data-node="{escape(node.node_id)}">'
            f'<circle cx="{node.x}" cy="{node.y}" r="{node.r}"/><title>{escape(node.label)}</title></a>'
        )
    parts.append("</g></svg>")
    return "".join(parts)
