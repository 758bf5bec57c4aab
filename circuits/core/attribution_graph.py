"""What is done with an attribution graph's adjacency matrix, as circuit-tracer 0.5.0 does it (graph.py there):
influence on the target, pruning to the nodes and edges that carry a share of it, the replacement and completeness
scores, and the JSON that Neuronpedia's graph viewer reads. Pure torch; the formulas are in docs/circuits.md.

Node order everywhere: features, error nodes (stage by stage, each position: the layers' MLPs, then any spliced
SAEs), tokens, the target (last).
"""

from dataclasses import dataclass

import torch

from .attribution import AttributionResult
from .residual_splices import PROBE_LOCATIONS, SHORT_NAMES

SCHEMA_VERSION = 1


def normalized_abs(matrix: torch.Tensor, floor: float = 1e-10) -> torch.Tensor:
    """|A| with each row (a node's incoming edges) scaled to sum to 1: the share of each input in a node."""
    absolute = matrix.abs()
    return absolute / absolute.sum(dim=1, keepdim=True).clamp(min=floor)


def influence(normalized: torch.Tensor, weights: torch.Tensor, max_iter: int = 1000) -> torch.Tensor:
    """weights @ (A + A^2 + A^3 + ...): each node's indirect share in the weighted targets. The graph is acyclic,
    so the series ends (A is nilpotent); a matrix that is not fails loudly rather than looping."""
    term = weights @ normalized
    total = term.clone()
    for _ in range(max_iter):
        if not term.any():
            return total
        term = term @ normalized
        total += term
    raise RuntimeError(f"The influence series did not end after {max_iter} terms: the graph has a cycle.")


def partial_influences(
    edge_rows: torch.Tensor, weights: torch.Tensor, row_nodes: torch.Tensor, max_iter: int = 128
) -> torch.Tensor:
    """Influence from the rows computed so far (edge_rows[k] are the incoming edges of node row_nodes[k]): the
    order in which circuit-tracer visits features under a node budget. The targets are the last len(weights)
    nodes."""
    normalized = edge_rows.abs()
    normalized = normalized / normalized.sum(dim=1, keepdim=True).clamp(min=1e-8)
    total = torch.zeros(edge_rows.shape[1])
    carried = torch.zeros(edge_rows.shape[1])
    carried[-len(weights) :] = weights
    for _ in range(max_iter):
        carried = carried[row_nodes] @ normalized
        if not carried.any():
            return total
        total += carried
    raise RuntimeError("The partial influence series did not end: the graph has a cycle.")


def share_threshold(scores: torch.Tensor, share: float) -> torch.Tensor:
    """The smallest score among the highest scores that together hold `share` of the total."""
    ordered = torch.sort(scores, descending=True).values
    cumulative = torch.cumsum(ordered, dim=0) / ordered.sum()
    index = min(int(torch.searchsorted(cumulative, share).item()), len(cumulative) - 1)
    return ordered[index]


@dataclass
class Pruned:
    node_mask: torch.Tensor
    edge_mask: torch.Tensor  # [target, source]
    cumulative: torch.Tensor  # per node: the share of influence held by it and every node above it
    influence: torch.Tensor  # per node: its influence on the target(s)


def prune(
    adjacency: torch.Tensor,
    *,
    n_features: int,
    n_tokens: int,
    target_weights: torch.Tensor,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
) -> Pruned:
    """Keep the nodes that hold `node_threshold` of the influence on the targets and the edges that hold
    `edge_threshold` of it; tokens and targets always stay; then drop, until nothing changes, any feature or error
    node left without an outgoing edge and any feature left without an incoming one."""
    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {value}.")
    n_targets = len(target_weights)
    weights = torch.zeros(adjacency.shape[0])
    weights[-n_targets:] = target_weights
    node_influence = influence(normalized_abs(adjacency), weights)
    node_mask = node_influence >= share_threshold(node_influence, node_threshold)
    kept_always = n_targets + n_tokens
    node_mask[-kept_always:] = True

    pruned = adjacency.clone()
    pruned[~node_mask] = 0
    pruned[:, ~node_mask] = 0
    normalized = normalized_abs(pruned)
    edge_influence = influence(normalized, weights) + weights
    edge_scores = normalized * edge_influence[:, None]
    edge_mask = edge_scores >= share_threshold(edge_scores.flatten(), edge_threshold)

    while True:
        before = node_mask.clone()
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[:-kept_always] &= edge_mask[:, :-kept_always].any(0)
        node_mask[:n_features] &= edge_mask[:n_features].any(1)
        if torch.equal(before, node_mask):
            break
    edge_mask[~node_mask] = False
    edge_mask[:, ~node_mask] = False

    ordered, order = torch.sort(node_influence, descending=True)
    cumulative = torch.zeros_like(node_influence)
    cumulative[order] = torch.cumsum(ordered, dim=0) / ordered.sum()
    return Pruned(node_mask=node_mask, edge_mask=edge_mask, cumulative=cumulative, influence=node_influence)


