"""Full-text search plumbing shared by the models and their QuerySets.

On PostgreSQL every revision's text and every comment's body carry a stored, weighted tsvector (a generated
column, GIN-indexed; see migrations 0003), queried with websearch syntax and ranked, with a trigram fallback
for typos. On SQLite the column is NULL and searching falls back to matching every word (see querysets.py).
"""

import re

from django.contrib.postgres.search import SearchVector

SEARCH_CONFIG = "english"
# Explanations outrank comments with the same words: ts_rank weighs A at 1.0 and B at 0.4.
EXPLANATION_WEIGHT = "A"
COMMENT_WEIGHT = "B"
# ts_headline marks matches with these; the caller escapes the text and then turns them into <mark>.
HEADLINE_START = "\x02"
HEADLINE_STOP = "\x03"


class StoredSearchVector(SearchVector):
    """setweight(to_tsvector(config, text), weight) on PostgreSQL; NULL on other databases, which have no
    tsvector. Used as a GeneratedField's expression, so PostgreSQL keeps it up to date on every write."""

    def as_sqlite(self, compiler, connection, **extra_context):
        return "NULL", []


_WORD = re.compile(r"[\w'-]+", re.UNICODE)
_TERM = re.compile(r"[^\W\d_]{3,40}", re.UNICODE)


def text_terms(text: str) -> set[str]:
    """The words of a text that go into the search-term dictionary: letters only, 3 to 40 of them."""
    return {term.lower() for term in _TERM.findall(text)}


def query_words(query: str) -> list[str]:
    """The words of a search query without websearch syntax (quotes, 'or', a leading '-')."""
    words = []
    for raw in query.split():
        if raw.startswith("-") or raw.lower() == "or":
            continue
        words.extend(word.strip("'-") for word in _WORD.findall(raw))
    return [word for word in words if word][:10]
