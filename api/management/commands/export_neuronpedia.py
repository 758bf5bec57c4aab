"""Write one source in Neuronpedia's data-dump layout: model.jsonl, source.jsonl, sourceset.jsonl and
features/, activations/, explanations/ as batch-N.jsonl.gz (see api/neuronpedia/format.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from api.neuronpedia.dump_export import export_source
from features.models import Source


class Command(BaseCommand):
    help = "Export a source (its features, activation examples and explanations) in Neuronpedia's dump layout."

    def add_arguments(self, parser) -> None:
        parser.add_argument("model", help="Model slug, e.g. minilm-l6")
        parser.add_argument("source", help="Source slug, e.g. 3-mlp")
        parser.add_argument("directory", help="Where to write; must be empty or not exist")

    def handle(self, *args, model: str, source: str, directory: str, **options) -> None:
        row = Source.objects.select_related("model").filter(model__slug=model, slug=source).first()
        if row is None:
            raise CommandError(f"There is no source {model}/{source}.")
        target = Path(directory)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise CommandError(f"{target} is not an empty directory; choose a new one.")
        target.mkdir(parents=True, exist_ok=True)

        def progress(what: str, count: int) -> None:
            self.stderr.write(f"  {count:,} {what} written")

        report = export_source(row, target, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {report.features:,} features, {report.activations:,} activations and "
                f"{report.explanations:,} explanations of {model}/{source} to {target} ({len(report.files)} files)."
            )
        )
