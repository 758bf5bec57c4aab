"""Judges read an explanation and say, for windows of tokens, what it predicts:

- simulate: an activation 0-10 for every token (the simulation scorer correlates these with the truth)
- detect:   for each whole window, the probability that it contains what the explanation describes
- fuzz:     for each window with some tokens marked, the probability that the marked tokens are it

Judges that share that interface: `SemanticJudge` (semantic.py; MiniLM reads the explanation's parts, the
default offline judge), `LiteralJudge` (reads the explanation's literal words and context clauses, or its
machine-checkable rule; no model), `OracleJudge` (for tests: the literal meaning of each candidate
explanation, given as a predicate) and `LLMJudge` (llm_judge.py; any OpenAI-compatible model). The offline
ones are built by name in offline_judges.py.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from .errors import ScoringInputError
from .lexicon import CLASS_NAMES, NEGATIONS, WORD_CLASSES
from .records import normalise_token

Tokens = Sequence[str]
FuzzItem = tuple[Tokens, Sequence[int]]  # a window and the positions of its marked tokens
RuleMatcher = Callable[[Tokens], Sequence[bool]]  # a machine-checkable rule: which tokens it matches
Predicate = Callable[[Tokens, int], bool]  # the literal meaning of an explanation at one token


class Judge(Protocol):
    name: str

    def simulate(self, explanation: str, windows: Sequence[Tokens]) -> list[list[float]]: ...

    def detect(self, explanation: str, windows: Sequence[Tokens]) -> list[float]: ...

    def fuzz(self, explanation: str, items: Sequence[FuzzItem]) -> list[float]: ...


class TokenProbabilityJudge:
    """A judge whose every answer follows from one probability per token that the explanation describes it."""

    name = "token-probabilities"
    rule: RuleMatcher | None = None

    def probabilities(self, explanation: str, tokens: Tokens) -> list[float]:
        raise NotImplementedError

    def _rule_hits(self, tokens: Tokens) -> list[float]:
        hits = [1.0 if hit else 0.0 for hit in self.rule(tokens)]
        if len(hits) != len(tokens):
            raise ScoringInputError(f"The rule matched {len(hits)} positions of a {len(tokens)}-token window.")
        return hits

    def simulate(self, explanation: str, windows: Sequence[Tokens]) -> list[list[float]]:
        return [[10.0 * p for p in self.probabilities(explanation, tokens)] for tokens in windows]

    def detect(self, explanation: str, windows: Sequence[Tokens]) -> list[float]:
        return [max(self.probabilities(explanation, tokens), default=0.0) for tokens in windows]

    def fuzz(self, explanation: str, items: Sequence[FuzzItem]) -> list[float]:
        answers = []
        for tokens, marked in items:
            p = self.probabilities(explanation, tokens)
            answers.append(sum(p[i] for i in marked) / len(marked) if marked else 0.0)
        return answers


class TokenPredictionJudge:
    """A judge whose every answer follows from one yes/no prediction per token."""

    name = "token-predictions"

    def predict(self, explanation: str, tokens: Tokens) -> list[bool]:
        raise NotImplementedError

    def simulate(self, explanation: str, windows: Sequence[Tokens]) -> list[list[float]]:
        return [[10.0 if hit else 0.0 for hit in self.predict(explanation, tokens)] for tokens in windows]

    def detect(self, explanation: str, windows: Sequence[Tokens]) -> list[float]:
        return [1.0 if any(self.predict(explanation, tokens)) else 0.0 for tokens in windows]

    def fuzz(self, explanation: str, items: Sequence[FuzzItem]) -> list[float]:
        answers = []
        for tokens, marked in items:
            hits = self.predict(explanation, tokens)
            answers.append(sum(hits[i] for i in marked) / len(marked) if marked else 0.0)
        return answers


class OracleJudge(TokenPredictionJudge):
    """Applies each explanation's literal meaning exactly: `meanings` maps explanation text to a predicate
    over (tokens, position). It answers only for explanations it knows, so tests cannot pass by accident."""

    name = "oracle"

    def __init__(self, meanings: Mapping[str, Predicate]) -> None:
        self.meanings = dict(meanings)

    def predict(self, explanation: str, tokens: Tokens) -> list[bool]:
        try:
            meaning = self.meanings[explanation]
        except KeyError:
            raise ScoringInputError(f"The oracle judge has no meaning for {explanation!r}.") from None
        return [bool(meaning(tokens, position)) for position in range(len(tokens))]


class LiteralJudge(TokenPredictionJudge):
    """No model: the explanation's machine-checkable rule when it has one, otherwise its words read
    literally (see `parse_explanation`): quoted or salient words, phrases, and context clauses such as
    'right after a colour word', 'followed by "cream"', 'unless negated', 'in the first 4 tokens'.
    Scores stored before the semantic judge was the default say `offline`: they are this judge's."""

    name = "literal"

    def __init__(self, rule: RuleMatcher | None = None) -> None:
        self.rule = rule

    def predict(self, explanation: str, tokens: Tokens) -> list[bool]:
        if self.rule is not None:
            hits = [bool(hit) for hit in self.rule(tokens)]
            if len(hits) != len(tokens):
                raise ScoringInputError(f"The rule matched {len(hits)} positions of a {len(tokens)}-token window.")
            return hits
        return parse_explanation(explanation).matches(tokens)


