"""Corpora and their token windows.

A corpus is an iterable of documents (strings), named by a spec: `builtin[:NAME]` (text already on this
machine: see builtin_corpora.py), `datasets:NAME[:CONFIG][:SPLIT]` (a Hugging Face dataset from the local
cache), or the path of a .txt, .jsonl or .parquet file; `#FIELD` after a .jsonl, .parquet or dataset spec
names the text field (`text` by default). Nothing is read from the network.
"""

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from . import builtin_corpora
from .corpus_files import DEFAULT_TEXT_FIELD, dataset_documents, dataset_identity, file_documents, file_sha256
from .errors import PipelineInputError

BUILTIN_CORPUS = "builtin:mix"
BUILTIN_PREFIX = "builtin:"
# The document boundary inside a window, as a reader sees it: the model saw the separator token there.
DOCUMENT_BREAK = "\n\n"
CORPUS_HELP = (
    "builtin (a mix), builtin:NAME (mix, stdlib-docstrings, python-docs, package-docs, package-docstrings, "
    "licenses), a .txt/.jsonl/.parquet file (FILE#FIELD for a field other than text), or "
    "datasets:NAME[:CONFIG][:SPLIT][#FIELD] from the local Hugging Face cache"
)


def builtin_corpus_names() -> list[str]:
    return [BUILTIN_PREFIX + name for name in builtin_corpora.BUILTIN_CORPORA]


def is_builtin(spec: str) -> bool:
    """A built-in corpus's spec (safe for anyone to run: it reads no file a user names)."""
    return spec == "builtin" or (
        spec.startswith(BUILTIN_PREFIX) and spec.removeprefix(BUILTIN_PREFIX) in builtin_corpora.BUILTIN_CORPORA
    )


def _builtin(spec: str) -> builtin_corpora.BuiltinCorpus:
    name = "mix" if spec == "builtin" else spec.removeprefix(BUILTIN_PREFIX)
    corpus = builtin_corpora.BUILTIN_CORPORA.get(name)
    if corpus is None:
        raise PipelineInputError(
            f"There is no built-in corpus {spec!r}; there are {', '.join(builtin_corpus_names())}."
        )
    return corpus


def _field(spec: str) -> tuple[str, str]:
    """A spec and its text field: `data.jsonl#body` is data.jsonl's `body`."""
    source, hash_sign, text_field = spec.rpartition("#")
    if not hash_sign or not text_field or "/" in text_field or Path(spec).exists():
        return spec, DEFAULT_TEXT_FIELD
    return source, text_field


def with_text_field(spec: str, text_field: str | None) -> str:
    """The spec that reads `text_field` of a .jsonl, .parquet or dataset corpus (the command line's
    --text-field)."""
    return f"{spec}#{text_field}" if text_field and text_field != DEFAULT_TEXT_FIELD else spec


def text_file_documents(path: str | Path) -> Iterator[str]:
    """A .txt file is split into documents on blank lines; a .jsonl file has one {"text": ...} per line."""
    return file_documents(path)


def corpus_documents(spec: str) -> Iterator[str]:
    """The documents of a corpus spec (see the module's docstring)."""
    if spec == "builtin" or spec.startswith(BUILTIN_PREFIX):
        return _builtin(spec).documents(None)
    source, text_field = _field(spec)
    if source.startswith("datasets:"):
        return dataset_documents(source, text_field)
    return file_documents(source, text_field)


def corpus_identity(spec: str) -> dict:
    """What the documents of `spec` are, beyond its name: a built-in corpus's source files (names and
    sizes) with the Python version and cleaning rules, a file's sha256, a dataset's repository, config,
    split and commit (or its datasets-cache fingerprint). Two specs with the same identity give the same
    documents; a file edited under the same name gets a new identity."""
    if spec == "builtin" or spec.startswith(BUILTIN_PREFIX):
        corpus = _builtin(spec)
        files = [(str(path), path.stat().st_size) for path in corpus.files()]
        return {
            "kind": "builtin",
            "name": corpus.name,
            **builtin_corpora.environment(),
            "files": len(files),
            "files_sha256": hashlib.sha256(json.dumps(files).encode()).hexdigest(),
        }
    source, text_field = _field(spec)
    if source.startswith("datasets:"):
        return {**dataset_identity(source), "field": text_field}
    path = Path(source)
    identity = {"kind": "file", "name": path.name, "sha256": file_sha256(path)}
    return {**identity, "field": text_field} if path.suffix in (".jsonl", ".parquet") else identity


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
    # {position: one string per token}, the corpus's own characters (see source_display_strings), for the
    # positions make_windows was asked to show; empty where the tokenizer gives no offsets.
    display: dict[int, list[str]] = field(default_factory=dict)


