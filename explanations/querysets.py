"""Reads on explanations and comments that pages share, as QuerySet methods (as djangoproject.com's
DocumentQuerySet.search): what is visible, and full-text search.

Search takes a query parsed once (explanations/core/websearch.py: quoted phrases, `or`, `-word`) and runs it
on either database, ranked, explanations (weight A) above comments (weight B) with the same words:

- PostgreSQL: the stored weighted tsvector matched with websearch_to_tsquery through its GIN index, ranked by
  ts_rank, with a ts_headline excerpt.
- SQLite: the FTS5 index of both kinds (migration 0009) matched with MATCH, ranked by bm25(), with highlight()
  and snippet().

A word that occurs in a large share of all texts would make ranking run over hundreds of thousands of rows,
so ranking looks at the first SEARCH_RANK_CANDIDATES matches only (`match_count` says when it did).

Typos are corrected against SearchTerm, the dictionary of words the wiki's texts use (see SearchTermQuerySet).
"""

import difflib
from collections.abc import Sequence

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, TrigramSimilarity
from django.db import connections, models
from django.db.models import F, Q
from django.db.models.expressions import RawSQL

from .core import websearch
from .core.websearch import ParsedQuery
from .search import (
    COMMENT_WEIGHT,
    EXPLANATION_WEIGHT,
    FTS5_TABLE,
    HEADLINE_START,
    HEADLINE_STOP,
    RANK_WEIGHTS,
    SEARCH_CONFIG,
)

SEARCH_RANK_CANDIDATES = 2_000
# Best explanation first: see ExplanationQuerySet.best_first(); as a list for Subquery(...).order_by().
EXPLANATION_ORDER = [F("best_score").desc(nulls_last=True), F("vote_score").desc(), "created_at", "pk"]


