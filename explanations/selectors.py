"""Reads for the community's pages. Each function runs a fixed number of queries, however much data there is."""

import html
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from accounts.models import Ban
from features.models import Feature, LanguageModel

from .core import embeddings
from .models import (
    Bookmark,
    Comment,
    Explanation,
    ExplanationRevision,
    FeatureList,
    FeatureListItem,
    FeatureLock,
    RevisionEmbedding,
    SearchTerm,
    Vote,
    Watch,
)
from .querysets import SEARCH_RANK_CANDIDATES, uses_postgres, visible_explanation
from .search import HEADLINE_START, HEADLINE_STOP, query_words
from .services import comment_can_edit

# --- The feature page ------------------------------------------------------------------------


@dataclass
class ThreadItem:
    """One comment of a thread in reading order. Rendering a flat list (rather than recursing in the
    template) keeps any depth of replies safe; `closes` says how many reply lists end after this one."""

    comment: Comment
    depth: int
    has_replies: bool
    closes: range = range(0)


def comment_thread(comments: list[Comment]) -> list[ThreadItem]:
    """Comments (oldest first) threaded under their parents, depth first, as a flat list."""
    children: dict[int | None, list[Comment]] = {}
    known = {comment.pk for comment in comments}
    for comment in comments:
        parent = comment.parent_id if comment.parent_id in known else None
        children.setdefault(parent, []).append(comment)
    items: list[ThreadItem] = []
    stack = [(comment, 0) for comment in reversed(children.get(None, []))]
    while stack:
        comment, depth = stack.pop()
        replies = children.get(comment.pk, [])
        items.append(ThreadItem(comment, depth, bool(replies)))
        stack.extend((reply, depth + 1) for reply in reversed(replies))
    for index, item in enumerate(items):
        if not item.has_replies:
            next_depth = items[index + 1].depth if index + 1 < len(items) else 0
            item.closes = range(item.depth - next_depth)
    return items


@dataclass
class FeatureCommunity:
    """What the feature page shows of the community, for one reader."""

    explanations: list[Explanation]
    thread: list[ThreadItem]
    comment_count: int
    lock: FeatureLock | None
    can_write: bool
    banned: bool = False
    watching: bool = False
    bookmarked: bool = False
    lists: list[FeatureList] = field(default_factory=list)

    @property
    def can_explain(self) -> bool:
        return self.can_write and self.lock is None

    @property
    def lists_with_feature(self) -> list[FeatureList]:
        return [feature_list for feature_list in self.lists if feature_list.has_feature]


def feature_community(*, feature: Feature, user) -> FeatureCommunity:
    """Expects the feature from features.selectors.feature_for_page (its visible explanations and comments
    are prefetched, and `is_locked` annotated). Adds at most four queries: the lock, where there is one; the
    reader's watch, bookmark and ban; their votes; their lists."""
    explanations = list(feature.visible_explanations)
    comments = list(feature.all_comments)
    lock = (
        FeatureLock.objects.filter(feature=feature).select_related("locked_by").first()
        if getattr(feature, "is_locked", True)
        else None
    )
    community = FeatureCommunity(
        explanations=explanations,
        thread=comment_thread(comments),
        comment_count=sum(1 for comment in comments if comment.is_visible),
        lock=lock,
        can_write=False,
    )
    for explanation in explanations:
        explanation.user_vote = 0
    now = timezone.now()
    for comment in comments:
        comment.can_edit = comment_can_edit(comment, user, now=now)
        comment.is_own = user.is_authenticated and comment.author_id == user.pk
    if not user.is_authenticated:
        return community

    state = (
        Feature.objects.filter(pk=feature.pk)
        .annotate(
            watching=Exists(Watch.objects.filter(user=user, feature=OuterRef("pk"))),
            bookmarked=Exists(Bookmark.objects.filter(user=user, feature=OuterRef("pk"))),
            banned=Exists(Ban.objects.active().filter(user=user)),
        )
        .values("watching", "bookmarked", "banned")
        .get()
    )
    community.watching, community.bookmarked, community.banned = (
        state["watching"],
        state["bookmarked"],
        state["banned"],
    )
    community.can_write = not state["banned"]
    if user.is_staff:
        community.can_write = True
    if explanations:
        votes = dict(
            Vote.objects.filter(user=user, explanation__in=explanations).values_list("explanation_id", "value")
        )
        for explanation in explanations:
            explanation.user_vote = votes.get(explanation.pk, 0)
    community.lists = list(
        FeatureList.objects.filter(owner=user)
        .annotate(has_feature=Exists(FeatureListItem.objects.filter(feature_list=OuterRef("pk"), feature=feature)))
        .order_by("name")
    )
    return community