def make_windows(
    tokenizer: PreTrainedTokenizerBase,
    documents: Iterable[str],
    *,
    n_windows: int,
    window_len: int,
    corpus_name: str,
    identity: dict | None = None,
    prepend_bos: bool | None = None,
    display_for: Collection[int] = (),
) -> Windows:
    """Concatenate tokenized documents (separated by the tokenizer's separator token) and cut them
    into windows of `window_len` tokens, each framed by the model's special tokens (e.g. [CLS] ...
    [SEP] for BERT, <s> for Llama), until `n_windows` windows are full.

    The windows' key names the corpus by `identity` (`corpus_identity(spec)`) when given, so that windows
    stored from a file that has changed since are not taken for this file's; by `corpus_name` otherwise.
    The windows at `display_for` also get their display strings from the documents' own characters.
    """
    prefix, suffix = special_token_frame(tokenizer, prepend_bos)
    n_special = len(prefix) + len(suffix)
    content_len = window_len - n_special
    if content_len < 1:
        raise PipelineInputError(
            f"Window length {window_len} leaves no room for text after {n_special} special tokens."
        )
    separator = _separator_id(tokenizer)

    shown = set(display_for) if tokenizer.is_fast else set()
    frame = (tokenizer.convert_ids_to_tokens(prefix), tokenizer.convert_ids_to_tokens(suffix))
    windows: list[list[int]] = []
    display: dict[int, list[str]] = {}
    buffer: list[int] = []
    buffer_strings: list[str] = []  # kept beside the buffer while a window to show may still come
    for document in documents:
        encoding = tokenizer(document, add_special_tokens=False, verbose=False, return_offsets_mapping=bool(shown))
        ids = encoding["input_ids"]
        if not ids:
            continue
        if buffer and separator is not None:
            buffer.append(separator)
            buffer_strings.append(DOCUMENT_BREAK)
        buffer.extend(ids)
        if shown:
            buffer_strings.extend(source_display_strings(tokenizer, document, ids, encoding["offset_mapping"]))
        while len(buffer) >= content_len and len(windows) < n_windows:
            if len(windows) in shown:
                display[len(windows)] = frame[0] + buffer_strings[:content_len] + frame[1]
            windows.append(prefix + buffer[:content_len] + suffix)
            buffer = buffer[content_len:]
            buffer_strings = buffer_strings[content_len:]
        if shown and len(windows) > max(shown):
            shown, buffer_strings = set(), []  # every window to show is cut: no more offsets needed
        if len(windows) >= n_windows:
            break
    if not windows:
        raise PipelineInputError(f"The corpus {corpus_name!r} is empty: it gave no window of {window_len} tokens.")
    digest = hashlib.sha256(
        json.dumps(
            [identity or corpus_name, tokenizer.name_or_path, window_len, tokenizer.vocab_size, prepend_bos],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:32]
    return Windows(token_ids=windows, key=digest, display=display)


def source_display_strings(
    tokenizer: PreTrainedTokenizerBase, document: str, ids: list[int], offsets: list[tuple[int, int]]
) -> list[str]:
    """One string per token of `document`, from its own characters (its case and accents, which an uncased
    tokenizer such as MiniLM's drops), each with the space or line break before it. Characters the tokens
    do not cover (dropped by the tokenizer) are not shown; a special token ([UNK]) keeps its name, since
    the model saw no character there."""
    special = set(tokenizer.all_special_ids)
    strings = []
    previous_end: int | None = None
    for token_id, (start, end) in zip(ids, offsets, strict=True):
        gap = document[previous_end:start] if previous_end is not None else ""
        lead = "\n" if "\n" in gap else (" " if any(character.isspace() for character in gap) else "")
        if token_id in special:
            strings.append(tokenizer.convert_ids_to_tokens(token_id))  # bare, so that renderers know it
        else:
            start = max(start, previous_end or 0)  # a character split over several byte-level tokens shows once
            strings.append(lead + document[start:end])
        previous_end = max(end, previous_end or 0)
    return strings


def _separator_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    return tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id


def token_display_strings(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> list[str]:
    """One readable string per token, so that joining them gives back the text.

    WordPiece marks continuations with '##' and leaves word starts bare; byte-level BPE and
    SentencePiece carry their own spaces, which convert_tokens_to_string recovers. The separator that
    make_windows puts between two documents reads as a paragraph break (DOCUMENT_BREAK), not as a
    "[SEP]" in mid-text; the token id stored with it is still the separator the model saw. Special
    tokens elsewhere (the window's frame) keep their names.
    """
    return token_display_strings_many(tokenizer, [ids])[0]


def token_display_strings_many(tokenizer: PreTrainedTokenizerBase, sequences: list[list[int]]) -> list[list[str]]:
    """token_display_strings() of each sequence, with the tokenizer's special tokens and kind read once and each
    distinct token's string computed once: a run stores thousands of windows and 20 logit tokens a feature."""
    special = set(tokenizer.all_special_tokens)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    wordpiece = backend is not None and type(backend.model).__name__ == "WordPiece"
    separator = _separator_id(tokenizer)
    converted: dict[str, str] = {}
    result = []
    for ids in sequences:
        tokens = tokenizer.convert_ids_to_tokens(ids)
        strings = []
        for position, token in enumerate(tokens):
            if token in special:
                follows = tokens[position + 1] if position + 1 < len(tokens) else None
                between_documents = ids[position] == separator and position > 0 and follows not in (None, *special)
                strings.append(DOCUMENT_BREAK if between_documents else token)
            elif wordpiece:
                starts_line = not position or strings[-1] == DOCUMENT_BREAK
                strings.append(token[2:] if token.startswith("##") else ("" if starts_line else " ") + token)
            else:
                if token not in converted:
                    converted[token] = tokenizer.convert_tokens_to_string([token])
                strings.append(converted[token])
        result.append(strings)
    return result
