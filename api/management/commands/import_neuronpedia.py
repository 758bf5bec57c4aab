"""Load a Neuronpedia data dump (one source's directory, or a tree of them) into this wiki."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from api.neuronpedia.dump_import import ImportError_, import_dump


class Command(BaseCommand):
    help = (
        "Import a Neuronpedia-layout dump: DIR holds features/, activations/ and explanations/ as batch-N.jsonl.gz "
        "(or DIR is a tree of such source directories, e.g. <model>/<source>/). Safe to run again. Models that "
        "are not registered are created without a checkpoint (no live inference until one is set)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory")

    def handle(self, *args, directory: str, **options) -> None:
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory.")
        try:
            report = import_dump(root, log=lambda line: self.stderr.write(line))
        except ImportError_ as error:
            raise CommandError(str(error)) from error
        for error in report.errors:
            self.stderr.write(self.style.ERROR(error))
        into = ", ".join(report.sources) or "nothing"
        summary = (
            f"Imported {report.features:,} features, {report.activations:,} activations and {report.explanations:,} "
            f"explanations ({report.explanations_skipped:,} already there) into {into}."
        )
        if report.errors:
            raise CommandError(f"{summary} {len(report.errors)} problem(s), listed above; those rows were skipped.")
        self.stdout.write(self.style.SUCCESS(summary))
