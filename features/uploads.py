"""Models, dictionaries and corpora uploaded from the web, and the file checks the commands share.

An upload lands in a hidden staging directory beside its final place, is checked, moved into a fresh
directory of its own (`<slug>-<random>`) and only then registered by the services, because the database
row records the directory. Whatever fails on the way removes the directory, so a refused upload leaves
neither a file nor a row behind. Weights must be safetensors: a pickle can run code when it is loaded.
"""

import hashlib
import logging
import re
import secrets
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from .models import LanguageModel, Source
from .pipeline.errors import PipelineInputError

# The services and the pipeline import torch and transformers, which take seconds: the functions below import
# them when an upload arrives, so that this module (and the views that use its decorator) stays light.

logger = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
# The files of a transformers checkpoint that we store. Weights are *.safetensors (one file, or shards
# with model.safetensors.index.json).
CHECKPOINT_FILES = {
    "config.json",
    "generation_config.json",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
}
# A tokenizer needs one of these (vocab.json goes with merges.txt). Without any, transformers quietly builds
# an empty tokenizer, and every window would be one unknown token.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
PICKLE_REFUSAL = (
    "{name}: pickled weights (.bin, .pt, .pkl, ...) can run code when they are loaded, so they are not accepted. "
    "Convert them to safetensors, e.g. with model.save_pretrained(directory, safe_serialization=True), "
    "and upload the .safetensors file(s)."
)
CORPUS_SUFFIXES = (".txt", ".jsonl")
MAX_SAFETENSORS_HEADER = 100_000_000


def data_dir(*parts: str) -> Path:
    directory = Path(settings.NEURONPEDIA_DATA_DIR).resolve().joinpath(*parts)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# --- Checks on names and files ------------------------------------------------------------------


