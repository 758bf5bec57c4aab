"""Neuronpedia-layout data dumps, loaded: one source's directory, or a tree of them, into this wiki (the row
layout is format.py's; dump_export.py writes the same layout).

Import is idempotent and checked row by row:
- A model that is not registered is created as a placeholder (path "": it cannot run live inference or
  new runs until an administrator points it at a checkpoint); a registered model is never changed.
- Features are upserted by (source, index); a feature's examples are replaced by those of the dump;
  explanations are added unless the feature already has one with the same text, method and model.
- Each batch file is one transaction: a file that cannot be read to its end (a truncated gzip) writes
  nothing. A row that cannot be read (not JSON, a missing field, values that do not match the tokens) is
  reported with its file and line and skipped; the other rows of its file are loaded.
"""

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import (
    ActivationExample,
    Feature,
    LanguageModel,
    Source,
    pack_floats,
    slug_validator,
    validate_not_reserved,
)

from ..services import windows_store
from . import format as np_format
from .format import RowError

BATCH_FILE = re.compile(r"^batch-(\d+)\.jsonl(\.gz)?$")
INSERT_CHUNK = 2000


@dataclass
class ImportReport:
    features: int = 0
    activations: int = 0
    explanations: int = 0
    explanations_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportError_(Exception):
    """A dump that cannot be imported at all (no features, two models in one source directory, ...)."""


def source_directories(root: Path) -> list[Path]:
    """Every directory under `root` (itself included) that holds a features/ folder: one source each."""
    root = Path(root)
    found = [path.parent for path in root.rglob("features") if path.is_dir()]
    if (root / "features").is_dir() and root not in found:
        found.append(root)
    return sorted(set(found))


