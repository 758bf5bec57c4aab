"""How graph search reads a graph and a query, without the database (circuits/services/graph_search.py runs it).

A graph is searched through one short text (GraphSearchText.text): its title, description, prompt, target,
node labels and supernode names, one a line, each line its words lower-cased (casefolded) with a space before
every word, punctuation dropped:

    " the capital of texas\\n says austin\\n texas"

A query is the search box's (explanations/core/websearch.py: words, "quoted phrases", `or`, -exclusions), and
each of its clauses becomes a needle that the text must contain: " black cat" for "Black cat". The space in
front makes a word match at the start of a word only ("cat" finds "cats", not "bobcat"): a plain substring
test that any database runs the same way, case-insensitive for every alphabet because both sides are
casefolded here (SQLite's LIKE folds ASCII only). A phrase cannot run from one line into the next.
"""

from collections.abc import Iterable

from explanations.core.websearch import Clause, ParsedQuery, word_spans, words_of

# Where a clause's words found in the title count this many times as much as elsewhere (ranking only).
TITLE_WEIGHT = 2.0


def search_line(text: str) -> str:
    """One field of a graph as the search text holds it: " word word ...", casefolded, or "" if it has no word."""
    return "".join(f" {word.casefold()}" for word in words_of(text))


def graph_search_text(
    *, title: str, description: str, prompt: str, target: str, labels: Iterable[str], supernode_names: Iterable[str]
) -> str:
    """The search text of a graph (the module's docstring); the title is always its first line."""
    lines = [search_line(title)]
    for field in (description, prompt, target, *labels, *supernode_names):
        line = search_line(field)
        if line and line not in lines:
            lines.append(line)
    return "\n".join(lines)


def clause_needle(clause: Clause) -> str:
    """What a search text must contain for a clause to match (" black cat")."""
    return "".join(f" {word.casefold()}" for word in clause.words)


def graph_rank(query: ParsedQuery, text: str) -> float:
    """How well a matching search text matches: each wanted clause of the best alternative counts once, and
    TITLE_WEIGHT times in the title (the first line). Excluded clauses do not count."""
    title, _, rest = text.partition("\n")
    best = 0.0
    for alternative in query.alternatives:
        score = 0.0
        for clause in alternative:
            if clause.negated:
                continue
            needle = clause_needle(clause)
            if needle in title:
                score += TITLE_WEIGHT
            elif needle in rest:
                score += 1.0
        best = max(best, score)
    return best


def matched_line(query: ParsedQuery, text: str, *, shown: Iterable[str] = ()) -> str:
    """Where a graph matched when neither its title nor the fields in `shown` (its prompt, on a results page) hold
    a wanted clause: the first other line of its search text that does, as the words it holds ("says austin");
    otherwise ""."""
    needles = [clause_needle(clause) for clause in _wanted(query)]
    title, *rest = text.split("\n")
    seen = [title, *(search_line(field) for field in shown)]
    if any(needle in line for needle in needles for line in seen):
        return ""
    return next((line.strip() for line in rest if any(needle in line for needle in needles)), "")


def _wanted(query: ParsedQuery) -> list[Clause]:
    return [clause for alternative in query.alternatives for clause in alternative if not clause.negated]


def marked_excerpt(text: str, query: ParsedQuery, *, width: int = 160, start: str, stop: str) -> str:
    """Up to `width` characters of `text` (a prompt), around the first word that a wanted clause of the query
    begins with, with `start` and `stop` around every word that starts like one of the query's wanted words.
    Not escaped: the caller escapes it and then turns `start`/`stop` into markup."""
    wanted = {word.casefold() for clause in _wanted(query) for word in clause.words}
    spans = word_spans(text)
    hits = [(a, b) for a, b in spans if any(text[a:b].casefold().startswith(word) for word in wanted)]
    begin = 0
    if len(text) > width and hits:
        begin = max(0, min(hits[0][0] - width // 4, len(text) - width))
        # Start at a word, not inside one or at the punctuation after one.
        begin = next((a for a, _ in spans if a >= begin), begin)
    end = min(len(text), begin + width)
    pieces, position = [], begin
    for a, b in hits:
        if a < begin or b > end:
            continue
        pieces += [text[position:a], start, text[a:b], stop]
        position = b
    pieces.append(text[position:end])
    return ("…" if begin > 0 else "") + "".join(pieces) + ("…" if end < len(text) else "")
