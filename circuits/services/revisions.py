"""Edits of a graph's annotations (node labels and supernode groups), each kept as a GraphRevision: who, when,
what changed, and the state after it."""

from django.core.exceptions import ValidationError
from django.db import transaction

from explanations.services.permissions import ensure_can_write

from ..core.graph_schema import GraphSchemaError, supernodes_clean
from ..models import Graph, GraphRevision, graph_labels

MAX_LABEL_LENGTH = 200


def graph_annotate(
    *,
    graph: Graph,
    user,
    labels: dict[str, str] | None = None,
    supernodes: list[list[str]] | None = None,
) -> GraphRevision | None:
    """Set the labels of some nodes (an empty label removes it) and/or replace the supernode groups. Returns the
    new revision, or None when nothing changed. ValidationError names what is wrong; nothing is written then."""
    ensure_can_write(user)
    with transaction.atomic():
        graph = Graph.objects.select_for_update().get(pk=graph.pk)
        nodes = {node["node_id"]: node for node in graph.data["nodes"]}
        changes: list[dict] = []
        for node_id, label in (labels or {}).items():
            if node_id not in nodes:
                raise ValidationError({"labels": f"There is no node {node_id!r} in this graph."})
            label = " ".join(str(label).split())
            if len(label) > MAX_LABEL_LENGTH:
                raise ValidationError({"labels": f"Keep a label under {MAX_LABEL_LENGTH} characters."})
            before = nodes[node_id].get("clerp", "")
            if label != before:
                nodes[node_id]["clerp"] = label
                changes.append({"kind": "label", "node_id": node_id, "before": before, "after": label})
        if supernodes is not None:
            try:
                clean = supernodes_clean(supernodes, set(nodes))
            except GraphSchemaError as error:
                raise ValidationError({"supernodes": error.problems}) from error
            before_groups = graph.data["qParams"].get("supernodes", [])
            if clean != before_groups:
                graph.data["qParams"]["supernodes"] = clean
                changes.append({"kind": "supernodes", "before": before_groups, "after": clean})
        if not changes:
            return None
        graph.save(update_fields=["data", "updated_at"])
        return GraphRevision.objects.create(
            graph=graph,
            author=user,
            summary=revision_summary(changes),
            changes=changes,
            labels=graph_labels(graph),
            supernodes=graph.data["qParams"]["supernodes"],
        )


def revision_summary(changes: list[dict]) -> str:
    parts = []
    labels = [c for c in changes if c["kind"] == "label"]
    if len(labels) == 1:
        change = labels[0]
        if change["after"]:
            parts.append(f"Labelled {change['node_id']} \u201c{change['after']}\u201d")
        else:
            parts.append(f"Removed the label of {change['node_id']}")
    elif labels:
        parts.append(f"Changed {len(labels)} labels")
    for change in changes:
        if change["kind"] == "supernodes":
            before = {group[0] for group in change["before"]}
            after = {group[0] for group in change["after"]}
            added, removed = sorted(after - before), sorted(before - after)
            if added:
                parts.append("Grouped " + ", ".join(f"\u201c{name}\u201d" for name in added))
            if removed:
                parts.append("Ungrouped " + ", ".join(f"\u201c{name}\u201d" for name in removed))
            if not added and not removed:
                parts.append("Changed the members of supernodes")
    return "; ".join(parts)[:300]
