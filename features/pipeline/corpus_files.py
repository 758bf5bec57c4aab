"""Corpora read from files on this machine: a .txt, .jsonl or .parquet file, or a Hugging Face dataset that is
already in the local cache (never downloaded: there may be no network, and a run must not wait on one).

A dataset is looked for first as a hub-cache snapshot of its repository ($HF_HUB_CACHE, by default
$HF_HOME/hub: `datasets--ORG--NAME/snapshots/<commit>/`, with its parquet or jsonl files), read by `datasets`
as a local directory, then as the Arrow files a `load_dataset` call left in the datasets cache
($HF_DATASETS_CACHE, by default $HF_HOME/datasets).
"""

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import PipelineInputError

DEFAULT_TEXT_FIELD = "text"
MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is a corpus in the wrong format, not one document
KNOWN_SPLITS = ("train", "test", "validation", "valid", "dev")
FILE_SUFFIXES = (".txt", ".jsonl", ".parquet")


# --- local files ------------------------------------------------------------------------------------------


def _existing_file(path: Path) -> Path:
    if not path.exists():
        raise PipelineInputError(f"Corpus file {str(path)!r} does not exist.")
    if not path.is_file():
        raise PipelineInputError(f"Corpus {str(path)!r} is not a file.")
    return path


def text_documents(path: Path) -> Iterator[str]:
    """A text file, split into documents on blank lines."""
    paragraph: list[str] = []
    with _existing_file(path).open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise PipelineInputError(f"{path.name} line {number} is over {MAX_LINE_BYTES // 2**20} MiB long.")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.strip():
                paragraph.append(line)
            elif paragraph:
                yield "\n".join(paragraph).strip()
                paragraph = []
    if paragraph:
        yield "\n".join(paragraph).strip()


def jsonl_documents(path: Path, field: str = DEFAULT_TEXT_FIELD) -> Iterator[str]:
    """One JSON object per line, its `field` a string (a blank one is skipped)."""
    with _existing_file(path).open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise PipelineInputError(f"{path.name} line {number} is over {MAX_LINE_BYTES // 2**20} MiB long.")
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                reason = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
                raise PipelineInputError(f"{path.name} line {number}: not JSON ({reason}).") from error
            if not isinstance(record, dict) or not isinstance(record.get(field), str):
                raise PipelineInputError(f"{path.name} line {number}: expected an object with a {field!r} string.")
            if record[field].strip():
                yield record[field]


def parquet_documents(path: Path, field: str = DEFAULT_TEXT_FIELD) -> Iterator[str]:
    """A parquet file's string column `field`, row by row, a row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(_existing_file(path))
    except (pa.ArrowInvalid, OSError) as error:
        raise PipelineInputError(f"{path.name} is not a parquet file ({error}).") from error
    schema = parquet.schema_arrow
    if field not in schema.names:
        raise PipelineInputError(f"{path.name} has no column {field!r}; its columns: {', '.join(schema.names)}.")
    column_type = schema.field(field).type
    if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
        raise PipelineInputError(f"{path.name}: column {field!r} holds {column_type}, not strings.")
    for group in range(parquet.num_row_groups):
        for text in parquet.read_row_group(group, columns=[field]).column(0).to_pylist():
            if text and text.strip():
                yield text


def file_documents(path: str | Path, field: str = DEFAULT_TEXT_FIELD) -> Iterator[str]:
    """A .jsonl or .parquet file's `field`, or any other file as text split on blank lines."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return jsonl_documents(path, field)
    if path.suffix == ".parquet":
        return parquet_documents(path, field)
    return text_documents(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _existing_file(path).open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- Hugging Face datasets from the local cache ------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # a hub repository id (ORG/NAME) or a local path
    config: str | None
    split: str
    revision: str | None = None


def parse_dataset_spec(spec: str) -> DatasetSpec:
    """`datasets:NAME[@REVISION][:CONFIG][:SPLIT]`. With one part after NAME, it is the split when it is a usual
    split's name (train, test, validation...), else the config; give both to be explicit."""
    parts = spec.removeprefix("datasets:").split(":")
    name, _, revision = parts[0].partition("@")
    if not name or len(parts) > 3 or not all(parts):
        raise PipelineInputError(f"A dataset corpus is datasets:NAME[:CONFIG][:SPLIT], not {spec!r}.")
    config, split = None, "train"
    if len(parts) == 3:
        config, split = parts[1], parts[2]
    elif len(parts) == 2:
        if parts[1] in KNOWN_SPLITS or parts[1].split("[")[0] in KNOWN_SPLITS:
            split = parts[1]
        else:
            config = parts[1]
    return DatasetSpec(name=name, config=config, split=split, revision=revision or None)


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")


def hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or _hf_home() / "hub")


def datasets_cache() -> Path:
    return Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets")


