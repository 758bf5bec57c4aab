"""The search box's query language, read once and written out for each database.

    parse(text) -> ParsedQuery         never raises; what it could not use is in .notes, and .problem says
                                       when nothing is left to search for
    to_fts5(query) -> str              an SQLite FTS5 MATCH expression (every word quoted)
    to_websearch(query) -> str         the same query for PostgreSQL's websearch_to_tsquery
    ParsedQuery.text()                 the query as read, in the syntax a user types

The syntax is PostgreSQL's websearch_to_tsquery, read the way it reads it:

    numbers dates         both words (AND)
    "black cat"           the words next to each other, in this order
    numbers -dates        numbers, and not dates (the minus touches the word or the quoted phrase)
    cat dog or mouse      (cat AND dog) OR mouse: "or" binds looser than the spaces around it

A word is a run of letters and digits, as FTS5's unicode61 tokenizer cuts text, so every word can be written
quoted into either database's syntax and nothing a user types is ever read as FTS5 or tsquery syntax
(NEAR, AND, *, ^, parentheses). Words joined by punctuation (foo-bar, python's) are a phrase, as PostgreSQL
reads them. PostgreSQL's english configuration skips its stop words; FTS5 has none, so they are left out here,
where it can be said, on both databases alike.

Where PostgreSQL would quietly drop or reinterpret part of a query (a stop word, an "or" with nothing on one
side, punctuation, a missing closing quote), the query is read the same way and a note says so. A lone "-"
(which websearch_to_tsquery applies to the next word) is ignored, with a note. A query whose only words are
excluded has no FTS5 form, and would match nearly everything on PostgreSQL, so it is refused with a problem.
"""

import unicodedata
from dataclasses import dataclass, field, replace

MAX_QUERY_LENGTH = 200

# PostgreSQL's english.stop (share/tsearch_data/english.stop), the words its english configuration skips.
STOP_WORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom this that these those am is are
    was were be been being have has had having do does did doing a an the and but if or because as until while
    of at by for with about against between into through during before after above below to from up down in out
    on off over under again further then once here there when where why how all any both each few more most
    other some such no nor not only own same so than too very s t can will just don should now""".split()
)

# Punctuation between two words joins them into a phrase (foo-bar, python's, 3.14) without a note.
_JOINERS = frozenset("-'’._/")


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where the words of a text are: runs of letters and digits, with any combining marks in them (the
    vowel signs of Devanagari, say; both databases' tokenizers cut such a word the same way, quoted or not)."""
    spans, start = [], None
    for position, character in enumerate(text):
        if character.isalnum() or (start is not None and unicodedata.category(character).startswith("M")):
            start = position if start is None else start
        elif start is not None:
            spans.append((start, position))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def words_of(text: str) -> list[str]:
    """The words of a text, cut as the query's words are (runs of letters and digits), in order."""
    return [text[start:end] for start, end in word_spans(text)]


@dataclass(frozen=True, slots=True)
class Clause:
    """A word, or a phrase of words that must appear together in this order; excluded if `negated`.
    `spelling` is how it was typed, less ignored punctuation (foo-bar, 3.14), for PostgreSQL, whose parser
    reads such compounds as words of their own."""

    words: tuple[str, ...]
    negated: bool = False
    spelling: str = ""

    @property
    def written(self) -> str:
        return self.spelling or " ".join(self.words)

    def text(self) -> str:
        written = self.written
        return ("-" if self.negated else "") + (f'"{written}"' if " " in written else written)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """Alternatives (joined by OR), each a conjunction of clauses (joined by AND). `notes` say what of the
    text was ignored or read differently than typed; `problem`, when set, says why there is nothing to search."""

    alternatives: tuple[tuple[Clause, ...], ...] = ()
    notes: tuple[str, ...] = ()
    problem: str = ""

    @property
    def searchable(self) -> bool:
        return bool(self.alternatives) and not self.problem

    def words(self, *, negated: bool | None = None) -> list[str]:
        """Every word of the query, in order (only the excluded ones, or only the others, if `negated` says)."""
        return [
            word
            for alternative in self.alternatives
            for clause in alternative
            if negated is None or clause.negated == negated
            for word in clause.words
        ]

    def text(self) -> str:
        return " or ".join(" ".join(clause.text() for clause in alternative) for alternative in self.alternatives)

    def with_words_replaced(self, replacements: dict[str, str]) -> "ParsedQuery":
        """The same query with the words wanted (not excluded) replaced where `replacements` names them."""
        alternatives = tuple(
            tuple(clause if clause.negated else _replaced(clause, replacements) for clause in alternative)
            for alternative in self.alternatives
        )
        return replace(self, alternatives=alternatives)


