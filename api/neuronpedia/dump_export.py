"""Neuronpedia-layout data dumps, written: one source's features, activations and explanations as
`batch-N.jsonl.gz` files (the row layout is format.py's).

Export is streamed: features, examples and explanations are read a batch at a time (api.exports), so a
source of any size is written in constant memory. Files are gzipped with a fixed header (no name, no
time), so the same data always gives the same bytes.
"""

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from features.models import (
    Source,
)

from .. import exports
from . import format as np_format
from .format import BATCH_SIZE


class _GzipWriter:
    """A deterministic .jsonl.gz file: no file name or time in the header."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.raw = path.open("wb")
        self.file = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=5)
        self.buffer = io.BufferedWriter(self.file, buffer_size=1 << 20)

    def write(self, data: bytes) -> None:
        self.buffer.write(data)

    def close(self) -> None:
        self.buffer.close()
        self.raw.close()


def _write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for row in rows:
            out.write(np_format.dumps_row(row))


@dataclass
class ExportReport:
    features: int = 0
    activations: int = 0
    explanations: int = 0
    files: list[str] = field(default_factory=list)


def export_source(source: Source, directory: Path, *, progress: Callable[[str, int], None] | None = None):
    """Write `source` in Neuronpedia's layout into `directory` (which should be empty)."""
    directory = Path(directory)
    creator = settings.NEURONPEDIA_EXPORT_CREATOR_ID
    model_slug = source.model.slug
    report = ExportReport()
    _write_jsonl(directory / "model.jsonl", [np_format.model_row(source.model, creator)])
    _write_jsonl(directory / "source.jsonl", [np_format.source_row(source, creator)])
    _write_jsonl(directory / "sourceset.jsonl", [np_format.sourceset_row(source, creator)])

    common = {"model_slug": model_slug, "source_slug": source.slug, "creator_id": creator}
    batch_number = 0
    features_file = activations_file = None
    in_batch = 0
    windows = exports.WindowCache()
    for batch in exports.feature_batches(source):
        grouped = exports._examples_of([feature["id"] for feature in batch])
        windows.load(example.window_id for examples in grouped.values() for example in examples)
        for feature in batch:
            if features_file is None:
                features_file = _GzipWriter(directory / "features" / f"batch-{batch_number}.jsonl.gz")
                activations_file = _GzipWriter(directory / "activations" / f"batch-{batch_number}.jsonl.gz")
            row = np_format.feature_row(set_name=source.set_name, hook_name=source.hook_name, feature=feature, **common)
            features_file.write(np_format.dumps_row(row))
            report.features += 1
            for number, example in enumerate(grouped[feature["id"]]):
                activation = np_format.activation_row(
                    index=feature["index"],
                    number=number,
                    example=example,
                    tokens_json=windows.tokens_json(example.window_id),
                    **common,
                )
                activations_file.write(np_format.dumps_row(activation))
                report.activations += 1
            in_batch += 1
            if in_batch == BATCH_SIZE:
                features_file.close()
                activations_file.close()
                features_file = activations_file = None
                in_batch = 0
                batch_number += 1
                if progress:
                    progress("features", report.features)
    if features_file is not None:
        features_file.close()
        activations_file.close()

    explanations_file = None
    batch_number = in_batch = 0
    counters: dict[int, int] = {}
    for batch in exports.explanation_batches(source):
        for row in batch:
            index = row["feature__index"]
            number = counters.get(index, 0)
            counters[index] = number + 1
            if explanations_file is None:
                explanations_file = _GzipWriter(directory / "explanations" / f"batch-{batch_number}.jsonl.gz")
            explanations_file.write(
                np_format.dumps_row(np_format.explanation_row(index=index, number=number, row=row, **common))
            )
            report.explanations += 1
            in_batch += 1
            if in_batch == BATCH_SIZE:
                explanations_file.close()
                explanations_file = None
                in_batch = 0
                batch_number += 1
    if explanations_file is not None:
        explanations_file.close()
    report.files = sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())
    return report