# --- Reading an explanation literally ---------------------------------------------------------

NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
# Words that describe rather than name what fires.
META_WORDS = frozenset(
    """a an the this that these those it its is are was be been being of to in on at by for with from as or
    and any some all each every word words token tokens term terms phrase phrases name names mention mentions
    mentioning mentioned fires fire firing activates activate activating activation detects detect responds
    respond looks look looking finds find neuron feature features occurrence occurrences instance instances
    use uses usage used when where which who mostly mainly especially particularly typically often usually
    very strongly also only just right immediately directly like such text document context contexts related
    relating about concept concepts references reference referring refers thing things something""".split()
)
BOUNDARY_TOKENS = frozenset({".", "!", "?", "\n", ""})

_QUOTED = r'"[^"]+"'
_QUOTED_LIST = rf"{_QUOTED}(?:\s*(?:,|or|and|,\s*or|,\s*and)\s*{_QUOTED})*"
_BARE = r"[a-z0-9][a-z0-9'-]*"
_OBJECT = (
    rf"(?:(?:a|an|the|some|any)\s+)?(?:(?:word|token)s?\s+)?"
    rf"(?:{_QUOTED_LIST}|{_BARE}(?:\s+(?:word|words|token|tokens|name|names))?)(?:\s*\([^)]*\))?"
)
_INTENSIFIER = r"(?:(?:right|immediately|directly|just)\s+)?"
_EXCLUDE_RE = re.compile(
    rf"(?:,\s*)?(?:but\s+)?(?:except|not|unless|never)\s+(?:when\s+|if\s+|it\s+is\s+|it's\s+)*{_INTENSIFIER}"
    rf"(?:after|following|preceded\s+by)\s+(?P<obj>{_OBJECT})"
)
_NEGATED_RE = re.compile(
    r"(?:,\s*)?(?:but\s+|and\s+|only\s+)?(?:(?:not|never)\s+(?:when|if|where)\s+(?:it\s+is\s+|it's\s+)?negated"
    r"|unless\s+(?:it\s+is\s+|it's\s+)?negated|(?:when|if)\s+(?:it\s+is\s+|it's\s+)?not\s+negated"
    r"|(?:outside|not\s+in)\s+(?:a\s+)?negations?|that\s+(?:is|are)\s+not\s+negated|not\s+negated)"
)
_BEFORE_RE = re.compile(rf"{_INTENSIFIER}(?:after|following|preceded\s+by|that\s+follows?)\s+(?P<obj>{_OBJECT})")
_AFTER_RE = re.compile(rf"{_INTENSIFIER}(?:before|preceding|followed\s+by)\s+(?P<obj>{_OBJECT})")
_FIRST_N_RE = re.compile(
    r"\(?(?:in\s+|within\s+|among\s+)?the\s+first\s+(?P<n>\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
    r"\s+(?:tokens?|words?)(?:\s+of\s+(?:the\s+|a\s+)?(?:text|window|document|sequence|passage))?\)?"
)
_TEXT_START_RE = re.compile(
    r"(?:at|near|in)\s+the\s+(?:very\s+)?(?:start|beginning)\s+of\s+(?:the\s+|a\s+)?(?:text|window|document|"
    r"sequence|passage)"
)
_SENTENCE_START_RE = re.compile(
    r"(?:at|near)\s+the\s+(?:very\s+)?(?:start|beginning)\s+of\s+(?:the\s+|a\s+)?(?:sentence|line)s?"
)
_PHRASE_RE = re.compile(rf"(?:the\s+)?(?:phrase|expression|bigram|compound)\s+(?P<a>{_BARE})\s+(?P<b>{_BARE})")
DEFAULT_START_POSITIONS = 4