def _replaced(clause: Clause, replacements: dict[str, str]) -> Clause:
    words = tuple(replacements.get(word, word) for word in clause.words)
    return clause if words == clause.words else Clause(words, clause.negated)


@dataclass
class _Reader:
    """Notes gathered while reading, each said once, in the order met."""

    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    stop_words: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def ignore(self, characters: str) -> None:
        for character in characters:
            if character not in self.ignored:
                self.ignored.append(character)


def _clauses(chunk: str, reader: _Reader, *, negated: bool, phrase: bool) -> list[Clause]:
    """The clauses of a chunk of text: one phrase for a quoted chunk (`phrase`); otherwise words joined by a
    hyphen, apostrophe, dot, slash or underscore make one phrase and other punctuation separates clauses, as
    PostgreSQL's parser reads them. Punctuation other than those joiners is noted as ignored. Only the first
    clause of a chunk carries its minus."""
    groups: list[tuple[list[str], str]] = []  # each clause's words and spelling
    position = 0
    for start, end in word_spans(chunk):
        gap = chunk[position:start]
        marks = "".join(character for character in gap if not character.isspace())
        joined = bool(groups) and bool(marks) and not gap[:1].isspace() and all(c in _JOINERS for c in marks)
        if not joined:
            reader.ignore(marks)
        word = chunk[start:end]
        if groups and (joined or phrase):
            words, spelling = groups[-1]
            groups[-1] = ([*words, word], spelling + (gap if joined else " ") + word)
        else:
            groups.append(([word], word))
        position = end
    reader.ignore("".join(character for character in chunk[position:] if not character.isspace()))
    return [
        Clause(tuple(words), negated and number == 0, "" if spelling == " ".join(words) else spelling)
        for number, (words, spelling) in enumerate(groups)
    ]


def _tokens(text: str, reader: _Reader) -> list[Clause | str]:
    """Clauses and "or" operators, in order."""
    tokens: list[Clause | str] = []
    position, length = 0, len(text)
    while position < length:
        if text[position].isspace():
            position += 1
            continue
        negated = False
        if text[position] == "-":
            start = position
            while position < length and text[position] == "-":
                position += 1
            if position == length or text[position].isspace():
                reader.note(
                    "A “-” excludes the word or quoted phrase it touches (as in -dates); a lone one was ignored."
                )
                continue
            negated = True
            if position - start > 1:
                reader.note("Several “-” in a row exclude once.")
        if text[position] == '"':
            end = text.find('"', position + 1)
            if end < 0:
                reader.note("A quote was not closed; the phrase was read to the end of the query.")
                end = length
            clauses = _clauses(text[position + 1 : end], reader, negated=negated, phrase=True)
            position = end + 1
        else:
            end = position
            while end < length and not text[end].isspace() and text[end] != '"':
                end += 1
            chunk = text[position:end]
            position = end
            if chunk.lower() == "or" and not negated:
                tokens.append("or")
                continue
            clauses = _clauses(chunk, reader, negated=negated, phrase=False)
        tokens.extend(clauses)
    return tokens