def uses_postgres(queryset: models.QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _parsed(query: ParsedQuery | str) -> ParsedQuery:
    return query if isinstance(query, ParsedQuery) else websearch.parse(query)


class _SearchableQuerySet(models.QuerySet):
    text_field: str
    vector_field: str
    headline_options: dict
    weight: str
    # SQLite: the FTS5 index holds both kinds; a text's rowid there is 2 * key + parity (migration 0009).
    fts5_key: str  # the field whose value is the key: the revision's or the comment's id
    fts5_parity: int
    fts5_headline: str

    def matching(self, query: ParsedQuery | str) -> models.QuerySet:
        """Rows that match a query (PostgreSQL: through the tsvector's GIN index; SQLite: the FTS5 index)."""
        query = _parsed(query)
        if not query.searchable:
            return self.none()
        if uses_postgres(self):
            search_query = SearchQuery(websearch.to_websearch(query), config=SEARCH_CONFIG, search_type="websearch")
            return self.filter(**{self.vector_field: search_query})
        rows = RawSQL(
            f"SELECT rowid >> 1 FROM {FTS5_TABLE} WHERE {FTS5_TABLE} MATCH %s AND (rowid & 1) = {self.fts5_parity}",
            [websearch.to_fts5(query)],
        )
        return self.filter(**{f"{self.fts5_key}__in": rows})

    def search(
        self, query: ParsedQuery | str, *, limit: int, fields: Sequence[str], candidates: int | None = None
    ) -> list[dict]:
        """The best `limit` matches for a query (parsed, or text to parse), best first, as dicts of `fields`
        (paths such as "feature__source__slug"; "pk" first) with `rank`, `headline` (the text around the
        matches, HEADLINE_START/STOP around each hit: escape it before showing) and `match_count` (how many
        matches were ranked: at most `candidates`, SEARCH_RANK_CANDIDATES unless given).

        One query on either database: the ids and ranks of the first `candidates` matches (the index finds
        them and the scan stops there, so a common word costs no more than a rare one), the best `limit` of
        them, and only then their fields and headlines (headlines are slow: they run on the rows shown)."""
        query = _parsed(query)
        if not query.searchable:
            return []
        if fields[:1] != ("pk",):
            raise ValueError("search() joins on the first field, which must be pk")
        candidates = candidates or SEARCH_RANK_CANDIDATES
        if not uses_postgres(self):
            return self._search_sqlite(query, limit=limit, fields=tuple(fields), candidates=candidates)
        websearch_text = websearch.to_websearch(query)
        search_query = SearchQuery(websearch_text, config=SEARCH_CONFIG, search_type="websearch")
        ranked = (
            self.matching(query)
            .order_by()
            .annotate(rank=SearchRank(F(self.vector_field), search_query))
            .values_list("pk", "rank")[:candidates]
        )
        ranked_sql, ranked_params = ranked.query.sql_with_params()
        details_sql, details_params = self._details_sql(tuple(fields), websearch_text)
        # The ORM has no subquery in FROM, so its SQL is wrapped: the best `limit` candidates (and how many
        # there were), joined to their fields. The details' columns are renamed (d0, d1, ...) because two
        # fields may share a column name (a model's slug and a source's).
        columns = ", ".join(f"d{number}" for number in range(len(fields) + 1))
        sql = (
            "SELECT top.rank, top.n, d.* FROM ("
            f"SELECT c.pk, c.rank, count(*) OVER () AS n FROM ({ranked_sql}) AS c(pk, rank) "
            "ORDER BY c.rank DESC, c.pk LIMIT %s"
            f") AS top JOIN ({details_sql}) AS d({columns}) ON d.d0 = top.pk ORDER BY top.rank DESC, top.pk"
        )
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, [*ranked_params, limit, *details_params])
            return _search_rows(cursor.fetchall(), fields)

    def _search_sqlite(self, query: ParsedQuery, *, limit: int, fields: tuple[str, ...], candidates: int) -> list[dict]:
        """search() on SQLite, in one statement: the first `candidates` visible rows of this kind that the FTS5
        index matches (the index drives; CROSS JOIN keeps it first), ranked by bm25() (lower is better there,
        so negated, and weighted like ts_rank), the best `limit`, and then their fields and an excerpt from a
        second cursor on the index (auxiliary functions need the MATCH of their own query)."""
        table, match = FTS5_TABLE, websearch.to_fts5(query)
        rows_sql, rows_params = (
            self.order_by()
            .annotate(search_pk=F("pk"), search_key=F(self.fts5_key))
            .values_list("search_pk", "search_key")
            .query.sql_with_params()
        )
        aliases = {f"d{number}": F(name) for number, name in enumerate(fields)}
        details = self.model._base_manager.using(self.db).order_by().annotate(**aliases).values_list(*aliases)
        details_sql, details_params = details.query.sql_with_params()
        headline = self.fts5_headline.format(table=table)
        weight = RANK_WEIGHTS[self.weight]
        sql = (
            f"SELECT top.rank, top.n, d.*, {headline} FROM ("
            "SELECT m.pk, m.fts_row, m.rank, count(*) OVER () AS n FROM ("
            f"SELECT c.search_pk AS pk, {table}.rowid AS fts_row, -bm25({table}) * {weight} AS rank "
            f"FROM {table} CROSS JOIN ({rows_sql}) AS c ON c.search_key = ({table}.rowid >> 1) "
            f"WHERE {table} MATCH %s AND ({table}.rowid & 1) = {self.fts5_parity} LIMIT %s"
            ") AS m ORDER BY m.rank DESC, m.pk LIMIT %s"
            f") AS top CROSS JOIN {table} ON {table}.rowid = top.fts_row "
            f"CROSS JOIN ({details_sql}) AS d ON d.d0 = top.pk "
            f"WHERE {table} MATCH %s ORDER BY top.rank DESC, top.pk"
        )
        params = [HEADLINE_START, HEADLINE_STOP, *rows_params, match, candidates, limit, *details_params, match]
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, params)
            return _search_rows(cursor.fetchall(), fields)

    def _details_sql(self, fields: tuple[str, ...], query: str) -> tuple[str, list]:
        """PostgreSQL: the SQL of `fields` and the headline of every row for a websearch query's text (the
        caller joins it to the rows it wants).
        Compiled once per QuerySet class and fields, and the query's text put in its parameters: the ORM
        takes longer to compile it than PostgreSQL takes to run it."""
        key = (type(self), self.db, fields)
        if key not in _DETAILS_SQL:
            headline = SearchHeadline(
                self.text_field,
                SearchQuery(_QUERY_PLACEHOLDER, config=SEARCH_CONFIG, search_type="websearch"),
                config=SEARCH_CONFIG,
                start_sel=HEADLINE_START,
                stop_sel=HEADLINE_STOP,
                **self.headline_options,
            )
            details = self.model._base_manager.using(self.db).order_by().annotate(headline=headline)
            sql, params = details.values_list(*fields, "headline").query.sql_with_params()
            if sum(param == _QUERY_PLACEHOLDER for param in params) != 1:
                raise ValueError("the headline's query should be the details' one query parameter")
            _DETAILS_SQL[key] = (sql, list(params))
        sql, params = _DETAILS_SQL[key]
        return sql, [query if param == _QUERY_PLACEHOLDER else param for param in params]


