"""Full-text search plumbing shared by the models and their QuerySets.

Both databases search the same parsed query (explanations/core/websearch.py), ranked, explanations above
comments with the same words:

- PostgreSQL: every revision's text and every comment's body carry a stored, weighted tsvector (a generated
  column, GIN-indexed; see migrations 0003), queried with websearch_to_tsquery and ranked with ts_rank.
- SQLite: one FTS5 index over the same texts (porter stemming; kept in step by triggers, migration 0009),
  queried with MATCH and ranked with bm25(); the tsvector column is NULL there.
"""

import re

from django.contrib.postgres.search import SearchVector

SEARCH_CONFIG = "english"
# Explanations outrank comments with the same words: ts_rank weighs A at 1.0 and B at 0.4.
EXPLANATION_WEIGHT = "A"
COMMENT_WEIGHT = "B"
# The same weights for SQLite's bm25() ranks (ts_rank's defaults for A and B).
RANK_WEIGHTS = {"A": 1.0, "B": 0.4}
# SQLite's FTS5 index of both kinds (migration 0009).
FTS5_TABLE = "explanations_search_fts"
# ts_headline marks matches with these; the caller escapes the text and then turns them into <mark>.
HEADLINE_START = "\x02"
HEADLINE_STOP = "\x03"


class StoredSearchVector(SearchVector):
    """setweight(to_tsvector(config, text), weight) on PostgreSQL; NULL on other databases, which have no
    tsvector. Used as a GeneratedField's expression, so PostgreSQL keeps it up to date on every write."""

    def as_sqlite(self, compiler, connection, **extra_context):
        return "NULL", []


_TERM = re.compile(r"[^\W\d_]{3,40}", re.UNICODE)


def text_terms(text: str) -> set[str]:
    """The words of a text that go into the search-term dictionary: letters only, 3 to 40 of them."""
    return {term.lower() for term in _TERM.findall(text)}
