"""Search over the wiki for the search page: full-text (ranked on PostgreSQL and SQLite alike, with typo
correction) over explanations and comments, and search by meaning over explanation embeddings. Results are plain
dataclasses that name what each hit links to, with notes on anything of the query that was not searched as typed."""

import html
from dataclasses import dataclass

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from features.models import Feature

from .core import embeddings, websearch
from .models import (
    Comment,
    Explanation,
    RevisionEmbedding,
    SearchTerm,
)
from .querysets import SEARCH_RANK_CANDIDATES
from .search import HEADLINE_START, HEADLINE_STOP

# --- Search ----------------------------------------------------------------------------------

SEARCH_MODES = {"text": "Words", "semantic": "Meaning"}
SEARCH_PAGE_SIZE = 20
SEARCH_MAX_PAGES = 10


def highlight(headline: str) -> SafeString:
    """A headline from search(), escaped, with its matches in <mark>."""
    escaped = html.escape(headline or "")
    return mark_safe(escaped.replace(HEADLINE_START, "<mark>").replace(HEADLINE_STOP, "</mark>"))  # noqa: S308


@dataclass(frozen=True, slots=True)
class FeatureRef:
    """The feature a search hit is on: what the results page needs to name it and link to it, read with
    the hit rather than as three models."""

    model_slug: str
    source_slug: str
    index: int

    def __str__(self) -> str:
        return f"{self.model_slug}/{self.source_slug}/{self.index}"

    def get_absolute_url(self) -> str:
        return reverse("front:feature", args=[self.model_slug, self.source_slug, self.index])


@dataclass(frozen=True, slots=True)
class UserRef:
    pk: int
    username: str


@dataclass(frozen=True, slots=True)
class RevisionRef:
    author: UserRef | None


@dataclass(frozen=True, slots=True)
class ExplanationRef:
    """An explanation as a search hit shows it (explanations/_authorship.html and its votes)."""

    pk: int
    author_id: int | None
    author: UserRef | None
    method: str
    explainer_model: str
    vote_score: int
    current_revision: RevisionRef


@dataclass(frozen=True, slots=True)
class CommentRef:
    pk: int
    author: UserRef | None


def _user(pk: int | None, username: str | None) -> UserRef | None:
    return UserRef(pk, username) if pk is not None else None


@dataclass
class SearchHit:
    kind: str  # "explanation" or "comment"
    feature: Feature | FeatureRef
    excerpt: SafeString
    score: float
    explanation: Explanation | ExplanationRef | None = None
    comment: CommentRef | None = None
    match_count: int = 0  # how many matches of its kind were ranked


@dataclass
class SearchResults:
    hits: list[SearchHit]
    method: str  # "full-text" or "semantic"
    has_next: bool = False
    note: str = ""
    # What of the query was ignored or read differently than typed (websearch.ParsedQuery.notes), and why
    # nothing was searched at all, if so.
    query_notes: tuple[str, ...] = ()
    problem: str = ""


_FEATURE_FIELDS = ("feature__source__model__slug", "feature__source__slug", "feature__index")
EXPLANATION_HIT_FIELDS = (
    "pk",
    *_FEATURE_FIELDS,
    "author_id",
    "author__username",
    "method",
    "explainer_model",
    "vote_score",
    "current_revision__author_id",
    "current_revision__author__username",
)
COMMENT_HIT_FIELDS = ("pk", *_FEATURE_FIELDS, "author_id", "author__username")


def _explanation_hits(queryset, query: websearch.ParsedQuery, limit: int) -> list[SearchHit]:
    hits = []
    for row in queryset.search(query, limit=limit, fields=EXPLANATION_HIT_FIELDS):
        explanation = ExplanationRef(
            pk=row["pk"],
            author_id=row["author_id"],
            author=_user(row["author_id"], row["author__username"]),
            method=row["method"],
            explainer_model=row["explainer_model"],
            vote_score=row["vote_score"],
            current_revision=RevisionRef(
                _user(row["current_revision__author_id"], row["current_revision__author__username"])
            ),
        )
        hits.append(
            SearchHit(
                "explanation",
                FeatureRef(*(row[name] for name in _FEATURE_FIELDS)),
                highlight(row["headline"]),
                row["rank"],
                explanation=explanation,
                match_count=row["match_count"],
            )
        )
    return hits


def _comment_hits(queryset, query: websearch.ParsedQuery, limit: int) -> list[SearchHit]:
    hits = []
    for row in queryset.search(query, limit=limit, fields=COMMENT_HIT_FIELDS):
        hits.append(
            SearchHit(
                "comment",
                FeatureRef(*(row[name] for name in _FEATURE_FIELDS)),
                highlight(row["headline"]),
                row["rank"],
                comment=CommentRef(row["pk"], _user(row["author_id"], row["author__username"])),
                match_count=row["match_count"],
            )
        )
    return hits