def explanation_for_page(pk: int) -> Explanation | None:
    return (
        Explanation.objects.select_related("feature__source__model", "current_revision__author", "author")
        .filter(pk=pk)
        .first()
    )


def explanation_history(explanation: Explanation) -> list[ExplanationRevision]:
    """Every revision, newest first, with its author."""
    return list(explanation.revisions.select_related("author").order_by("-created_at", "-pk"))


def explanation_comments(explanation: Explanation) -> list[Comment]:
    """The visible comments about one explanation (threads started on it, and their replies), oldest first."""
    return list(explanation.comments.visible().select_related("author").order_by("created_at", "pk"))


# --- Recent changes and watchlists -----------------------------------------------------------

CHANGE_KINDS = {"explanation": "New explanations", "revision": "Revisions", "comment": "Comments"}


@dataclass
class Change:
    kind: str  # one of CHANGE_KINDS
    at: datetime
    user: object | None
    feature: Feature
    revision: ExplanationRevision | None = None
    comment: Comment | None = None

    @property
    def by_machine(self) -> bool:
        return self.user is None and self.revision is not None


def recent_changes(
    *,
    model_slug: str = "",
    kind: str = "",
    people_only: bool = False,
    watcher=None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[Change]:
    """The latest changes to the wiki, newest first: new explanations, revisions and comments (two
    queries). Hidden explanations and deleted or hidden comments are left out. `watcher` limits them to
    the features that user watches; `before` pages back in time."""
    changes: list[Change] = []
    if kind in ("", "explanation", "revision"):
        revisions = ExplanationRevision.objects.filter(visible_explanation("explanation")).select_related(
            "author", "explanation__feature__source__model"
        )
        if kind == "explanation":
            revisions = revisions.filter(previous__isnull=True)
        elif kind == "revision":
            revisions = revisions.filter(previous__isnull=False)
        if model_slug:
            revisions = revisions.filter(explanation__feature__source__model__slug=model_slug)
        if people_only:
            revisions = revisions.filter(author__isnull=False)
        if watcher is not None:
            revisions = revisions.filter(
                Exists(Watch.objects.filter(user=watcher, feature_id=OuterRef("explanation__feature_id")))
            )
        if before is not None:
            revisions = revisions.filter(created_at__lt=before)
        for revision in revisions.order_by("-created_at", "-pk")[:limit]:
            changes.append(
                Change(
                    kind="explanation" if revision.previous_id is None else "revision",
                    at=revision.created_at,
                    user=revision.author,
                    feature=revision.explanation.feature,
                    revision=revision,
                )
            )
    if kind in ("", "comment"):
        comments = Comment.objects.visible().select_related("author", "feature__source__model")
        if model_slug:
            comments = comments.filter(feature__source__model__slug=model_slug)
        if watcher is not None:
            comments = comments.filter(Exists(Watch.objects.filter(user=watcher, feature_id=OuterRef("feature_id"))))
        if before is not None:
            comments = comments.filter(created_at__lt=before)
        for comment in comments.order_by("-created_at", "-pk")[:limit]:
            changes.append(
                Change(
                    kind="comment", at=comment.created_at, user=comment.author, feature=comment.feature, comment=comment
                )
            )
    changes.sort(key=lambda change: change.at, reverse=True)
    return changes[:limit]


# --- Lists and bookmarks ---------------------------------------------------------------------


def feature_list_for_page(pk: int) -> FeatureList | None:
    items = FeatureListItem.objects.select_related("feature__source__model").order_by("added_at", "pk")
    return (
        FeatureList.objects.select_related("owner")
        .prefetch_related(Prefetch("items", queryset=items, to_attr="ordered_items"))
        .filter(pk=pk)
        .first()
    )


def lists_index(*, user) -> tuple[list[FeatureList], list[FeatureList]]:
    """The reader's own lists, and everyone's public lists (latest first), each with its item count."""
    counted = FeatureList.objects.select_related("owner").annotate(item_count=Count("items"))
    own = list(counted.filter(owner=user).order_by("name")) if user.is_authenticated else []
    public = list(counted.filter(is_public=True).order_by("-updated_at")[:100])
    return own, public


def user_bookmarks(user) -> QuerySet[Bookmark]:
    return Bookmark.objects.filter(user=user).select_related("feature__source__model").order_by("-created_at")


# --- Search ----------------------------------------------------------------------------------

SEARCH_KINDS = {"all": "Explanations and comments", "explanations": "Explanations", "comments": "Comments"}
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
    method: str  # "full-text", "simple" or "semantic"
    has_next: bool = False
    note: str = ""


def _excerpt_around(text: str, words: list[str], width: int = 200) -> str:
    """For the simple match: the text around the first word found, with the words marked."""
    lower = text.lower()
    first = min((lower.find(w.lower()) for w in words if lower.find(w.lower()) >= 0), default=0)
    start = max(0, first - width // 3)
    excerpt = ("…" if start else "") + text[start : start + width] + ("…" if start + width < len(text) else "")
    for word in sorted(set(words), key=len, reverse=True):
        excerpt = _mark_case_insensitive(excerpt, word)
    return excerpt


def _mark_case_insensitive(text: str, word: str) -> str:
    if not word:
        return text
    out, lower, needle, position = [], text.lower(), word.lower(), 0
    while True:
        found = lower.find(needle, position)
        if found < 0:
            out.append(text[position:])
            return "".join(out)
        out.append(text[position:found] + HEADLINE_START + text[found : found + len(word)] + HEADLINE_STOP)
        position = found + len(word)


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


def _explanation_hits(queryset, query: str, limit: int, method: str, words: list[str]) -> list[SearchHit]:
    hits = []
    for row in queryset.search(query, limit=limit, fields=EXPLANATION_HIT_FIELDS):
        headline = row["headline"] if method != "simple" else _excerpt_around(row["headline"], words)
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
                highlight(headline),
                row["rank"],
                explanation=explanation,
                match_count=row["match_count"],
            )
        )
    return hits


