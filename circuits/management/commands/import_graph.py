from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from circuits.core.graph_schema import GraphSchemaError
from circuits.services.imports import MAX_IMPORT_BYTES, graph_import
from features.models import LanguageModel


class Command(BaseCommand):
    help = (
        "Import an attribution graph written by circuit-tracer (the JSON of create_graph_files, the one Neuronpedia "
        "renders) as a graph page of MODEL. Its feature nodes link to MODEL's features when its metadata's "
        "transcoder_list or scan names MODEL's sources (docs/circuits.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="Slug of a registered model")
        parser.add_argument("file", help="The graph's JSON file")
        parser.add_argument("--slug", default="", help="The graph's address (default: from the file's slug)")
        parser.add_argument("--title", default="", help="Its title (default: the file's slug)")
        parser.add_argument("--description", default="")

    def handle(self, *args, **options):
        model = LanguageModel.objects.filter(slug=options["model"]).first()
        if model is None:
            raise CommandError(f"There is no model {options['model']!r}; see register_model.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise CommandError(f"{path} is larger than the {MAX_IMPORT_BYTES // 2**20} MiB limit.")
        try:
            graph = graph_import(
                model=model,
                raw=path.read_bytes(),
                slug=options["slug"],
                title=options["title"],
                description=options["description"],
                require_author=False,
            )
        except GraphSchemaError as error:
            raise CommandError("The graph was not imported:\n- " + "\n- ".join(error.problems)) from error
        except ValidationError as error:
            raise CommandError("The graph was not imported: " + "; ".join(error.messages)) from error
        linked = graph.feature_nodes.count()
        self.stdout.write(
            f"Imported {graph} ({len(graph.data['nodes'])} nodes, {len(graph.data['links'])} links, "
            f"{linked} linked to features): {graph.get_absolute_url()}"
        )
        missing = graph.data["metadata"].get("feature_links_missing")
        if missing:
            self.stdout.write(f"Its nodes are not linked to features: {missing}.")
