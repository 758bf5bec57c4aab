from django.core.management.base import BaseCommand, CommandError

from circuits.models import Graph
from circuits.services.graphs import GraphInputError
from circuits.services.interventions import graph_intervene


def node_edit(value: str) -> dict:
    """ID or ID=SCALE (no scale: ablate, scale 0)."""
    node_id, _, scale = value.partition("=")
    try:
        return {"node_id": node_id, "scale": float(scale) if scale else 0.0}
    except ValueError as error:
        raise CommandError(f"--node takes ID or ID=SCALE, e.g. 1_17_5=0.5 (got {value!r}).") from error


class Command(BaseCommand):
    help = (
        "Scale (or ablate) nodes of a stored graph in the real model and print the target's change and the nodes "
        "that moved most, beside what the graph's edges predicted."
    )

    def add_arguments(self, parser):
        parser.add_argument("graph", help="GRAPH_SLUG, or MODEL/GRAPH_SLUG when several models have that slug")
        parser.add_argument("--node", action="append", type=node_edit, required=True, help="ID or ID=SCALE")
        parser.add_argument("--top", type=int, default=10, help="How many of the other nodes to print")

    def handle(self, *args, graph, node, top, **options):
        model_slug, _, slug = graph.rpartition("/")
        graphs = Graph.objects.filter(slug=slug)
        if model_slug:
            graphs = graphs.filter(model__slug=model_slug)
        if graphs.count() != 1:
            found = "no graph" if not graphs.exists() else "graphs of several models; write MODEL/SLUG"
            raise CommandError(f"{graph!r}: {found}.")
        try:
            result = graph_intervene(graph=graphs.get(), edits=node)
        except GraphInputError as error:
            raise CommandError(str(error)) from error
        target = result["target"]
        self.stdout.write(
            f"Target {target['label']}: {target['value_before']:.4f} -> {target['value_after']:.4f} "
            f"(change {target['change']:+.4f}; the graph's direct edges predicted {target['predicted_change']:+.4f})"
        )
        if target["probability_before"] is not None:
            self.stdout.write(f"Probability {target['probability_before']:.4f} -> {target['probability_after']:.4f}")
        edited = {edit["node_id"] for edit in result["edits"]}
        others = [row for row in result["nodes"] if row["node_id"] not in edited][:top]
        for row in others:
            self.stdout.write(
                f"  {row['node_id']:>16}  pre-activation {row['pre_activation_before']:+.4f} -> "
                f"{row['pre_activation_after']:+.4f}  (predicted {row['predicted_change']:+.4f})"
            )