def _comment_hits(queryset, query: str, limit: int, method: str, words: list[str]) -> list[SearchHit]:
    hits = []
    for row in queryset.search(query, limit=limit, fields=COMMENT_HIT_FIELDS):
        headline = row["headline"] if method != "simple" else _excerpt_around(row["headline"], words)
        hits.append(
            SearchHit(
                "comment",
                FeatureRef(*(row[name] for name in _FEATURE_FIELDS)),
                highlight(headline),
                row["rank"],
                comment=CommentRef(row["pk"], _user(row["author_id"], row["author__username"])),
                match_count=row["match_count"],
            )
        )
    return hits


def search_wiki(
    *, query: str, kind: str = "all", model_slug: str = "", source_slug: str = "", page: int = 1
) -> SearchResults:
    """Full-text search over visible explanations and comments (see querysets.py): ranked on PostgreSQL,
    a simple every-word match on SQLite. When nothing matches, unknown words are corrected against the
    dictionary of words the wiki uses (trigram similarity on PostgreSQL) and the search runs again."""
    page = max(1, min(page, SEARCH_MAX_PAGES))
    # Both kinds are ranked on one scale (ts_rank with weights), so the top of the merged list is the
    # top of each list merged: fetch enough of each for this page and one more row to know of a next.
    needed = page * SEARCH_PAGE_SIZE + 1
    explanations = Explanation.objects.visible().in_scope(model_slug=model_slug, source_slug=source_slug)
    comments = Comment.objects.visible().in_scope(model_slug=model_slug, source_slug=source_slug)
    method = "full-text" if uses_postgres(explanations) else "simple"
    hits = _search_hits(explanations, comments, kind, needed, method, query)
    note = ""
    if not hits:
        corrected = SearchTerm.objects.correct(query)
        if corrected:
            hits = _search_hits(explanations, comments, kind, needed, method, corrected)
            if hits:
                note = f"Nothing matches “{query}”; showing results for “{corrected}”."
    if any(hit.match_count >= SEARCH_RANK_CANDIDATES for hit in hits):
        note = (
            f"So many texts contain these words that only the first {SEARCH_RANK_CANDIDATES:,} of each kind "
            "were ranked; add a word to narrow the search."
        )
    start = (page - 1) * SEARCH_PAGE_SIZE
    return SearchResults(
        hits=hits[start : start + SEARCH_PAGE_SIZE],
        method=method,
        has_next=len(hits) > start + SEARCH_PAGE_SIZE and page < SEARCH_MAX_PAGES,
        note=note,
    )


