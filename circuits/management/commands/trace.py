import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from circuits.models import Graph
from circuits.services.graphs import (
    DEFAULT_EDGE_THRESHOLD,
    DEFAULT_FEATURE_NODES,
    DEFAULT_NODE_THRESHOLD,
    GraphInputError,
    graph_run_create,
)
from features.models import LanguageModel
from features.services.runs import run_enqueue_and_follow


class Command(BaseCommand):
    help = (
        "Compute the attribution graph of a prompt (circuit-tracer's method: docs/circuits.md) and store it as a "
        "graph page; with --output, also write its JSON (circuit-tracer's schema). The target is by default the "
        "top next token of a causal LM, or the most active feature of an encoder's deepest dictionary at the "
        "last token. Runs on a django-q2 worker (`manage.py qcluster`) unless --sync is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="Slug of a registered model")
        parser.add_argument("prompt")
        parser.add_argument(
            "--target",
            default="",
            help="A token (its logit after the prompt; #ID for a token id) or SOURCE:INDEX@POSITION (a feature; "
            "a negative position counts from the end)",
        )
        parser.add_argument(
            "--sources",
            nargs="*",
            default=[],
            help="What stands for each layer's MLP: transcoder source slugs, or N-mlp for layer N's neurons "
            "(default: a layer's transcoder if one is registered, else its neurons)",
        )
        parser.add_argument(
            "--max-nodes", type=int, default=DEFAULT_FEATURE_NODES, help="Feature nodes whose edges are computed"
        )
        parser.add_argument(
            "--node-threshold", type=float, default=DEFAULT_NODE_THRESHOLD, help="Share of influence the nodes keep"
        )
        parser.add_argument(
            "--edge-threshold", type=float, default=DEFAULT_EDGE_THRESHOLD, help="Share of influence the edges keep"
        )
        parser.add_argument("--slug", default="", help="The graph's slug (default: from the prompt and run)")
        parser.add_argument("--title", default="")
        parser.add_argument("--output", default="", help="Write the graph's JSON here")
        parser.add_argument("--sync", action="store_true", help="Run in this process instead of on a worker")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the run")

    def handle(self, *args, **options):
        model = LanguageModel.objects.filter(slug=options["model"]).first()
        if model is None:
            known = ", ".join(LanguageModel.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No model {options['model']!r} is registered (registered: {known}).")
        try:
            run = graph_run_create(
                model=model,
                prompt=options["prompt"],
                target=options["target"],
                sources=options["sources"],
                max_nodes=options["max_nodes"],
                node_threshold=options["node_threshold"],
                edge_threshold=options["edge_threshold"],
                slug=options["slug"],
                title=options["title"],
                sync=options["sync"],
            )
        except GraphInputError as error:
            raise CommandError(str(error)) from error
        run = run_enqueue_and_follow(run=run, wait=True, stdout=self.stdout, timeout_s=options["timeout"])
        graph = Graph.objects.filter(run=run).first()
        if graph is None:
            raise CommandError(f"Run #{run.pk} stored no graph: {run.error or run.message}")
        self.stdout.write(
            f"Graph {graph.slug} of {model.slug}: {graph.target}; replacement score {graph.replacement_score:.3f}, "
            f"completeness {graph.completeness_score:.3f} ({graph.get_absolute_url()})."
        )
        if options["output"]:
            Path(options["output"]).write_text(json.dumps(graph.data), encoding="utf-8")
            self.stdout.write(f"Wrote {options['output']}.")