def stem(word: str) -> str:
    """Plural and singular compare equal ('rivers' ~ 'river'), nothing cleverer."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class Pattern:
    """What an explanation says fires, read literally. `targets` are sequences of alternatives per token
    (one entry for a word, two for a phrase); empty targets mean any token that meets the constraints."""

    targets: tuple[tuple[frozenset[str], ...], ...] = ()
    before: frozenset[str] | None = None  # the previous token must be one of these
    after: frozenset[str] | None = None  # the next token must be one of these
    not_before: frozenset[str] = field(default_factory=frozenset)
    unless_negated: bool = False  # no negation among the 3 previous tokens
    max_position: int | None = None  # only in the first N tokens
    sentence_start: bool = False

    @property
    def is_empty(self) -> bool:
        return (
            not self.targets
            and self.before is None
            and self.after is None
            and self.max_position is None
            and not self.sentence_start
        )

    def matches(self, tokens: Tokens) -> list[bool]:
        words = [stem(normalise_token(token)) for token in tokens]
        hits = [False] * len(words)
        if self.is_empty:
            return hits
        targets = self.targets or ((frozenset(),),)  # one wildcard token
        for target in targets:
            length = len(target)
            for start in range(len(words) - length + 1):
                if all(not options or words[start + k] in options for k, options in enumerate(target)):
                    if self._context_holds(words, start, start + length - 1):
                        for position in range(start, start + length):
                            hits[position] = True
        return hits

    def _context_holds(self, words: list[str], first: int, last: int) -> bool:
        previous = words[first - 1] if first > 0 else ""
        if self.before is not None and previous not in self.before:
            return False
        if self.after is not None and (last + 1 >= len(words) or words[last + 1] not in self.after):
            return False
        if previous in self.not_before:
            return False
        if self.unless_negated and any(word in NEGATIONS for word in words[max(0, first - 3) : first]):
            return False
        if self.max_position is not None and first >= self.max_position:
            return False
        if self.sentence_start and previous not in BOUNDARY_TOKENS:
            return False
        return True


def _quoted(text: str) -> list[str]:
    return [match.strip().lower() for match in re.findall(r'"([^"]+)"', text)]


def _resolve_object(obj: str) -> frozenset[str]:
    """'a colour word ("black", "white")' -> the colour class plus the quoted words; 'the word "not"' -> {not}."""
    words = {stem(word) for word in _quoted(obj)}
    bare = re.findall(_BARE, re.sub(r'\([^)]*\)|"[^"]+"', " ", obj))
    for word in bare:
        if word in CLASS_NAMES:
            words |= {stem(member) for member in WORD_CLASSES[CLASS_NAMES[word]]}
        elif word not in META_WORDS:
            words.add(stem(word))
    return frozenset(words)


def read_position(text: str) -> tuple[str, dict]:
    """Where in a window an explanation says its thing fires ("in the first 4 tokens", "at the start of the
    text", "at the start of a sentence"): the text without those words, and `max_position` and
    `sentence_start` when given. The literal and the semantic judges both read positions with this."""
    constraints: dict = {}
    if match := _FIRST_N_RE.search(text):
        n = match.group("n")
        constraints["max_position"] = int(n) if n.isdigit() else NUMBER_WORDS[n]
        text = _FIRST_N_RE.sub(" ", text)
    if _TEXT_START_RE.search(text):
        constraints.setdefault("max_position", DEFAULT_START_POSITIONS)
        text = _TEXT_START_RE.sub(" ", text)
    if _SENTENCE_START_RE.search(text):
        constraints["sentence_start"] = True
        text = _SENTENCE_START_RE.sub(" ", text)
    return text, constraints


@lru_cache(maxsize=4096)
def parse_explanation(explanation: str) -> Pattern:
    text = " " + explanation.lower() + " "
    text = re.sub(r"[“”]", '"', text)
    text = re.sub(r"(?<![a-z])[‘'`](.+?)[’'`](?![a-z])", r'"\1"', text)  # 'cat' and `cat` read as "cat"
    text = text.replace("colour word", "colour").replace("color word", "colour")

    constraints: dict = {}
    if _NEGATED_RE.search(text):
        constraints["unless_negated"] = True
        text = _NEGATED_RE.sub(" ", text)
    not_before: set[str] = set()
    for match in _EXCLUDE_RE.finditer(text):
        excluded = _resolve_object(match.group("obj"))
        if excluded & NEGATIONS:
            constraints["unless_negated"] = True
        not_before |= excluded
    text = _EXCLUDE_RE.sub(" ", text)
    if match := _BEFORE_RE.search(text):
        constraints["before"] = _resolve_object(match.group("obj"))
        text = _BEFORE_RE.sub(" ", text, count=1)
    if match := _AFTER_RE.search(text):
        constraints["after"] = _resolve_object(match.group("obj"))
        text = _AFTER_RE.sub(" ", text, count=1)
    text, position = read_position(text)
    constraints.update(position)

    targets: list[tuple[frozenset[str], ...]] = []
    for match in _PHRASE_RE.finditer(text):
        targets.append((frozenset({stem(match.group("a"))}), frozenset({stem(match.group("b"))})))
    text = _PHRASE_RE.sub(" ", text)
    quoted = _quoted(text)
    if quoted:
        for phrase in quoted:
            targets.append(tuple(frozenset({stem(normalise_token(word))}) for word in phrase.split()))
    else:
        for word in re.findall(r"[a-z0-9][a-z0-9'-]*", text):
            if word in CLASS_NAMES:
                targets.append((frozenset(stem(member) for member in WORD_CLASSES[CLASS_NAMES[word]]),))
            elif word not in META_WORDS and not word.endswith("ly"):
                targets.append((frozenset({stem(word)}),))
    return Pattern(targets=tuple(dict.fromkeys(targets)), not_before=frozenset(not_before), **constraints)