def _search_rows(rows: list[tuple], fields: Sequence[str]) -> list[dict]:
    """search()'s rows, (rank, match count, *fields, headline), as dicts."""
    names = [*fields, "headline"]
    result = []
    for rank, match_count, *values in rows:
        row = dict(zip(names, values, strict=True))
        row["rank"], row["match_count"] = rank, match_count
        result.append(row)
    return result


_DETAILS_SQL: dict[tuple, tuple[str, list]] = {}
_QUERY_PLACEHOLDER = "\x00search query\x00"


def visible_explanation(path: str = "") -> Q:
    """The condition of ExplanationQuerySet.visible() on explanations reached through `path` (e.g.
    "explanation" from a revision, "explanations" from a feature), for filters that join rather than subquery."""
    prefix = f"{path}__" if path else ""
    return Q(**{f"{prefix}hidden": False, f"{prefix}current_revision__isnull": False})


class ExplanationQuerySet(_SearchableQuerySet):
    text_field = "current_revision__text"
    vector_field = "current_revision__search_vector"
    # Explanations are short: show all of one, as typed (excerpts would drop anything shaped like a tag).
    headline_options = {"highlight_all": True}
    weight = EXPLANATION_WEIGHT
    fts5_key = "current_revision"
    fts5_parity = 0
    fts5_headline = "highlight({table}, 0, %s, %s)"

    def visible(self) -> "ExplanationQuerySet":
        """What readers see: not hidden by a moderator, and with a text."""
        return self.filter(visible_explanation())

    def with_earlier_vote_count(self) -> "ExplanationQuerySet":
        """Annotate `earlier_vote_count`: votes cast on a text before the current one's count began (they are
        shown apart and not counted; see ExplanationRevision.votes_from)."""
        earlier = Q(votes__revision_id__lt=F("current_revision__votes_from_id"))
        return self.annotate(earlier_vote_count=models.Count("votes", filter=earlier))

    def best_first(self) -> "ExplanationQuerySet":
        """The one order of explanations: best score first (unscored ones last, on PostgreSQL too, where NULL
        sorts first in a descending order), then votes, then the oldest."""
        return self.order_by(*EXPLANATION_ORDER)

    def in_scope(self, *, model_slug: str = "", source_slug: str = "") -> "ExplanationQuerySet":
        queryset = self
        if model_slug:
            queryset = queryset.filter(feature__source__model__slug=model_slug)
        if source_slug:
            queryset = queryset.filter(feature__source__slug=source_slug)
        return queryset


class CommentQuerySet(_SearchableQuerySet):
    text_field = "body"
    vector_field = "search_vector"
    headline_options = {"max_words": 30, "min_words": 12}
    weight = COMMENT_WEIGHT
    fts5_key = "pk"
    fts5_parity = 1
    fts5_headline = "snippet({table}, 0, %s, %s, '…', 30)"

    def visible(self) -> "CommentQuerySet":
        return self.filter(deleted=False, hidden=False)

    def in_scope(self, *, model_slug: str = "", source_slug: str = "") -> "CommentQuerySet":
        queryset = self
        if model_slug:
            queryset = queryset.filter(feature__source__model__slug=model_slug)
        if source_slug:
            queryset = queryset.filter(feature__source__slug=source_slug)
        return queryset


class SearchTermQuerySet(models.QuerySet):
    def closest(self, word: str) -> str | None:
        """The known word most like `word`, or None. PostgreSQL: pg_trgm similarity through a trigram GIN
        index over the dictionary (a few ten thousand words, however many texts). Elsewhere: difflib over
        the words that share its first letter."""
        word = word.lower()
        if uses_postgres(self):
            best = (
                self.filter(term__trigram_similar=word)
                .annotate(similarity=TrigramSimilarity("term", word))
                .order_by("-similarity", "term")
                .values_list("term", flat=True)
                .first()
            )
            return best
        candidates = list(self.filter(term__startswith=word[:1]).values_list("term", flat=True)[:50_000])
        matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
        return matches[0] if matches else None

    def correct(self, query: ParsedQuery) -> ParsedQuery | None:
        """The query with each unknown word it looks for replaced by the closest known one, its phrases,
        exclusions and alternatives kept as they are; None if nothing changed. Excluded words are left alone:
        correcting them would only exclude something else. At most MAX_CORRECTED words are looked up."""
        words = [word for word in dict.fromkeys(query.words(negated=False)) if len(word) >= 3]
        known = set(self.filter(term__in=[word.lower() for word in words]).values_list("term", flat=True))
        unknown = [word for word in words if word.lower() not in known][:MAX_CORRECTED]
        replacements = {}
        for word in unknown:
            replacement = self.closest(word)
            if replacement and replacement != word.lower():
                replacements[word] = replacement
        return query.with_words_replaced(replacements) if replacements else None


MAX_CORRECTED = 5