def base_name(name: str) -> str:
    """The last component of a client's file name: no directories, so no way out of the upload directory."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def checkpoint_name_problem(name: str) -> str | None:
    """Why an uploaded file cannot be part of a checkpoint, or None if it can."""
    if name.lower().endswith(PICKLE_SUFFIXES):
        return PICKLE_REFUSAL.format(name=name)
    if not SAFE_NAME.match(name):
        return f"{name!r} is not a file name we accept: use letters, digits, '.', '_' and '-'."
    if name in CHECKPOINT_FILES or name.endswith(".safetensors"):
        return None
    return (
        f"{name} is not part of a transformers checkpoint that we store. Upload config.json, the *.safetensors "
        f"weights and the tokenizer files ({', '.join(sorted(CHECKPOINT_FILES - {'config.json'}))})."
    )


def checkpoint_completeness_problem(names: Iterable[str], *, pickle_weights_ok: bool = False) -> str | None:
    """What a checkpoint lacks (config.json, weights, a tokenizer), or None."""
    names = set(names)
    missing = []
    if "config.json" not in names:
        missing.append("config.json (the model's configuration)")
    weights = any(name.endswith(".safetensors") for name in names)
    if pickle_weights_ok:
        weights = weights or any(name.endswith(PICKLE_SUFFIXES) for name in names)
    if not weights:
        missing.append("the weights (model.safetensors, or its shards)")
    if not names.intersection(TOKENIZER_FILES):
        missing.append("a tokenizer (tokenizer.json, or vocab.txt, or vocab.json with merges.txt)")
    elif "vocab.json" in names and "merges.txt" not in names and not names.intersection({"tokenizer.json"}):
        missing.append("merges.txt (it goes with vocab.json)")
    if missing:
        return "The checkpoint lacks " + "; ".join(missing) + "."
    return None


def safetensors_check(path: Path, *, name: str = "") -> None:
    """Read a safetensors header (never unpickling anything): a pickle posing as safetensors, or a file cut
    short, fails here with a message instead of deep inside a loader."""
    from safetensors import safe_open

    name = name or path.name
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or struct.unpack("<Q", head)[0] > min(size - 8, MAX_SAFETENSORS_HEADER):
        raise PipelineInputError(
            f"{name} is not a valid safetensors file (a pickled checkpoint renamed? only safetensors are accepted)."
        )
    try:
        with safe_open(path, framework="pt", device="cpu") as weights:
            weights.keys()
    except Exception as error:  # safetensors raises its own error types for corrupt or truncated files
        raise PipelineInputError(f"{name} could not be read as safetensors (is it complete?): {error}") from error


def shown_path(path: str | Path, *, limit: int = 120) -> str:
    """A server path as an error message quotes it: repr (so a NUL byte or a newline shows), cut when long."""
    text = str(path)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def checkpoint_directory_check(path: str | Path) -> None:
    """Checks on a checkpoint directory on the server (the register_model command, staff on the web) that the
    loader would otherwise report as a traceback: missing tokenizer files, unreadable safetensors. A path the
    file system refuses (a NUL byte, a name too long, no permission) is a PipelineInputError like the rest."""
    shown = shown_path(path)
    if "\x00" in str(path):
        raise PipelineInputError(f"Model path {shown} contains a NUL character; no file system path can.")
    try:
        directory = Path(path).expanduser()
        if not directory.is_dir():
            raise PipelineInputError(f"Model path {shown} is not a directory.")
        if not (directory / "config.json").is_file():
            raise PipelineInputError(f"{shown} is not a transformers checkpoint: it has no config.json.")
        names = [entry.name for entry in directory.iterdir() if entry.is_file()]
        problem = checkpoint_completeness_problem(names, pickle_weights_ok=True)
        if problem:
            raise PipelineInputError(f"{shown}: {problem}")
        for name in names:
            if name.endswith(".safetensors"):
                safetensors_check(directory / name)
    except (OSError, RuntimeError) as error:  # RuntimeError: expanduser() of an unknown ~user
        raise PipelineInputError(f"Model path {shown} cannot be read: {_reason(error)}.") from error


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # "File name too long", "Permission denied": without the path again
    return str(error).rstrip(".")


# --- Streaming size limit -----------------------------------------------------------------------


class UploadLimitHandler(FileUploadHandler):
    """First in the chain of upload handlers: counts the bytes of every file of a request as they arrive and,
    past `limit`, skips the rest, so an oversized upload never fills the disk. The skipped names are kept for
    the form to report."""

    def __init__(self, request, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.skipped: list[str] = []

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        if self.received > self.limit:
            self._skip()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._skip()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _skip(self) -> None:
        self.skipped.append(base_name(self.file_name or ""))
        raise SkipFile()


def upload_limit(setting: str) -> Callable:
    """Put an UploadLimitHandler (limit from `setting`) in front of a view's upload handlers.

    Handlers can only change before the body is read, and the CSRF middleware reads it to find the token; so,
    as Django's documentation prescribes, the middleware skips this view (csrf_exempt) and the view itself is
    protected (csrf_protect) once the handler is in place. The view finds it as request.upload_limit."""

    def decorator(view: Callable) -> Callable:
        protected = csrf_protect(view)

        @csrf_exempt
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            handler = UploadLimitHandler(request, getattr(settings, setting))
            request.upload_handlers.insert(0, handler)
            request.upload_limit = handler
            return protected(request, *args, **kwargs)

        return wrapped

    return decorator


def size_problem(files: Iterable[UploadedFile], limit: int, *, skipped: Iterable[str] = ()) -> str | None:
    """Whether files (and those the handler skipped) fit in `limit`, in words."""
    skipped = [name for name in skipped if name]
    total = sum(file.size for file in files)
    if skipped or total > limit:
        names = f" ({', '.join(skipped)} went over it)" if skipped else ""
        return f"The upload is larger than the limit of {filesizeformat(limit)}{names}."
    return None


# --- Storing and registering --------------------------------------------------------------------


def _write(file: UploadedFile, target: Path) -> None:
    with target.open("xb") as out:
        for chunk in file.chunks():
            out.write(chunk)


def _readable(error: Exception, *directories: Path) -> str:
    """A message without our server's paths in it."""
    message = str(error)
    for directory in directories:
        for form in {str(directory), str(directory.resolve())}:
            message = message.replace(f"{form}/", "").replace(f"'{form}'", "the upload").replace(form, "the upload")
    return message


def _store_and_register(parent: Path, slug: str, files: dict[str, UploadedFile], register: Callable[[Path], object]):
    """Write `files` ({name: file}) to a staging directory in `parent`, move it to `<slug>-<random>`, then call
    `register(directory)` in a transaction. On any failure the directory goes and PipelineInputError says why."""
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=parent))
    final = parent / f"{slug}-{secrets.token_hex(4)}"
    registered = False
    try:
        for name, file in files.items():
            _write(file, staging / name)
        for name in files:
            if name.endswith(".safetensors"):
                safetensors_check(staging / name)
        staging.rename(final)
        with transaction.atomic():
            result = register(final)
        registered = True
        return result
    except PipelineInputError as error:
        raise PipelineInputError(_readable(error, staging, final)) from error
    except Exception as error:  # loaders of untrusted files raise assorted types; the user gets the reason
        logger.exception("Registering an upload in %s failed", final)
        raise PipelineInputError(f"The upload could not be loaded: {_readable(error, staging, final)}") from error
    finally:
        if not registered:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)


