"""Reads on explanations and comments that pages share, as QuerySet methods (as djangoproject.com's
DocumentQuerySet.search): what is visible, and full-text search.

Search on PostgreSQL: the stored weighted tsvector (explanations A, comments B) matched with a websearch
query (quoted phrases, `or`, `-word`) through its GIN index, ranked by ts_rank, with a ts_headline excerpt.
A word that occurs in a large share of all texts would make ts_rank run over hundreds of thousands of rows,
so ranking looks at the first SEARCH_RANK_CANDIDATES matches only (`match_count` says when it did).

Elsewhere (SQLite) `search()` is an honest simple match: every word of the query must appear in the text,
case-insensitively, and results are newest first, not ranked by relevance.

Typos are corrected against SearchTerm, the dictionary of words the wiki's texts use (see SearchTermQuerySet).
"""

import difflib
from collections.abc import Sequence

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, TrigramSimilarity
from django.db import connections, models
from django.db.models import F, Q

from .search import HEADLINE_START, HEADLINE_STOP, SEARCH_CONFIG, query_words

SEARCH_RANK_CANDIDATES = 2_000
# Best explanation first: see ExplanationQuerySet.best_first(); as a list for Subquery(...).order_by().
EXPLANATION_ORDER = [F("best_score").desc(nulls_last=True), F("vote_score").desc(), "created_at", "pk"]


def uses_postgres(queryset: models.QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _every_word(field: str, query: str) -> Q | None:
    words = query_words(query)
    if not words:
        return None
    condition = Q()
    for word in words:
        condition &= Q(**{f"{field}__icontains": word})
    return condition


class _SearchableQuerySet(models.QuerySet):
    text_field: str
    vector_field: str
    headline_options: dict

    def matching(self, query: str) -> models.QuerySet:
        """Rows whose stored tsvector matches a websearch-style query (PostgreSQL: the GIN index)."""
        search_query = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        return self.filter(**{self.vector_field: search_query})

    def search(self, query: str, *, limit: int, fields: Sequence[str], candidates: int | None = None) -> list[dict]:
        """The best `limit` matches for a websearch-style query, best first, as dicts of `fields` (paths
        such as "feature__source__slug"; "pk" first) with `rank`, `headline` (the text around the matches,
        HEADLINE_START/STOP around each hit: escape it before showing) and `match_count` (how many matches
        were ranked: at most `candidates`, SEARCH_RANK_CANDIDATES unless given).

        One query on PostgreSQL: the ids and ranks of the first `candidates` matches (the GIN index finds
        them and the scan stops there, so a common word costs no more than a rare one), the best `limit` of
        them, and only then their fields and headlines (ts_headline is slow: it runs on the rows shown)."""
        candidates = candidates or SEARCH_RANK_CANDIDATES
        if not uses_postgres(self):
            condition = _every_word(self.text_field, query)
            if condition is None:
                return []
            rows = list(self.filter(condition).order_by("-pk").values(*fields, headline=F(self.text_field))[:limit])
            for row in rows:
                row["rank"], row["match_count"] = 0.0, 0
            return rows
        search_query = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        ranked = (
            self.matching(query)
            .order_by()
            .annotate(rank=SearchRank(F(self.vector_field), search_query))
            .values_list("pk", "rank")[:candidates]
        )
        ranked_sql, ranked_params = ranked.query.sql_with_params()
        details_sql, details_params = self._details_sql(tuple(fields), query)
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
            rows = cursor.fetchall()
        names = [*fields, "headline"]
        result = []
        for rank, match_count, *values in rows:
            row = dict(zip(names, values, strict=True))
            row["rank"], row["match_count"] = rank, match_count
            result.append(row)
        return result

    def _details_sql(self, fields: tuple[str, ...], query: str) -> tuple[str, list]:
        """The SQL of `fields` and the headline of every row (the caller joins it to the rows it wants).
        Compiled once per QuerySet class and fields, and the query's text put in its parameters: the ORM
        takes longer to compile it than PostgreSQL takes to run it."""
        key = (type(self), self.db, fields)
        if key not in _DETAILS_SQL:
            if fields[:1] != ("pk",):
                raise ValueError("search() joins on the first field, which must be pk")
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

    def correct(self, query: str) -> str | None:
        """The query with each unknown word replaced by the closest known one; None if nothing changed."""
        words = query_words(query)
        known = set(self.filter(term__in=[word.lower() for word in words]).values_list("term", flat=True))
        corrected, changed = [], False
        for word in words:
            replacement = word if word.lower() in known or len(word) < 3 else self.closest(word)
            if replacement and replacement != word:
                changed = True
            corrected.append(replacement or word)
        return " ".join(corrected) if changed else None
