"""The built-in corpora: English prose and code commentary already on this machine, read without a network
and without running anything (Python files are parsed with `ast`, never imported).

Each corpus is a list of source files, sorted, and a function that turns them into documents in that order,
so the same environment always gives the same documents, and the files' names and sizes identify them
(`source_files`). Text from package metadata is cleaned of the markup that reads as noise (badges, code
blocks, link targets, heading underlines); licence paragraphs that recur across packages are kept once.
"""

import ast
import codecs
import email
import functools
import re
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from itertools import zip_longest
from pathlib import Path

# Bumped whenever the cleaning below changes, so windows cut from the old documents are not reused.
CLEANING_VERSION = 1

MIN_DOCSTRING_CHARS = 40  # very short docstrings ("Return x.") add little but noise
MIN_DOCUMENT_CHARS = 200
SKIPPED_DIRS = {"test", "tests", "testing", "site-packages", "dist-packages", "idlelib", "lib2to3", "__pycache__"}
LICENSE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE)([._-].*)?$", re.IGNORECASE)


def _stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _distributions() -> list[metadata.Distribution]:
    """Installed distributions, one per name, by name (the first found on sys.path wins, as for imports)."""
    seen: dict[str, metadata.Distribution] = {}
    for distribution in metadata.distributions():
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        if name and name not in seen:
            seen[name] = distribution
    return [seen[name] for name in sorted(seen)]


def _distribution_files(predicate: Callable[[metadata.PackagePath], bool]) -> tuple[Path, ...]:
    paths: list[Path] = []
    for distribution in _distributions():
        for file in sorted(distribution.files or [], key=str):
            if predicate(file):
                path = Path(distribution.locate_file(file))
                if path.is_file():
                    paths.append(path)
    return tuple(paths)


def _docstrings(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node)
                if docstring and len(docstring) >= MIN_DOCSTRING_CHARS:
                    yield docstring


# --- standard-library docstrings ----------------------------------------------------------------------


@functools.cache
def stdlib_files() -> tuple[Path, ...]:
    root = _stdlib_root()
    return tuple(p for p in sorted(root.rglob("*.py")) if not SKIPPED_DIRS.intersection(p.relative_to(root).parts))


def stdlib_docstrings(paths: Iterable[Path] | None = None) -> Iterator[str]:
    """Module, class and function docstrings of the standard library, in a fixed order."""
    return _docstrings(stdlib_files() if paths is None else paths)


# --- Python's own documentation -------------------------------------------------------------------------


@functools.cache
def python_docs_files() -> tuple[Path, ...]:
    root = _stdlib_root()
    return tuple(p for p in (root / "this.py", root / "pydoc_data" / "topics.py") if p.is_file())


def _string_assignments(path: Path) -> dict[str, object]:
    """The module-level `NAME = <literal>` assignments of a Python file, evaluated as literals only."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def python_docs(paths: Iterable[Path] | None = None) -> Iterator[str]:
    """The Zen of Python (`this`, whose text is stored in rot13: decoded, not executed) and the language
    reference's topics that `help()` shows (pydoc_data.topics), one document per topic."""
    for path in python_docs_files() if paths is None else paths:
        values = _string_assignments(path)
        if path.name == "this.py" and isinstance(values.get("s"), str):
            yield codecs.decode(values["s"], "rot13").strip()
        elif isinstance(values.get("topics"), dict):
            for _, text in sorted(values["topics"].items()):
                if isinstance(text, str) and len(text) >= MIN_DOCUMENT_CHARS:
                    yield _clean_rst_topic(text)


def _clean_rst_topic(text: str) -> str:
    # pydoc's topics are plain text with underlined headings; the underlines read as a token soup.
    return "\n".join(line for line in text.splitlines() if not _UNDERLINE.match(line)).strip()


# --- package descriptions (README text) -----------------------------------------------------------------


@functools.cache
def package_docs_files() -> tuple[Path, ...]:
    return _distribution_files(lambda file: file.name in ("METADATA", "PKG-INFO") and ".dist-info" in str(file))