def _search_hits(explanations, comments, kind: str, needed: int, method: str, query: str) -> list[SearchHit]:
    words = query_words(query)
    hits: list[SearchHit] = []
    if kind in ("all", "explanations"):
        hits += _explanation_hits(explanations, query, needed, method, words)
    if kind in ("all", "comments"):
        hits += _comment_hits(comments, query, needed, method, words)
    if method != "simple":
        hits.sort(key=lambda hit: hit.score, reverse=True)
    return hits[:needed]


def semantic_search(*, query: str, model_slug: str = "", source_slug: str = "", page: int = 1) -> SearchResults:
    """Visible explanations closest in meaning to the query, by the cosine of MiniLM sentence embeddings
    (computed locally). Every candidate's vector is read and compared in numpy, which suits thousands to
    a few hundred thousand explanations; beyond that, an ANN index (pgvector) is the next step."""
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


# --- Profiles --------------------------------------------------------------------------------


def profile_activity(*, person, viewer, limit: int) -> dict:
    """A user's revisions and lists for their profile (lists: public ones, or all of them for the owner)."""
    revisions = (
        ExplanationRevision.objects.filter(visible_explanation("explanation"), author=person)
        .select_related("explanation__feature__source__model")
        .order_by("-created_at", "-pk")
    )
    lists = FeatureList.objects.filter(owner=person).annotate(item_count=Count("items")).order_by("name")
    if not (viewer.is_authenticated and viewer.pk == person.pk):
        lists = lists.filter(is_public=True)
    return {"revisions": list(revisions[:limit]), "lists": list(lists[:limit]), "list_count": lists.count()}


def best_explanation_texts(*, model: LanguageModel, addresses: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The best visible explanation of each feature of `model` at (source slug, index), where it has one:
    {(source slug, index): text}. One query, whatever the number of features (the text page's hits)."""
    if not addresses:
        return {}
    best = Explanation.objects.visible().filter(feature=OuterRef("pk")).best_first()
    rows = (
        Feature.objects.filter(
            source__model=model,
            source__slug__in={slug for slug, _ in addresses},
            index__in={index for _, index in addresses},
        )
        .annotate(best_explanation=Subquery(best.values("current_revision__text")[:1]))
        .filter(best_explanation__isnull=False)
        .values_list("source__slug", "index", "best_explanation")
    )
    return {(slug, index): text for slug, index, text in rows if (slug, index) in addresses}
