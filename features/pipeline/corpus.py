"""Corpora and their token windows.

A corpus is an iterable of documents (strings). The built-in corpus is the docstrings of Python's
standard library, read with `ast` (never imported, so nothing runs): real English prose and code
commentary that exists on every machine with Python and needs no network.
"""

import ast
import hashlib
import json
import platform
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from .errors import PipelineInputError

BUILTIN_CORPUS = "builtin:stdlib-docstrings"
SKIPPED_STDLIB_DIRS = {"test", "tests", "site-packages", "dist-packages", "idlelib", "lib2to3", "__pycache__"}


def stdlib_docstrings() -> Iterator[str]:
    """Module, class and function docstrings of the standard library, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_STDLIB_DIRS.intersection(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node)
                # Very short docstrings ("Return x.") add little but noise.
                if docstring and len(docstring) >= 40:
                    yield docstring


def text_file_documents(path: str | Path) -> Iterator[str]:
    """A .txt file is split into documents on blank lines; a .jsonl file has one {"text": ...} per line."""
    path = Path(path)
    if not path.is_file():
        raise PipelineInputError(f"Corpus file {str(path)!r} does not exist.")
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise PipelineInputError(f"{path.name} line {number}: not JSON ({error.msg}).") from error
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise PipelineInputError(f"{path.name} line {number}: expected an object with a 'text' string.")
                yield record["text"]
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    for paragraph in text.split("\n\n"):
        if paragraph.strip():
            yield paragraph.strip()


def dataset_documents(spec: str) -> Iterator[str]:
    """`datasets:NAME[:SPLIT]`: a Hugging Face `datasets` dataset, streamed, its `text` column. NAME may
    be a hub name (needs the network) or a local .json/.jsonl/.csv/.parquet file or directory."""
    import datasets  # imported here: slow to import, and only this corpus kind needs it

    name, _, split = spec.removeprefix("datasets:").partition(":")
    split = split or "train"
    path = Path(name)
    try:
        if path.is_file():
            builder = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(path.suffix, "text")
            dataset = datasets.load_dataset(builder, data_files=str(path), split=split, streaming=True)
        else:
            dataset = datasets.load_dataset(name, split=split, streaming=True)
        for row in dataset:
            text = row.get("text")
            if isinstance(text, str) and text.strip():
                yield text
    except (OSError, ValueError, FileNotFoundError, ConnectionError) as error:
        raise PipelineInputError(f"Cannot read the dataset {name!r}: {error}") from error


def corpus_documents(spec: str) -> Iterator[str]:
    """`builtin` (standard-library docstrings), `datasets:NAME[:SPLIT]`, or a .txt / .jsonl file."""
    if spec in (BUILTIN_CORPUS, "builtin"):
        return stdlib_docstrings()
    if spec.startswith("datasets:"):
        return dataset_documents(spec)
    return text_file_documents(spec)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def corpus_identity(spec: str) -> dict:
    """What a corpus spec stood for when a run read it: enough to tell whether another run read the same text.

    builtin: the Python version and a hash of the standard library's file list (names and sizes: hashing the
    files themselves would read them twice); a file: its sha256; datasets: name and split, and the file's sha256
    when NAME is a local file (a hub dataset's revision is not known offline, so it is recorded as None)."""
    if spec in (BUILTIN_CORPUS, "builtin"):
        root = Path(sysconfig.get_paths()["stdlib"])
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if not SKIPPED_STDLIB_DIRS.intersection(relative.parts):
                digest.update(f"{relative}\t{path.stat().st_size}\n".encode())
        return {
            "kind": "builtin",
            "name": BUILTIN_CORPUS,
            "python": platform.python_version(),
            "files_sha256": digest.hexdigest(),
        }
    if spec.startswith("datasets:"):
        name, _, split = spec.removeprefix("datasets:").partition(":")
        identity = {"kind": "datasets", "name": name, "split": split or "train", "revision": None}
        if Path(name).is_file():
            identity["sha256"] = _file_sha256(Path(name))
        return identity
    path = Path(spec)
    if not path.is_file():
        raise PipelineInputError(f"Corpus file {spec!r} does not exist.")
    return {"kind": "file", "path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": _file_sha256(path)}


def bos_token_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The token that stands for BOS: the tokenizer's BOS, else its [CLS] (BERT), else its EOS (GPT-2)."""
    return next(
        (t for t in (tokenizer.bos_token_id, tokenizer.cls_token_id, tokenizer.eos_token_id) if t is not None), None
    )


def special_token_frame(
    tokenizer: PreTrainedTokenizerBase, prepend_bos: bool | None = None
) -> tuple[list[int], list[int]]:
    """The special tokens put before and after each window: the tokenizer's own framing ([CLS] ...
    [SEP] for BERT, <s> for Llama, nothing for GPT-2), found by encoding a probe text with and without
    them; then, when a dictionary says so (SAELens `prepend_bos`), a BOS token added or removed."""
    bare = tokenizer("probe", add_special_tokens=False)["input_ids"]
    framed = tokenizer("probe", add_special_tokens=True)["input_ids"]
    prefix, suffix = [], []
    for start in range(len(framed) - len(bare) + 1):
        if framed[start : start + len(bare)] == bare:
            prefix, suffix = framed[:start], framed[start + len(bare) :]
            break
    if prepend_bos is None:
        return prefix, suffix
    bos = bos_token_id(tokenizer)
    if prepend_bos:
        if bos is None:
            raise PipelineInputError("The dictionary wants a BOS token first, but the tokenizer has none.")
        return (prefix if prefix[:1] == [bos] else [bos, *prefix]), suffix
    return [token for token in prefix if token != bos], suffix


@dataclass
class Windows:
    token_ids: list[list[int]]
    key: str  # identifies this tokenization of this corpus, so stored windows can be shared


def make_windows(
    tokenizer: PreTrainedTokenizerBase,
    documents: Iterable[str],
    *,
    n_windows: int,
    window_len: int,
    corpus_name: str,
    prepend_bos: bool | None = None,
) -> Windows:
    """Concatenate tokenized documents (separated by the tokenizer's separator token) and cut them
    into windows of `window_len` tokens, each framed by the model's special tokens (e.g. [CLS] ...
    [SEP] for BERT, <s> for Llama), until `n_windows` windows are full.
    """
    prefix, suffix = special_token_frame(tokenizer, prepend_bos)
    n_special = len(prefix) + len(suffix)
    content_len = window_len - n_special
    if content_len < 1:
        raise PipelineInputError(
            f"Window length {window_len} leaves no room for text after {n_special} special tokens."
        )
    separator = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id

    windows: list[list[int]] = []
    buffer: list[int] = []
    for document in documents:
        ids = tokenizer(document, add_special_tokens=False, verbose=False)["input_ids"]
        if not ids:
            continue
        if buffer and separator is not None:
            buffer.append(separator)
        buffer.extend(ids)
        while len(buffer) >= content_len and len(windows) < n_windows:
            windows.append(prefix + buffer[:content_len] + suffix)
            buffer = buffer[content_len:]
        if len(windows) >= n_windows:
            break
    if not windows:
        raise PipelineInputError(f"The corpus {corpus_name!r} is empty: it gave no window of {window_len} tokens.")
    digest = hashlib.sha256(
        json.dumps([corpus_name, tokenizer.name_or_path, window_len, tokenizer.vocab_size, prepend_bos]).encode()
    ).hexdigest()[:32]
    return Windows(token_ids=windows, key=digest)


def token_display_strings(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> list[str]:
    """One readable string per token, so that joining them gives back the text.

    WordPiece marks continuations with '##' and leaves word starts bare; byte-level BPE and
    SentencePiece carry their own spaces, which convert_tokens_to_string recovers.
    """
    tokens = tokenizer.convert_ids_to_tokens(ids)
    special = set(tokenizer.all_special_tokens)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    wordpiece = backend is not None and type(backend.model).__name__ == "WordPiece"
    strings = []
    for position, token in enumerate(tokens):
        if token in special:
            strings.append(token)
        elif wordpiece:
            strings.append(token[2:] if token.startswith("##") else (" " if position else "") + token)
        else:
            strings.append(tokenizer.convert_tokens_to_string([token]))
    return strings