def _description(path: Path) -> tuple[str, str]:
    message = email.message_from_string(path.read_text(encoding="utf-8", errors="replace"))
    body = message.get_payload()
    text = body if isinstance(body, str) and body.strip() else (message["Description"] or "")
    return text, (message["Description-Content-Type"] or "").lower()


def package_docs(paths: Iterable[Path] | None = None) -> Iterator[str]:
    """The long descriptions (README text) of installed distributions, markup cleaned, one per package."""
    seen: set[str] = set()
    for path in package_docs_files() if paths is None else paths:
        text, _ = _description(path)
        cleaned = clean_markup(text)
        key = _normalised(cleaned)
        if len(cleaned) >= MIN_DOCUMENT_CHARS and key not in seen:
            seen.add(key)
            yield cleaned


# --- licences -------------------------------------------------------------------------------------------


@functools.cache
def license_files() -> tuple[Path, ...]:
    python_license = _stdlib_root() / "LICENSE.txt"
    packages = _distribution_files(lambda file: bool(LICENSE_NAME.match(file.name)) and file.suffix != ".py")
    return ((python_license,) if python_license.is_file() else ()) + packages


def licenses(paths: Iterable[Path] | None = None) -> Iterator[str]:
    """Python's licence and the licence files of installed distributions. Dozens of packages ship the same
    licences, so a paragraph already given is left out: each licence's text appears once."""
    seen: set[str] = set()
    for path in license_files() if paths is None else paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        paragraphs = []
        for paragraph in re.split(r"\n\s*\n", text):
            key = _normalised(paragraph)
            if key and key not in seen and not _UNDERLINE.match(paragraph.strip()):
                seen.add(key)
                paragraphs.append(paragraph.strip())
        document = "\n\n".join(paragraphs)
        if len(document) >= MIN_DOCUMENT_CHARS:
            yield document


# --- docstrings of installed packages -------------------------------------------------------------------


@functools.cache
def package_docstring_files() -> tuple[Path, ...]:
    return _distribution_files(
        lambda file: file.suffix == ".py" and not SKIPPED_DIRS.intersection(Path(str(file)).parts[:-1])
    )


def package_docstrings(paths: Iterable[Path] | None = None) -> Iterator[str]:
    """Module, class and function docstrings of installed third-party packages (parsed, never imported)."""
    return _docstrings(package_docstring_files() if paths is None else paths)


# --- markup -----------------------------------------------------------------------------------------------

_UNDERLINE = re.compile(r"^\s*([=\-~^*#+`'\":.])\1{2,}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# Directives and fields, tables, HTML, badges, images, link definitions, doctest and shell prompts, grid tables.
_MARKUP_LINE = re.compile(r"^\s*(\.\. |:[\w =-]+:(\s|$)|\||<[a-zA-Z/!]|\[!\[|!\[|\[[^\]]*\]:\s|>>>|\$ |\+[-=+]+\+$)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# Lines of code that a README shows without marking them as code: imports, calls, assignments, prompts.
_CODE_LINE = re.compile(r"^\s*(from \S+ import|import \S|@\w|[\w.\[\]'\"]+\s*(=[^=]|\()|[\])}]|>>>|\$ )")
_REPLACEMENTS = (
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"`([^`<]+?)\s*<[^>]+>`_{1,2}"), r"\1"),  # `text <url>`_
    (re.compile(r":[\w:.-]+:`([^`]+)`"), r"\1"),  # :role:`text`
    (re.compile(r"`{1,2}([^`]+)`{1,2}_?"), r"\1"),  # `code`, ``literal``
    (re.compile(r"(\*\*|__)(\S(?:.*?\S)?)\1"), r"\2"),  # **bold**
    (re.compile(r"(?<![\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])"), r"\1"),  # *emphasis*
    (re.compile(r"<(https?://[^>]+)>"), r"\1"),
    (re.compile(r"</?[a-zA-Z][^>]*>"), ""),  # inline HTML
    (re.compile(r"[ \t]+$", re.MULTILINE), ""),
)


