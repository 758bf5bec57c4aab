"""circuit-tracer's graph JSON (circuit_tracer/frontend/graph_models.py, schema_version 1), checked strictly.

`graph_validate` takes the parsed JSON of a file as circuit-tracer's `create_graph_files` writes it (or as we
export it) and returns it normalised (every node with every field of the schema, links with float weights), or
raises GraphSchemaError with every problem it found, each naming where it is, so that a person can fix the file.
Nothing here knows about the database: mapping nodes to our sources is the import service's job.
"""

import math
import re
from dataclasses import dataclass
from typing import Any

FEATURE_TYPES = ("cross layer transcoder", "mlp reconstruction error", "embedding", "logit")
# Our node kinds that circuit-tracer lacks use the same fields and carry `source` and `index` (docs/circuits.md).
OUR_FEATURE_TYPES = ("mlp neuron", "feature target")
NODE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# One problem message per field is enough for a person to fix a file; past this many we stop listing them.
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class GraphLimits:
    max_nodes: int = 20_000
    max_links: int = 200_000
    max_tokens: int = 2_048
    max_supernodes: int = 500


class GraphSchemaError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems[:MAX_PROBLEMS]
        more = len(problems) - len(self.problems)
        super().__init__("; ".join(self.problems) + (f"; and {more} more" if more > 0 else ""))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def feature_index_from_node_id(node_id: str) -> int | None:
    """A feature node's id is "{layer}_{feat_idx}_{pos}"; its feature index is the middle part."""
    parts = node_id.split("_")
    if len(parts) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def layer_number(layer: str) -> int | None:
    return int(layer) if layer.isdigit() else None