def model_upload(
    *, slug: str, files: list[UploadedFile], display_name: str = "", description: str = "", created_by=None
) -> LanguageModel:
    """Store an uploaded checkpoint under NEURONPEDIA_DATA_DIR/models/ and register it (loading it once)."""
    named = {base_name(file.name): file for file in files}
    problem = next(filter(None, map(checkpoint_name_problem, named)), None) or checkpoint_completeness_problem(named)
    if problem:
        raise PipelineInputError(problem)

    def register(directory: Path) -> LanguageModel:
        from .services.registration import model_register

        if LanguageModel.objects.filter(slug=slug).exists():
            raise PipelineInputError(f"A model named {slug!r} already exists; choose another name.")
        return model_register(
            slug=slug, path=str(directory), display_name=display_name, description=description, created_by=created_by
        )

    return _store_and_register(data_dir("models"), slug, named, register)


def model_register_directory(
    *, slug: str, path: str, display_name: str = "", description: str = "", created_by=None
) -> LanguageModel:
    """Register a checkpoint directory already on the server (staff only on the web) as a new model."""
    from .services.registration import model_register

    checkpoint_directory_check(path)
    with transaction.atomic():
        if LanguageModel.objects.filter(slug=slug).exists():
            raise PipelineInputError(f"A model named {slug!r} already exists; choose another name.")
        try:
            return model_register(
                slug=slug, path=path, display_name=display_name, description=description, created_by=created_by
            )
        except OSError as error:  # a file the check could list but the loader cannot read
            raise PipelineInputError(f"Model path {shown_path(path)} cannot be read: {_reason(error)}.") from error


def dictionary_upload(
    *, model: LanguageModel, slug: str, config: UploadedFile, weights: UploadedFile, hook_name: str = ""
) -> Source:
    """Store an uploaded SAELens dictionary under NEURONPEDIA_DATA_DIR/dictionaries/<model>/ and register it:
    our checks, sae-lens loading, then the hook and its width on the model (registration.dictionary_register)."""
    from .pipeline.dictionaries import CONFIG_FILE, WEIGHTS_FILE
    from .services.registration import dictionary_register

    def register(directory: Path) -> Source:
        if Source.objects.filter(model=model, slug=slug).exists():
            raise PipelineInputError(f"{model.slug} already has a source {slug!r}; choose another name.")
        return dictionary_register(model=model, path=str(directory), slug=slug, hook_name=hook_name)

    files = {CONFIG_FILE: config, WEIGHTS_FILE: weights}
    return _store_and_register(data_dir("dictionaries", model.slug), slug, files, register)


def corpus_upload(file: UploadedFile) -> str:
    """Store a .txt or .jsonl corpus under NEURONPEDIA_DATA_DIR/corpora/, named by its content (the same text
    uploaded twice is one file, and its windows are shared); return its path once it reads as a corpus."""
    from .pipeline.corpus import text_file_documents

    suffix = Path(base_name(file.name)).suffix.lower()
    if suffix not in CORPUS_SUFFIXES:
        raise PipelineInputError("A corpus is a .txt file (documents separated by blank lines) or a .jsonl file.")
    directory = data_dir("corpora")
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".incoming-", suffix=suffix, delete=False) as out:
        staging = Path(out.name)
        for chunk in file.chunks():
            digest.update(chunk)
            out.write(chunk)
    try:
        # Every document is read, so that a bad line anywhere in a .jsonl file is reported now, not mid-run.
        if not sum(1 for document in text_file_documents(staging) if document.strip()):
            raise PipelineInputError(f"{base_name(file.name)} holds no text.")
    except PipelineInputError as error:
        staging.unlink(missing_ok=True)
        raise PipelineInputError(str(error).replace(staging.name, base_name(file.name))) from error
    target = directory / f"{digest.hexdigest()[:32]}{suffix}"
    staging.replace(target)
    return str(target)