def _alternatives(tokens: list[Clause | str], reader: _Reader) -> list[list[Clause]]:
    alternatives: list[list[Clause]] = [[]]
    for token in tokens:
        if token == "or":
            if alternatives[-1]:
                alternatives.append([])
            else:
                reader.note("“or” needs a word on each side; one without was ignored.")
        else:
            alternatives[-1].append(token)
    if len(alternatives) > 1 and not alternatives[-1]:
        reader.note("“or” needs a word on each side; one without was ignored.")
    return [alternative for alternative in alternatives if alternative]


def _without_stop_words(clause: Clause, reader: _Reader) -> Clause | None:
    """A clause whose every word is a stop word is left out (PostgreSQL would drop it without a word); in a
    phrase with other words they stay, as the gaps they are in the text."""
    if not all(word.lower() in STOP_WORDS for word in clause.words):
        return clause
    reader.stop_words.append(clause.text())
    if clause.words[0].lower() == "not":
        reader.hints.append("To exclude a word, put a “-” before it, as in -dates.")
    return None


def length_problem(text: str) -> str:
    """Why a query is too long to search, or ""."""
    if len(text) <= MAX_QUERY_LENGTH:
        return ""
    return f"This query is {len(text):,} characters long; a search takes at most {MAX_QUERY_LENGTH}."


def parse(text: str) -> ParsedQuery:
    """Read a search box's text (see the module's docstring). Never raises."""
    if problem := length_problem(text):
        return ParsedQuery(problem=problem)
    reader = _Reader()
    alternatives = []
    for alternative in _alternatives(_tokens(text, reader), reader):
        kept = [clause for clause in alternative if _without_stop_words(clause, reader)]
        if kept:
            alternatives.append(tuple(kept))
    notes = list(reader.notes)
    if reader.stop_words:
        listed = ", ".join(f"“{word}”" for word in dict.fromkeys(reader.stop_words))
        verb = "is" if len(dict.fromkeys(reader.stop_words)) == 1 else "are"
        notes.append(f"{listed} {verb} too common to search for and left out.")
        notes.extend(dict.fromkeys(reader.hints))
    if reader.ignored:
        notes.append("Characters that are not part of a word were ignored: " + " ".join(reader.ignored))
    problem = ""
    if not alternatives:
        problem = "There is no word left to search for."
    elif any(all(clause.negated for clause in alternative) for alternative in alternatives):
        only_excluded = next(alternative for alternative in alternatives if all(c.negated for c in alternative))
        excluded = " ".join(clause.text() for clause in only_excluded)
        where = " on each side of “or”" if len(alternatives) > 1 else ""
        problem = f"“{excluded}” only excludes: a search needs a word to look for{where}, as in “numbers -dates”."
    return ParsedQuery(tuple(alternatives), tuple(notes), problem)


def _fts5_string(words: tuple[str, ...]) -> str:
    # Words are letters, digits and marks only; doubling quotes keeps that safe should one be built by hand.
    return '"' + " ".join(word.replace('"', '""') for word in words) + '"'


def to_fts5(query: ParsedQuery) -> str:
    """An FTS5 MATCH expression: ((a AND b) NOT c) OR (d). Quoted strings are phrases; FTS5's tokenizer
    (porter unicode61) stems them as it stems the text."""
    if not query.searchable:
        raise ValueError(query.problem or "an empty query has no FTS5 form")
    parts = []
    for alternative in query.alternatives:
        wanted = " AND ".join(_fts5_string(clause.words) for clause in alternative if not clause.negated)
        expression = f"({wanted})"
        for clause in alternative:
            if clause.negated:
                expression = f"({expression} NOT {_fts5_string(clause.words)})"
        parts.append(expression)
    return " OR ".join(parts)


def to_websearch(query: ParsedQuery) -> str:
    """The query for websearch_to_tsquery, every clause quoted so PostgreSQL reads just what was parsed here."""
    if not query.searchable:
        raise ValueError(query.problem or "an empty query has no websearch form")
    return " or ".join(
        " ".join(("-" if clause.negated else "") + f'"{clause.written}"' for clause in alternative)
        for alternative in query.alternatives
    )
