"""A run's manifest: what its numbers were computed from, so that they can be reproduced or doubted.

The model's files (sha256 of each, by role), its tokenizer, the exact windowing (length, the special tokens
framing each window, BOS requested and effective, the separator, a hash of the windows' token ids), every
dictionary's files and metadata, library versions, the project's commit, device and dtype. The corpus's
identity comes from corpus.corpus_identity. Pure: no Django.
"""

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from .corpus import bos_token_id, special_token_frame
from .dictionaries import CONFIG_FILE, WEIGHTS_FILE, LoadedDictionary, config_value
from .loading import TOKENIZER_FILES, LoadedModel

HASH_CHUNK = 1 << 20
LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "sae-lens", "numpy")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")
CONFIG_FILES = ("config.json", "generation_config.json")
MORE_TOKENIZER_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)
# Dictionary metadata worth recording (SAELens cfg.json, top level or under `metadata`).
DICTIONARY_FIELDS = (
    "hook_name",
    "hook_name_out",
    "prepend_bos",
    "context_size",
    "normalize_activations",
    "apply_b_dec_to_input",
    "dtype",
    "model_name",
    "dataset_path",
    "sae_lens_version",
    "k",
)

# (resolved path, size, mtime_ns) -> sha256: a model's multi-gigabyte weights are hashed once per process.
_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, cached while its size and modification time stay the same."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def _file_role(name: str) -> str:
    if name in CONFIG_FILES:
        return "config"
    if name in TOKENIZER_FILES or name in MORE_TOKENIZER_FILES:
        return "tokenizer"
    if name.endswith(WEIGHT_SUFFIXES) or name.endswith(".index.json"):
        return "weights"
    return "other"


def model_files(directory: str | Path) -> dict[str, dict]:
    """{file name: {"role", "bytes", "sha256"}} for every file at the top of a checkpoint directory."""
    files = {}
    for path in sorted(Path(directory).iterdir()):
        if path.is_file():
            files[path.name] = {
                "role": _file_role(path.name),
                "bytes": path.stat().st_size,
                "sha256": file_sha256(path),
            }
    return files


def _short_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tokenizer_manifest(tokenizer: PreTrainedTokenizerBase) -> dict:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # several named templates
        template = json.dumps(template, sort_keys=True)
    return {
        "class": type(tokenizer).__name__,
        "name_or_path": tokenizer.name_or_path,
        "vocab_size": tokenizer.vocab_size,
        "size": len(tokenizer),
        "special_tokens": {
            name: {"token": str(token), "id": tokenizer.convert_tokens_to_ids(str(token))}
            for name, token in tokenizer.special_tokens_map.items()
            if isinstance(token, str)
        },
        "chat_template_sha256": _short_sha256(template) if template else None,
    }


def _tokens(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> list[dict]:
    return [{"id": token_id, "token": tokenizer.convert_ids_to_tokens(token_id)} for token_id in ids]


def windowing_manifest(
    tokenizer: PreTrainedTokenizerBase,
    token_ids: list[list[int]],
    *,
    window_len: int,
    prepend_bos: bool | None,
) -> dict:
    """How the corpus was cut: the frame make_windows put around each window, BOS as asked and as it came out,
    the separator between documents, and a hash of the exact token ids."""
    prefix, suffix = special_token_frame(tokenizer, prepend_bos)
    separator = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    bos = bos_token_id(tokenizer)
    digest = hashlib.sha256()
    for window in token_ids:
        digest.update(json.dumps(window).encode())
    return {
        "window_len": window_len,
        "windows": len(token_ids),
        "tokens": sum(len(window) for window in token_ids),
        "prefix": _tokens(tokenizer, prefix),
        "suffix": _tokens(tokenizer, suffix),
        "content_len": window_len - len(prefix) - len(suffix),
        "prepend_bos_requested": prepend_bos,
        "prepend_bos_effective": bos is not None and bool(token_ids) and all(w[:1] == [bos] for w in token_ids),
        "bos": _tokens(tokenizer, [bos])[0] if bos is not None else None,
        "separator": _tokens(tokenizer, [separator])[0] if separator is not None else None,
        "token_ids_sha256": digest.hexdigest(),
    }


def dictionary_manifest(dictionary: LoadedDictionary, *, hook_name: str) -> dict:
    """The files' hashes and the metadata a dictionary was trained with; `hook_name` is the one the run read."""
    directory = Path(dictionary.path)
    return {
        "path": dictionary.path,
        "files": {name: file_sha256(directory / name) for name in (CONFIG_FILE, WEIGHTS_FILE)},
        "architecture": dictionary.architecture,
        "d_in": dictionary.d_in,
        "d_sae": dictionary.d_sae,
        "hook_name_read": hook_name,
        "config": {name: config_value(dictionary.config, name) for name in DICTIONARY_FIELDS},
    }


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@lru_cache(maxsize=1)
def project_commit() -> str | None:
    """The project's git commit, or None outside a git checkout (an installed copy)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def run_manifest(
    *,
    loaded: LoadedModel,
    dictionaries: dict[str, tuple[LoadedDictionary, str]],
    corpus: dict,
    token_ids: list[list[int]],
    window_len: int,
    prepend_bos: bool | None,
    device: str = "cpu",
    dtype: str = "float32",
) -> dict:
    """Everything one activation run read. `dictionaries` maps a source slug to (dictionary, hook read)."""
    return {
        "model": {
            "path": loaded.path,
            "architecture": loaded.architecture,
            "n_layers": loaded.n_layers,
            "d_model": loaded.d_model,
            "files": model_files(loaded.path),
        },
        "tokenizer": tokenizer_manifest(loaded.tokenizer),
        "corpus": corpus,
        "windowing": windowing_manifest(loaded.tokenizer, token_ids, window_len=window_len, prepend_bos=prepend_bos),
        "dictionaries": {
            slug: dictionary_manifest(dictionary, hook_name=hook) for slug, (dictionary, hook) in dictionaries.items()
        },
        "versions": library_versions(),
        "commit": project_commit(),
        "device": device,
        "dtype": dtype,
    }