def _batch_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    files = [(int(match.group(1)), path) for path in directory.iterdir() if (match := BATCH_FILE.match(path.name))]
    return [path for _, path in sorted(files)]


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a (gzipped) JSONL file; OSError/EOFError if the file is damaged."""
    with _open(path) as stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, line


def _rows(path: Path, label: str, report: ImportReport, parse) -> Iterator[tuple[int, object]]:
    for number, line in _lines(path):
        try:
            yield number, parse(np_format.parse_line(line))
        except RowError as error:
            report.errors.append(f"{label} line {number}: {error}")


def _first_row(path: Path) -> dict | None:
    for _number, line in _lines(path):
        try:
            return np_format.parse_line(line)
        except RowError:
            continue
    return None


def _model_for(model_slug: str, model_row: dict | None) -> LanguageModel:
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is not None:
        return model
    try:
        slug_validator(model_slug)
        validate_not_reserved(model_slug)
    except ValidationError as error:
        raise ImportError_(f"The model id {model_slug!r} cannot be a model here: {error}") from error
    row = model_row or {}

    def whole(key: str) -> int:
        value = row.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else 0

    display = row.get("displayName") if isinstance(row.get("displayName"), str) else ""
    # Imported models have no checkpoint here (path ""): their pages work, live inference and runs do not.
    return LanguageModel.objects.create(
        slug=model_slug,
        display_name=(display or model_slug)[:200],
        path="",
        architecture="",
        n_layers=whole("layers"),
        d_model=whole("dimension"),
        d_mlp=whole("neuronsPerLayer"),
        vocab_size=0,
        description="Imported from a Neuronpedia data dump.",
    )


def _source_for(model: LanguageModel, source_slug: str, source_row: dict | None, hook_name: str) -> Source:
    source = Source.objects.filter(model=model, slug=source_slug).first()
    if source is not None:
        return source
    try:
        slug_validator(source_slug)
    except ValidationError as error:
        raise ImportError_(f"The source id {source_slug!r} cannot be a source here: {error}") from error
    row = source_row or {}
    config = row.get("saelensConfig") if isinstance(row.get("saelensConfig"), dict) else None
    set_name = row.get("setName") if isinstance(row.get("setName"), str) and row.get("setName") else ""
    prefix, _, rest = source_slug.partition("-")
    layer = int(prefix) if prefix.isdigit() and int(prefix) < 100_000 else 0
    set_name = set_name or rest or source_slug
    if config is not None:
        hook_name = config.get("hook_name") or hook_name
        kind = config.get("kind") if config.get("kind") in Source.Kind.values else Source.Kind.SAE
        stored_config = {key: config[key] for key in np_format.SAELENS_CONFIG_KEYS if key in config}
    else:
        kind = Source.Kind.NEURONS if set_name == "mlp" or hook_name.endswith("mlp.hook_post") else Source.Kind.SAE
        stored_config = {}
    return Source.objects.create(
        model=model,
        slug=source_slug,
        kind=kind,
        hook_name=(hook_name or "")[:128],
        layer=layer,
        set_name=set_name[:64],
        n_features=0,
        config={**stored_config, "imported": True},
    )


def _read_single_row(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return _first_row(path)
    except (OSError, EOFError):
        return None


def import_source_directory(directory: Path, report: ImportReport, *, log: Callable[[str], None] = print) -> None:
    directory = Path(directory)
    feature_files = _batch_files(directory / "features")
    if not feature_files:
        raise ImportError_(f"{directory}: no features/batch-N.jsonl.gz files.")
    model_row = _read_single_row(directory / "model.jsonl")
    source_row = _read_single_row(directory / "source.jsonl")
    first = None
    for path in feature_files:
        try:
            first = _first_row(path)
        except (OSError, EOFError):
            continue
        if first is not None:
            break
    if first is None:
        raise ImportError_(f"{directory}: the feature files hold no readable row.")
    try:
        model_slug, source_slug = np_format.row_model_and_source(first)
    except RowError as error:
        raise ImportError_(f"{directory}: {error}") from error
    hook_name = first.get("hookName") if isinstance(first.get("hookName"), str) else ""
    with transaction.atomic():
        model = _model_for(model_slug, model_row)
        source = _source_for(model, source_slug, source_row, hook_name)
    report.sources.append(f"{model.slug}/{source.slug}")
    base = directory

    def label(path: Path) -> str:
        return str(path.relative_to(base))

    for path in feature_files:
        _guarded(path, label(path), report, lambda p=path: _import_features(p, label(p), source, report))
    for path in _batch_files(directory / "activations"):
        _guarded(path, label(path), report, lambda p=path: _import_activations(p, label(p), source, report))
    for path in _batch_files(directory / "explanations"):
        _guarded(path, label(path), report, lambda p=path: _import_explanations(p, label(p), source, report))
    highest = source.features.aggregate(highest=Max("index"))["highest"]
    if highest is not None and highest + 1 > source.n_features:
        Source.objects.filter(pk=source.pk).update(n_features=highest + 1)
    log(
        f"{model.slug}/{source.slug}: {report.features} features, {report.activations} activations, "
        f"{report.explanations} explanations so far"
    )


def _guarded(path: Path, label: str, report: ImportReport, work: Callable[[], None]) -> None:
    """One transaction per batch file; a file that cannot be read to its end writes nothing."""
    errors_before = len(report.errors)
    counts_before = (report.features, report.activations, report.explanations, report.explanations_skipped)
    try:
        with transaction.atomic():
            work()
    except (OSError, EOFError, zlib.error) as error:
        del report.errors[errors_before:]
        report.features, report.activations, report.explanations, report.explanations_skipped = counts_before
        report.errors.append(f"{label}: cannot be read ({error}); nothing from this file was loaded.")


def _check_row_source(row: dict, source: Source) -> dict:
    model_slug, source_slug = np_format.row_model_and_source(row)
    if (model_slug, source_slug) != (source.model.slug, source.slug):
        raise RowError(f"belongs to {model_slug}/{source_slug}, not {source.model.slug}/{source.slug}")
    return row


def _import_features(path: Path, label: str, source: Source, report: ImportReport) -> None:
    parsed: dict[int, dict] = {}
    rows = _rows(path, label, report, lambda row: np_format.feature_fields(_check_row_source(row, source)))
    for _number, fields in rows:
        fields.pop("hook_name", None)
        parsed[fields["index"]] = fields
    existing = {feature.index: feature for feature in source.features.filter(index__in=list(parsed))}
    names = ["max_activation", "density", "histogram", "top_logits", "bottom_logits", "similar"]
    updated, created = [], []
    now = timezone.now()  # bulk_update leaves auto_now alone; the feature page's cached dashboard goes by it
    for index, fields in parsed.items():
        feature = existing.get(index) or Feature(source=source, index=index)
        for name in names:
            setattr(feature, name, fields[name])
        feature.updated_at = now
        (updated if feature.pk else created).append(feature)
    Feature.objects.bulk_update(updated, [*names, "updated_at"], batch_size=1000)
    Feature.objects.bulk_create(created, batch_size=1000)
    report.features += len(parsed)


def _import_activations(path: Path, label: str, source: Source, report: ImportReport) -> None:
    """Two passes over the file: the first finds the features and each feature's intervals (ranked by their
    lower bound) and drops those features' old examples; the second inserts, INSERT_CHUNK rows at a time."""
    indices: set[int] = set()
    intervals: dict[int, set[tuple[float, float]]] = {}
    good_lines: set[int] = set()
    for number, line in _lines(path):
        try:
            fields = np_format.activation_fields(_check_row_source(np_format.parse_line(line), source))
        except RowError as error:
            report.errors.append(f"{label} line {number}: {error}")
            continue
        good_lines.add(number)
        indices.add(fields["index"])
        if fields["interval"] is not None:
            intervals.setdefault(fields["index"], set()).add(fields["interval"][:2])
    known = dict(source.features.filter(index__in=list(indices)).values_list("index", "pk"))
    interval_rank = {
        index: {bounds: rank for rank, bounds in enumerate(sorted(found))} for index, found in intervals.items()
    }
    ActivationExample.objects.filter(feature_id__in=list(known.values())).delete()
    # Their dashboards change: a new updated_at retires the feature pages' cached dashboards.
    Feature.objects.filter(pk__in=list(known.values())).update(updated_at=timezone.now())

    ranks: dict[tuple[int, str, int | None], int] = {}
    pending: list[dict] = []

    def flush() -> None:
        window_ids = windows_store(source.model, [fields["tokens"] for fields in pending])
        examples = []
        for fields, window_id in zip(pending, window_ids, strict=True):
            index = fields["index"]
            interval = fields["interval"]
            kind = ActivationExample.Kind.TOP if interval is None else ActivationExample.Kind.INTERVAL
            interval_index = None if interval is None else interval_rank[index][interval[:2]]
            rank = ranks.get((index, kind, interval_index), 0)
            ranks[(index, kind, interval_index)] = rank + 1
            examples.append(
                ActivationExample(
                    feature_id=known[index],
                    window_id=window_id,
                    kind=kind,
                    rank=rank,
                    values=pack_floats(fields["values"]),
                    max_value=fields["max_value"],
                    max_token_index=fields["max_token_index"],
                    interval_index=interval_index,
                    bin_min=None if interval is None else interval[0],
                    bin_max=None if interval is None else interval[1],
                    bin_contains=None if interval is None else interval[2],
                )
            )
        ActivationExample.objects.bulk_create(examples, batch_size=INSERT_CHUNK)
        report.activations += len(examples)
        pending.clear()

    for number, line in _lines(path):
        if number not in good_lines:
            continue
        fields = np_format.activation_fields(np_format.parse_line(line))
        if fields["index"] not in known:
            report.errors.append(f"{label} line {number}: there is no feature {fields['index']} (load features/ first)")
            continue
        pending.append(fields)
        if len(pending) >= INSERT_CHUNK:
            flush()
    if pending:
        flush()