def graph_scores(
    adjacency: torch.Tensor, *, n_features: int, n_errors: int, n_tokens: int, target_weights: torch.Tensor
) -> tuple[float, float]:
    """circuit-tracer's two scores of the unpruned graph. Replacement: the share of the tokens' and errors'
    influence on the target that comes from tokens (1: every path from the prompt runs through features).
    Completeness: the share of each node's input that is not error, averaged with each node's influence as the
    weight (partial credit for nodes mostly explained by features)."""
    weights = torch.zeros(adjacency.shape[0])
    weights[-len(target_weights) :] = target_weights
    normalized = normalized_abs(adjacency)
    node_influence = influence(normalized, weights)
    errors = slice(n_features, n_features + n_errors)
    tokens = slice(n_features + n_errors, n_features + n_errors + n_tokens)
    token_influence = node_influence[tokens].sum()
    error_influence = node_influence[errors].sum()
    replacement = token_influence / (token_influence + error_influence)
    not_error = 1 - normalized[:, errors].sum(dim=-1)
    weight = node_influence + weights
    completeness = (not_error * weight).sum() / weight.sum()
    return float(replacement), float(completeness)


def _cantor(x: int, y: int) -> int:
    return (x + y) * (x + y + 1) // 2 + y


def _splice_place(result: AttributionResult, stage: int) -> tuple[str, str, str, int]:
    """(hook, layer, short name for ids, probe_location_idx) of a spliced SAE's stage."""
    hook = result.splice_hooks[stage - result.n_layers]
    _, layer, point = hook.split(".", 2)
    return hook, layer, f"{layer}{SHORT_NAMES[point]}", PROBE_LOCATIONS[point]


def _sae_feature_node(result: AttributionResult, k: int) -> dict:
    """A spliced SAE's feature: in its hook's layer, ordered within it by probe_location_idx (circuit-tracer's
    viewer groups a layer's streams by it); its id names the hook ("3post_17_5") so it never meets the layer's
    MLP features ("3_17_5")."""
    stage, pos, index = result.features[k]
    hook, layer, short, probe = _splice_place(result, stage)
    return {
        "node_id": f"{short}_{index}_{pos}",
        "feature": _cantor(stage, index),
        "layer": layer,
        "probe_location_idx": probe,
        "ctx_idx": pos,
        "feature_type": "cross layer transcoder",
        "jsNodeId": f"{short}_{index}-0",
        "activation": result.feature_activations[k],
        "source": result.layer_sources[stage],
        "index": index,
        "hook": hook,
        "node_kind": "sae feature",
    }


def _sae_error_node(result: AttributionResult, stage: int, pos: int) -> dict:
    hook, layer, short, probe = _splice_place(result, stage)
    return {
        "node_id": f"0_{short}_{pos}",
        "feature": -1,
        "layer": layer,
        "probe_location_idx": probe,
        "ctx_idx": pos,
        "feature_type": "mlp reconstruction error",
        "jsNodeId": f"{short}_{pos}-0",
        "source": result.layer_sources[stage],
        "hook": hook,
        "node_kind": "sae error",
    }


