"""Interventions on a stored graph (circuits/core/interventions.py): scale or ablate some of its nodes, run the real
model again, and set what happened beside what the graph's edges predicted. The returned dict's keys are listed in
docs/circuits.md ("Interventions")."""

from circuits.core.attribution import FeatureTarget, LayerReplacement
from circuits.core.interventions import NodeRef, run_with_edits
from circuits.models import Graph
from features.inference import model_lock
from features.models import Source
from features.pipeline.errors import PipelineInputError

from .graphs import GraphInputError, graph_plan

MAX_EDITS = 64
MAX_SCALE = 100.0


def _edit_list(graph: Graph, edits: list[dict]) -> list[tuple[str, float]]:
    """[(node_id, scale)] from [{"node_id", "scale"}] or, for a supernode, [{"node_ids": [...], "scale"}]."""
    if not isinstance(edits, list) or not edits:
        raise GraphInputError("Give at least one edit: a node id and a scale (0 ablates it).")
    flat: dict[str, float] = {}
    for edit in edits:
        if not isinstance(edit, dict):
            raise GraphInputError('Each edit is {"node_id": ..., "scale": ...}.')
        ids = edit.get("node_ids") if "node_ids" in edit else [edit.get("node_id")]
        scale = edit.get("scale", 0.0)
        if not isinstance(scale, int | float) or isinstance(scale, bool) or not -MAX_SCALE <= scale <= MAX_SCALE:
            raise GraphInputError(f"A scale is a number between {-MAX_SCALE:g} and {MAX_SCALE:g} (got {scale!r}).")
        if not isinstance(ids, list) or not all(isinstance(node_id, str) for node_id in ids):
            raise GraphInputError("A node id is a string, e.g. 1_17_5; a supernode is a list of them.")
        for node_id in ids:
            flat[node_id] = float(scale)
    if len(flat) > MAX_EDITS:
        raise GraphInputError(f"At most {MAX_EDITS} nodes can be edited at once ({len(flat)} given).")
    nodes = {node["node_id"]: node for node in graph.data.get("nodes", [])}
    for node_id in flat:
        node = nodes.get(node_id)
        if node is None:
            raise GraphInputError(f"The graph has no node {node_id!r}.")
        if node["feature_type"] != "cross layer transcoder":
            raise GraphInputError(
                f"{node_id} is {node['feature_type']!r}: only feature and neuron nodes can be scaled."
            )
    return list(flat.items())


def _ref(node: dict) -> NodeRef:
    """A spliced SAE's feature carries its hook; a layer's transcoder feature or neuron does not."""
    return NodeRef(
        layer=int(node["layer"]), position=int(node["ctx_idx"]), index=int(node["index"]), hook=node.get("hook", "")
    )


def graph_intervene(*, graph: Graph, edits: list[dict]) -> dict:
    """Scale the activations of some of `graph`'s feature or neuron nodes (scale 0 ablates) in the real model and
    return the target's and every other feature node's values before and after, with the change the graph's
    (pruned) edges predict from the edited nodes directly: sum over edits of edge weight x (scale - 1)."""
    if graph.origin != Graph.Origin.COMPUTED or "input_ids" not in graph.params:
        raise GraphInputError("Only a graph computed here can be intervened on (its model and sources are known).")
    edit_list = _edit_list(graph, edits)
    params = graph.params
    try:
        plan = graph_plan(
            model=graph.model,
            prompt=params["prompt"],
            target=params.get("target_resolved", params.get("target", "")),
            sources=params["sources"],
        )
    except Source.DoesNotExist as error:  # pragma: no cover - graph_plan names missing sources itself
        raise GraphInputError(str(error)) from error
    if plan.input_ids != params["input_ids"]:
        raise GraphInputError("The model's tokenizer now reads the prompt differently; compute the graph again.")
    replacements: dict[int, LayerReplacement] = {r.layer: r for r in plan.replacements}
    splices = {splice.hook_name: splice for splice in plan.splices}
    graph_nodes = [n for n in graph.data["nodes"] if n["feature_type"] == "cross layer transcoder"]
    refs = {n["node_id"]: _ref(n) for n in graph_nodes}
    target_node = next(n for n in graph.data["nodes"] if n.get("is_target_logit"))
    try:
        with model_lock(plan.loaded.path):
            before = run_with_edits(
                plan.loaded, plan.input_ids, replacements, list(refs.values()), plan.target, splices=splices
            )
            clean = {ref: before.nodes[ref].activation for ref in refs.values()}
            scales = {refs[node_id]: scale for node_id, scale in edit_list}
            after = run_with_edits(
                plan.loaded, plan.input_ids, replacements, list(refs.values()), plan.target, scales, clean, splices
            )
    except PipelineInputError as error:
        raise GraphInputError(str(error)) from error

    # direct predictions from the stored edges: an edge's weight is the source's activation times a constant
    edited = dict(edit_list)
    predicted: dict[str, float] = {}
    for link in graph.data.get("links", []):
        if link["source"] in edited:
            predicted[link["target"]] = predicted.get(link["target"], 0.0) + link["weight"] * (
                edited[link["source"]] - 1
            )

    def node_row(node_id: str) -> dict:
        ref = refs[node_id]
        was, now = before.nodes[ref], after.nodes[ref]
        row = {
            "node_id": node_id,
            "activation_before": was.activation,
            "activation_after": now.activation,
            "pre_activation_before": was.pre_activation,
            "pre_activation_after": now.pre_activation,
            "pre_activation_change": now.pre_activation - was.pre_activation,
            "predicted_change": predicted.get(node_id, 0.0),
        }
        if node_id in edited:  # its input is untouched: what it writes is what was edited
            row["activation_after"] = edited[node_id] * was.activation
        return row

    target_row = {
        "node_id": target_node["node_id"],
        "label": graph.target,
        "kind": "feature" if isinstance(plan.target, FeatureTarget) else "logit",
        "value_before": before.target.value,
        "value_after": after.target.value,
        "change": after.target.value - before.target.value,
        "predicted_change": predicted.get(target_node["node_id"], 0.0),
        "activation_before": before.target.activation,
        "activation_after": after.target.activation,
        "probability_before": before.target.probability,
        "probability_after": after.target.probability,
    }
    return {
        "edits": [{"node_id": node_id, "scale": scale} for node_id, scale in edit_list],
        "target": target_row,
        "nodes": [node_row(node_id) for node_id in refs if node_id in edited]
        + sorted(
            (node_row(node_id) for node_id in refs if node_id not in edited),
            key=lambda row: -abs(row["pre_activation_change"]),
        ),
    }