def hub_snapshot(dataset: DatasetSpec) -> tuple[Path, str] | None:
    """The snapshot directory of a dataset repository in the hub cache, and its commit; None if the repository
    is not cached. A revision (a branch, a tag or a commit) is resolved through the cache's refs."""
    repo = hub_cache() / f"datasets--{dataset.name.replace('/', '--')}"
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    revision = dataset.revision or "main"
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    if (snapshots / commit).is_dir():
        return snapshots / commit, commit
    cached = sorted(p.name for p in snapshots.iterdir() if p.is_dir())
    if dataset.revision is None and len(cached) == 1:
        return snapshots / cached[0], cached[0]
    raise PipelineInputError(
        f"The hub cache holds {dataset.name} at {', '.join(cached) or 'no commit'}, not at {revision!r}: "
        f"name one with datasets:{dataset.name}@COMMIT."
    )


def arrow_cache(dataset: DatasetSpec) -> tuple[list[Path], dict[str, str]] | None:
    """The Arrow files of a split that `datasets.load_dataset` prepared earlier, and what identifies them
    (the builder's version and the cache directory's fingerprint); None if there are none."""
    root = datasets_cache() / dataset.name.replace("/", "___")
    if not root.is_dir():
        return None
    configs = [root / dataset.config] if dataset.config else sorted(p for p in root.iterdir() if p.is_dir())
    found = []
    for config in configs:
        for info in sorted(config.glob("*/*/dataset_info.json")):
            files = sorted(
                p
                for p in info.parent.glob("*.arrow")
                if p.stem.endswith(f"-{dataset.split}") or f"-{dataset.split}-" in p.stem
            )
            if files:
                found.append(
                    (
                        files,
                        {"config": config.name, "version": info.parent.parent.name, "fingerprint": info.parent.name},
                    )
                )
    if len(found) > 1 and not dataset.config:
        names = sorted({identity["config"] for _, identity in found})
        if len(names) > 1:
            raise PipelineInputError(
                f"{dataset.name} has several configs in the datasets cache ({', '.join(names)}): name one."
            )
    return found[-1] if found else None


def _missing(dataset: DatasetSpec) -> PipelineInputError:
    return PipelineInputError(
        f"The dataset {dataset.name!r} is not in the local cache (no {hub_cache()}/datasets--"
        f"{dataset.name.replace('/', '--')}/snapshots/, nor a {dataset.split!r} split under "
        f"{datasets_cache()}/{dataset.name.replace('/', '___')}/). Nothing is downloaded: fetch it where there is a "
        f"network (huggingface-cli download --repo-type dataset {dataset.name}) and copy the cache here, or give "
        "a local .jsonl or .parquet file."
    )


def dataset_documents(spec: str, field: str = DEFAULT_TEXT_FIELD) -> Iterator[str]:
    """A cached dataset split's `field`, row by row."""
    dataset = parse_dataset_spec(spec)
    local = Path(dataset.name)
    if local.is_file():
        yield from file_documents(local, field)
        return
    import datasets  # imported here: slow to import, and only this corpus kind needs it

    snapshot = hub_snapshot(dataset)
    if local.is_dir() or snapshot:
        directory = local if local.is_dir() else snapshot[0]
        try:
            rows = datasets.load_dataset(str(directory), dataset.config, split=dataset.split, streaming=True)
            yield from _field_values(rows, field, dataset.name)
        except (ValueError, FileNotFoundError, OSError) as error:
            raise PipelineInputError(f"Cannot read {dataset.name} from {directory}: {error}") from error
        return
    cached = arrow_cache(dataset)
    if cached is None:
        raise _missing(dataset)
    for path in cached[0]:
        yield from _field_values(datasets.Dataset.from_file(str(path)), field, dataset.name)


def _field_values(rows, field: str, name: str) -> Iterator[str]:
    columns = getattr(rows, "column_names", None)
    if columns is not None and field not in columns:
        raise PipelineInputError(f"{name} has no column {field!r}; its columns: {', '.join(columns)}.")
    for number, row in enumerate(rows, start=1):
        if field not in row:
            raise PipelineInputError(f"{name} has no column {field!r}; its columns: {', '.join(row)}.")
        text = row[field]
        if text is not None and not isinstance(text, str):
            raise PipelineInputError(f"{name} row {number}: {field!r} is {type(text).__name__}, not a string.")
        if text and text.strip():
            yield text


def dataset_identity(spec: str) -> dict:
    """What identifies a cached dataset split: repository, config, split and commit (hub cache), or builder
    version and fingerprint (datasets cache); a local file's sha256."""
    dataset = parse_dataset_spec(spec)
    base = {"kind": "dataset", "name": dataset.name, "config": dataset.config, "split": dataset.split}
    local = Path(dataset.name)
    if local.is_file():
        return {**base, "sha256": file_sha256(local)}
    if local.is_dir():
        return {**base, "files": _files_digest(local)}
    snapshot = hub_snapshot(dataset)
    if snapshot:
        return {**base, "revision": snapshot[1]}
    cached = arrow_cache(dataset)
    if cached is None:
        raise _missing(dataset)
    return {**base, **cached[1]}


def _files_digest(directory: Path) -> str:
    """A digest of a directory's file names and sizes (a local dataset directory can change under its name)."""
    entries = sorted((str(p.relative_to(directory)), p.stat().st_size) for p in directory.rglob("*") if p.is_file())
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()