def graph_json(
    result: AttributionResult,
    *,
    slug: str,
    scan: str,
    prompt: str,
    prompt_tokens: list[str],
    target_label: str,
    target_source: str = "",
    target_index: int | None = None,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.98,
    extra_metadata: dict | None = None,
) -> tuple[dict, tuple[float, float]]:
    """The pruned graph in circuit-tracer's JSON schema (see circuits-common in docs/circuits.md), and its
    (replacement, completeness) scores computed on the unpruned graph, as circuit-tracer computes them."""
    n_features, n_pos = result.n_features, result.n_pos
    n_errors = result.n_stages * n_pos
    weights = torch.tensor([result.target_weight])
    pruned = prune(
        result.adjacency,
        n_features=n_features,
        n_tokens=n_pos,
        target_weights=weights,
        node_threshold=node_threshold,
        edge_threshold=edge_threshold,
    )
    scores = graph_scores(
        result.adjacency, n_features=n_features, n_errors=n_errors, n_tokens=n_pos, target_weights=weights
    )
    logit_layer = str(result.n_layers + 1)
    nodes: dict[int, dict] = {}
    for k in pruned.node_mask.nonzero().flatten().tolist():
        cumulative = float(pruned.cumulative[k])
        if k < n_features and result.features[k][0] >= result.n_layers:
            node = _sae_feature_node(result, k)
        elif k < n_features:
            layer, pos, index = result.features[k]
            node = {
                "node_id": f"{layer}_{index}_{pos}",
                "feature": _cantor(layer, index),
                "layer": str(layer),
                "ctx_idx": pos,
                "feature_type": "cross layer transcoder",
                "jsNodeId": f"{layer}_{index}-0",
                "activation": result.feature_activations[k],
                "source": result.layer_sources[layer],
                "index": index,
                "node_kind": "mlp neuron" if result.feature_kinds[layer] == "mlp neurons" else "transcoder feature",
            }
        elif k < n_features + n_errors and (k - n_features) // n_pos >= result.n_layers:
            node = _sae_error_node(result, *divmod(k - n_features, n_pos))
        elif k < n_features + n_errors:
            layer, pos = divmod(k - n_features, n_pos)
            node = {
                "node_id": f"0_{layer}_{pos}",
                "feature": -1,
                "layer": str(layer),
                "ctx_idx": pos,
                "feature_type": "mlp reconstruction error",
                "jsNodeId": f"{layer}_{pos}-0",
                "source": result.layer_sources[layer],
            }
        elif k < n_features + n_errors + n_pos:
            pos = k - n_features - n_errors
            vocab = result.input_ids[pos]
            node = {
                "node_id": f"E_{vocab}_{pos}",
                "feature": pos,
                "layer": "E",
                "ctx_idx": pos,
                "feature_type": "embedding",
                "jsNodeId": f"E_{vocab}-{pos}",
            }
        else:
            pos = result.extra["target_position"]
            identifier = result.extra["target_identifier"]
            node = {
                "node_id": f"{logit_layer}_{identifier}_{pos}",
                "feature": identifier,
                "layer": logit_layer,
                "ctx_idx": pos,
                "feature_type": "logit",
                "jsNodeId": f"L_{identifier}-{pos}",
                "token_prob": result.target_probability if result.target_probability is not None else 0.0,
                "is_target_logit": True,
                "clerp": target_label,
                "activation": result.target_activation,
                "node_kind": "feature target" if target_index is not None else "logit",
            }
            if target_source:
                node["source"] = target_source
                node["index"] = target_index
        defaults = {"token_prob": 0.0, "is_target_logit": False, "run_idx": 0, "reverse_ctx_idx": 0, "clerp": ""}
        node = {**defaults, **node, "influence": cumulative}
        node.setdefault("activation", None)
        nodes[k] = node

    destinations, sources = pruned.edge_mask.nonzero(as_tuple=True)
    links = [
        {"source": nodes[s]["node_id"], "target": nodes[d]["node_id"], "weight": float(result.adjacency[d, s])}
        for d, s in zip(destinations.tolist(), sources.tolist(), strict=True)
        if s in nodes and d in nodes
    ]
    linked = {link["source"] for link in links} | {link["target"] for link in links}
    used = [n for n in nodes.values() if n["node_id"] in linked or n["feature_type"] in ("embedding", "logit")]
    metadata = {
        "slug": slug,
        "scan": scan,
        "transcoder_list": list(dict.fromkeys(result.layer_sources)),
        "prompt_tokens": prompt_tokens,
        "prompt": prompt,
        "node_threshold": node_threshold,
        "schema_version": SCHEMA_VERSION,
        "edge_threshold": edge_threshold,
        "target": target_label,
        "replacement_score": scores[0],
        "completeness_score": scores[1],
        "n_active_features": result.n_active_features,
        "n_selected_features": n_features,
        **(extra_metadata or {}),
    }
    data = {
        "metadata": metadata,
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": used,
        "links": links,
    }
    return data, scores