def graph_validate(data: Any, limits: GraphLimits = GraphLimits()) -> dict:
    problems: list[str] = []
    if not isinstance(data, dict):
        raise GraphSchemaError(["The file must hold one JSON object with metadata, nodes and links."])
    for key in ("metadata", "nodes", "links"):
        if key not in data:
            problems.append(f"'{key}' is missing.")
    if problems:
        raise GraphSchemaError(problems)

    metadata = data["metadata"]
    if not isinstance(metadata, dict):
        raise GraphSchemaError(["'metadata' must be an object."])
    tokens = metadata.get("prompt_tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        problems.append("metadata.prompt_tokens must be a list of strings.")
        tokens = []
    elif not tokens:
        problems.append("metadata.prompt_tokens is empty.")
    elif len(tokens) > limits.max_tokens:
        problems.append(f"metadata.prompt_tokens has {len(tokens)} tokens; the limit is {limits.max_tokens}.")
    for key in ("slug", "scan", "prompt"):
        if key in metadata and metadata[key] is not None and not isinstance(metadata[key], str):
            problems.append(f"metadata.{key} must be a string.")
    if "prompt" not in metadata:
        problems.append("metadata.prompt is missing.")
    transcoders = metadata.get("transcoder_list", [])
    if not isinstance(transcoders, list) or not all(isinstance(t, str) for t in transcoders):
        problems.append("metadata.transcoder_list must be a list of strings.")
    schema_version = metadata.get("schema_version", 1)
    if schema_version not in (None, 1):
        problems.append(f"metadata.schema_version is {schema_version!r}; only version 1 is read.")

    nodes = data["nodes"]
    links = data["links"]
    if not isinstance(nodes, list):
        problems.append("'nodes' must be a list.")
        nodes = []
    if not isinstance(links, list):
        problems.append("'links' must be a list.")
        links = []
    if len(nodes) > limits.max_nodes:
        raise GraphSchemaError([f"The graph has {len(nodes):,} nodes; the limit is {limits.max_nodes:,}."])
    if len(links) > limits.max_links:
        raise GraphSchemaError([f"The graph has {len(links):,} links; the limit is {limits.max_links:,}."])
    if not nodes:
        problems.append("The graph has no nodes.")

    clean_nodes: list[dict] = []
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(node, dict):
            problems.append(f"{where} must be an object.")
            continue
        node_id = node.get("node_id")
        if not isinstance(node_id, str) or not NODE_ID.match(node_id):
            problems.append(f"{where}.node_id must be a short string of letters, digits, '_', '-', '.' or ':'.")
            continue
        where = f"node {node_id!r}"
        if node_id in seen:
            problems.append(f"{where} appears twice.")
            continue
        seen.add(node_id)
        feature_type = node.get("feature_type")
        if feature_type not in FEATURE_TYPES + OUR_FEATURE_TYPES:
            problems.append(f"{where}: feature_type {feature_type!r} is not one of {', '.join(FEATURE_TYPES)}.")
        layer = node.get("layer")
        if not isinstance(layer, str) or not (layer == "E" or layer.isdigit()):
            problems.append(f"{where}: layer must be a string, 'E' or a layer number.")
        if "probe_location_idx" in node and not _integer(node["probe_location_idx"]):
            problems.append(f"{where}: probe_location_idx must be an integer (the stream within its layer).")
        ctx_idx = node.get("ctx_idx")
        if not _integer(ctx_idx) or not 0 <= ctx_idx < max(len(tokens), 1):
            problems.append(f"{where}: ctx_idx must be a position of the prompt (0 to {len(tokens) - 1}).")
        if not _integer(node.get("feature")):
            problems.append(f"{where}: feature must be an integer.")
        for key in ("influence", "activation"):
            if node.get(key) is not None and not _number(node[key]):
                problems.append(f"{where}: {key} must be a finite number or null.")
        if "token_prob" in node and not _number(node["token_prob"]):
            problems.append(f"{where}: token_prob must be a finite number.")
        if "clerp" in node and not isinstance(node["clerp"], str):
            problems.append(f"{where}: clerp must be a string.")
        if "source" in node and not isinstance(node["source"], str):
            problems.append(f"{where}: source must be a source's slug.")
        if "index" in node and not (_integer(node["index"]) and node["index"] >= 0):
            problems.append(f"{where}: index must be a feature index (an integer from 0).")
        clean_nodes.append(
            {
                **node,
                "jsNodeId": node.get("jsNodeId") if isinstance(node.get("jsNodeId"), str) else node_id,
                "token_prob": float(node.get("token_prob", 0.0)) if _number(node.get("token_prob", 0.0)) else 0.0,
                "is_target_logit": bool(node.get("is_target_logit", False)),
                "run_idx": node.get("run_idx", 0) if _integer(node.get("run_idx", 0)) else 0,
                "reverse_ctx_idx": node.get("reverse_ctx_idx", 0) if _integer(node.get("reverse_ctx_idx", 0)) else 0,
                "clerp": node.get("clerp", "") if isinstance(node.get("clerp", ""), str) else "",
                "influence": node.get("influence"),
                "activation": node.get("activation"),
            }
        )
        if len(problems) > MAX_PROBLEMS:
            raise GraphSchemaError(problems)

    clean_links: list[dict] = []
    for i, link in enumerate(links):
        where = f"links[{i}]"
        if not isinstance(link, dict):
            problems.append(f"{where} must be an object.")
            continue
        for end in ("source", "target"):
            if link.get(end) not in seen:
                problems.append(f"{where}.{end} {link.get(end)!r} is not a node of the graph.")
        if not _number(link.get("weight")):
            problems.append(f"{where}.weight must be a finite number.")
        else:
            clean_links.append({"source": link["source"], "target": link["target"], "weight": float(link["weight"])})
        if len(problems) > MAX_PROBLEMS:
            raise GraphSchemaError(problems)

    qparams = data.get("qParams", {})
    if not isinstance(qparams, dict):
        problems.append("'qParams' must be an object.")
        qparams = {}
    try:
        supernodes = supernodes_clean(qparams.get("supernodes", []), seen, limits)
    except GraphSchemaError as error:
        problems.extend(error.problems)
        supernodes = []
    pinned = qparams.get("pinnedIds", [])
    if not isinstance(pinned, list) or not all(isinstance(p, str) for p in pinned):
        problems.append("qParams.pinnedIds must be a list of node ids.")
        pinned = []
    if problems:
        raise GraphSchemaError(problems)
    return {
        "metadata": {**metadata, "schema_version": 1},
        "qParams": {
            "pinnedIds": [p for p in pinned if p in seen],
            "supernodes": supernodes,
            "linkType": qparams.get("linkType", "both") if isinstance(qparams.get("linkType"), str) else "both",
            "clickedId": qparams.get("clickedId", "") if qparams.get("clickedId") in seen else "",
            "sg_pos": qparams.get("sg_pos", "") if isinstance(qparams.get("sg_pos"), str) else "",
        },
        "nodes": clean_nodes,
        "links": clean_links,
    }


def supernodes_clean(supernodes: Any, node_ids: set[str], limits: GraphLimits = GraphLimits()) -> list[list[str]]:
    """Supernodes as circuit-tracer keeps them: [[label, node_id, ...], ...]; each names nodes of the graph, a node
    belongs to one group at most, and a label is short and not empty."""
    if not isinstance(supernodes, list):
        raise GraphSchemaError(["Supernodes must be a list of [label, node_id, ...] lists."])
    if len(supernodes) > limits.max_supernodes:
        raise GraphSchemaError([f"There are {len(supernodes)} supernodes; the limit is {limits.max_supernodes}."])
    problems = []
    grouped: set[str] = set()
    clean = []
    for i, group in enumerate(supernodes):
        if not isinstance(group, list) or len(group) < 2 or not all(isinstance(x, str) for x in group):
            problems.append(f"Supernode {i + 1} must be a label followed by at least one node id.")
            continue
        label, members = group[0].strip(), group[1:]
        if not label or len(label) > 100:
            problems.append(f"Supernode {i + 1} needs a label of 1 to 100 characters.")
        unknown = [m for m in members if m not in node_ids]
        if unknown:
            problems.append(f"Supernode {label!r} names nodes that are not in the graph: {', '.join(unknown[:5])}.")
        twice = [m for m in members if m in grouped]
        if twice:
            problems.append(f"Supernode {label!r} takes nodes already in another group: {', '.join(twice[:5])}.")
        grouped.update(members)
        clean.append([label, *dict.fromkeys(members)])
    if problems:
        raise GraphSchemaError(problems)
    return clean