def clean_markup(text: str) -> str:
    """Markdown or reStructuredText as plain prose: code blocks (fenced, indented or `::` literal blocks),
    badges, images, HTML, tables, directives and heading underlines dropped; links and emphasis kept as
    their text."""
    lines: list[str] = []
    in_fence = False
    literal_block = False
    for line in _HTML_COMMENT.sub("", text).splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        indented = line.startswith(("    ", "\t"))
        if in_fence or (indented and (literal_block or not lines or not lines[-1].strip())):
            literal_block = True
            continue
        if line.strip():
            literal_block = False
        line = _HEADING.sub("", line)
        if _UNDERLINE.match(line) or _MARKUP_LINE.match(line):
            continue
        if line.rstrip().endswith("::"):
            line = line.rstrip()[:-1]  # "Example::" introduces a literal block: keep "Example:"
            literal_block = True
        lines.append(line)
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    cleaned = "\n\n".join(paragraph for paragraph in paragraphs if not _mostly_code_or_symbols(paragraph))
    for pattern, replacement in _REPLACEMENTS:
        cleaned = pattern.sub(replacement, cleaned)
    return re.sub(r"\n{3,}", "\n\n", cleaned).strip()


def _mostly_code_or_symbols(paragraph: str) -> bool:
    lines = [line for line in paragraph.splitlines() if line.strip()]
    if not lines:
        return True
    letters = sum(character.isalpha() for character in paragraph)
    visible = sum(not character.isspace() for character in paragraph)
    return letters < 0.6 * visible or 2 * sum(bool(_CODE_LINE.match(line)) for line in lines) >= len(lines)


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


# --- the registry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    description: str
    files: Callable[[], tuple[Path, ...]]  # cached per process: listing installed packages' files takes seconds
    documents: Callable[[Iterable[Path] | None], Iterator[str]]


def _mix_files() -> tuple[Path, ...]:
    return tuple(path for part in MIX_PARTS for path in BUILTIN_CORPORA[part].files())


def mix(paths: Iterable[Path] | None = None) -> Iterator[str]:
    """One document from each part in turn, so that any prefix of the corpus (a run's first windows) holds
    prose, documentation and code commentary alike."""
    wanted = set(paths) if paths is not None else None
    streams = []
    for part in MIX_PARTS:
        corpus = BUILTIN_CORPORA[part]
        files = [path for path in corpus.files() if wanted is None or path in wanted]
        streams.append(corpus.documents(files))
    for row in zip_longest(*streams):
        yield from (document for document in row if document is not None)


BUILTIN_CORPORA: dict[str, BuiltinCorpus] = {
    corpus.name: corpus
    for corpus in (
        BuiltinCorpus(
            "mix",
            "one document in turn from Python's documentation, package READMEs, standard-library docstrings "
            "and licences",
            _mix_files,
            mix,
        ),
        BuiltinCorpus("stdlib-docstrings", "docstrings of Python's standard library", stdlib_files, stdlib_docstrings),
        BuiltinCorpus(
            "python-docs",
            "the Zen of Python and the language reference topics that help() shows",
            python_docs_files,
            python_docs,
        ),
        BuiltinCorpus("package-docs", "the README text of installed Python packages", package_docs_files, package_docs),
        BuiltinCorpus(
            "package-docstrings",
            "docstrings of installed third-party Python packages",
            package_docstring_files,
            package_docstrings,
        ),
        BuiltinCorpus(
            "licenses",
            "Python's licence and installed packages' licences, each paragraph once",
            license_files,
            licenses,
        ),
    )
}
MIX_PARTS = ("python-docs", "package-docs", "stdlib-docstrings", "licenses")


def environment() -> dict[str, str]:
    """What besides the files decides a built-in corpus's documents."""
    return {"python": sys.version.split()[0], "cleaning": str(CLEANING_VERSION)}