def _import_explanations(path: Path, label: str, source: Source, report: ImportReport) -> None:
    parsed = list(_rows(path, label, report, lambda row: np_format.explanation_fields(_check_row_source(row, source))))
    features = {
        feature.index: feature
        for feature in source.features.select_related("source__model").filter(index__in={f["index"] for _, f in parsed})
    }
    existing: set[tuple] = set()
    for feature_id, text, method, explainer_model in Explanation.objects.filter(
        feature__in=features.values()
    ).values_list("feature_id", "current_revision__text", "method", "explainer_model"):
        existing.add((feature_id, text, method, explainer_model))
        existing.add((feature_id, text))  # an explanation of unknown origin matches the same text by anyone
    for number, fields in parsed:
        feature = features.get(fields["index"])
        if feature is None:
            report.errors.append(f"{label} line {number}: there is no feature {fields['index']} (load features/ first)")
            continue
        text = " ".join(fields["text"].split())
        key = (feature.pk, text, fields["method"], fields["explainer_model"])
        if key in existing or (fields["method"] == np_format.IMPORTED_METHOD and (feature.pk, text) in existing):
            report.explanations_skipped += 1
            continue
        try:
            explanation_services.explanation_create(
                feature=feature,
                text=text,
                method=fields["method"],
                explainer_model=fields["explainer_model"],
                message="Imported from a Neuronpedia data dump",
                embed=False,
            )
        except (ValidationError, PermissionDenied) as error:  # too long, empty, ...
            messages = getattr(error, "messages", None) or [str(error)]
            report.errors.append(f"{label} line {number}: {' '.join(messages)}")
            continue
        existing.update({key, (feature.pk, text)})
        report.explanations += 1


def import_dump(root: Path, *, log: Callable[[str], None] = print) -> ImportReport:
    report = ImportReport()
    directories = source_directories(Path(root))
    if not directories:
        raise ImportError_(f"{root}: found no source directory (one with features/batch-N.jsonl.gz files).")
    for directory in directories:
        try:
            import_source_directory(directory, report, log=log)
        except ImportError_ as error:
            report.errors.append(str(error))
    return report