def search_wiki(
    *, query: str, kind: str = "all", model_slug: str = "", source_slug: str = "", page: int = 1
) -> SearchResults:
    """Full-text search over visible explanations and comments (see querysets.py), ranked on either database.
    The query is read once (core/websearch.py); what of it was ignored or reinterpreted comes back in
    `query_notes`, and a query with nothing to search for comes back with a `problem` and no hits. When nothing
    matches, unknown words are corrected against the dictionary of words the wiki uses and the search runs
    again, saying so."""
    parsed = websearch.parse(query)
    if not parsed.searchable:
        return SearchResults(hits=[], method="full-text", query_notes=parsed.notes, problem=parsed.problem)
    page = max(1, min(page, SEARCH_MAX_PAGES))
    # Both kinds are ranked on one scale (weighted ranks), so the top of the merged list is the top of each
    # list merged: fetch enough of each for this page and one more row to know of a next.
    needed = page * SEARCH_PAGE_SIZE + 1
    explanations = Explanation.objects.visible().in_scope(model_slug=model_slug, source_slug=source_slug)
    comments = Comment.objects.visible().in_scope(model_slug=model_slug, source_slug=source_slug)
    hits = _search_hits(explanations, comments, kind, needed, parsed)
    note = ""
    if not hits:
        corrected = SearchTerm.objects.correct(parsed)
        if corrected:
            hits = _search_hits(explanations, comments, kind, needed, corrected)
            if hits:
                note = f"Nothing matches “{parsed.text()}”; showing results for “{corrected.text()}”."
    if any(hit.match_count >= SEARCH_RANK_CANDIDATES for hit in hits):
        note = (
            f"So many texts contain these words that only the first {SEARCH_RANK_CANDIDATES:,} of each kind "
            "were ranked; add a word to narrow the search."
        )
    start = (page - 1) * SEARCH_PAGE_SIZE
    return SearchResults(
        hits=hits[start : start + SEARCH_PAGE_SIZE],
        method="full-text",
        has_next=len(hits) > start + SEARCH_PAGE_SIZE and page < SEARCH_MAX_PAGES,
        note=note,
        query_notes=parsed.notes,
    )


def _search_hits(explanations, comments, kind: str, needed: int, query: websearch.ParsedQuery) -> list[SearchHit]:
    hits: list[SearchHit] = []
    if kind in ("all", "explanations"):
        hits += _explanation_hits(explanations, query, needed)
    if kind in ("all", "comments"):
        hits += _comment_hits(comments, query, needed)
    hits.sort(key=lambda hit: hit.score, reverse=True)
    return hits[:needed]


def semantic_search(*, query: str, model_slug: str = "", source_slug: str = "", page: int = 1) -> SearchResults:
    """Visible explanations closest in meaning to the query, by the cosine of MiniLM sentence embeddings
    (computed locally). Every candidate's vector is read and compared in numpy, which suits thousands to
    a few hundred thousand explanations; beyond that, an ANN index (pgvector) is the next step."""
    if problem := websearch.length_problem(query):
        return SearchResults(hits=[], method="semantic", problem=problem)
    page = max(1, min(page, SEARCH_MAX_PAGES))
    needed = page * SEARCH_PAGE_SIZE + 1
    query_vector = embeddings.embed_texts([query])[0]
    current = Explanation.objects.visible().in_scope(model_slug=model_slug, source_slug=source_slug)
    candidates = (
        RevisionEmbedding.objects.filter(revision_id__in=current.values("current_revision_id"))
        .values_list("revision_id", "vector")
        .iterator(chunk_size=2000)
    )
    ranked = embeddings.top_by_cosine(query_vector, candidates, k=needed)
    by_revision = {
        explanation.current_revision_id: explanation
        for explanation in current.filter(current_revision_id__in=[pk for pk, _ in ranked]).select_related(
            "feature__source__model", "current_revision", "author"
        )
    }
    hits = [
        SearchHit(
            "explanation",
            by_revision[pk].feature,
            highlight(by_revision[pk].text),
            score,
            explanation=by_revision[pk],
        )
        for pk, score in ranked
        if pk in by_revision
    ]
    start = (page - 1) * SEARCH_PAGE_SIZE
    missing = current.filter(current_revision__embedding__isnull=True).exists()
    return SearchResults(
        hits=hits[start : start + SEARCH_PAGE_SIZE],
        method="semantic",
        has_next=len(hits) > start + SEARCH_PAGE_SIZE and page < SEARCH_MAX_PAGES,
        note="Some explanations have no embedding yet (run manage.py embed_explanations)." if missing else "",
    )
