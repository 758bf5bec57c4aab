"""Reads for the community's pages. Each function runs a fixed number of queries, however much data there is."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from accounts.models import Ban
from explanations.services.comments import comment_can_edit
from features.models import Feature, LanguageModel

from .models import (
    Bookmark,
    Comment,
    Explanation,
    ExplanationRevision,
    FeatureList,
    FeatureListItem,
    FeatureLock,
    Vote,
    Watch,
)
from .querysets import visible_explanation

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
        explanation.can_vote = False
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
        votes = {vote.explanation_id: vote for vote in Vote.objects.filter(user=user, explanation__in=explanations)}
        for explanation in explanations:
            vote = votes.get(explanation.pk)
            # A vote on an earlier text is not the reader's vote on this one until they cast it again.
            counted = vote is not None and vote.counts_for(explanation.current_revision)
            explanation.user_vote = vote.value if counted else 0
            own = user.pk in {explanation.author_id, explanation.current_revision.author_id}
            explanation.can_vote = community.can_write and not own
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
    """The list with its items in order (`ordered_items`), each item's feature carrying its best explanation
    (with_best_explanation). Three queries, however long the list."""
    features = with_best_explanation(Feature.objects.select_related("source__model"))
    items = FeatureListItem.objects.prefetch_related(Prefetch("feature", queryset=features)).order_by("added_at", "pk")
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
    """The user's bookmarks, latest first, each feature carrying its best explanation (with_best_explanation)."""
    features = with_best_explanation(Feature.objects.select_related("source__model"))
    return (
        Bookmark.objects.filter(user=user)
        .prefetch_related(Prefetch("feature", queryset=features))
        .order_by("-created_at")
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


def with_best_explanation(features: QuerySet[Feature]) -> QuerySet[Feature]:
    """Annotate each feature with its best visible explanation's text and best score (`best_explanation`,
    `best_explanation_score`; None without one), in the same query: the one way pages read a feature's best
    explanation beside it."""
    best = Explanation.objects.visible().filter(feature=OuterRef("pk")).best_first()
    return features.annotate(
        best_explanation=Subquery(best.values("current_revision__text")[:1]),
        best_explanation_score=Subquery(best.values("best_score")[:1]),
    )


def best_explanation_texts(*, model: LanguageModel, addresses: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """The best visible explanation of each feature of `model` at (source slug, index), where it has one:
    {(source slug, index): text}. One query, whatever the number of features (the text page's hits)."""
    if not addresses:
        return {}
    features = Feature.objects.filter(
        source__model=model,
        source__slug__in={slug for slug, _ in addresses},
        index__in={index for _, index in addresses},
    )
    rows = (
        with_best_explanation(features)
        .filter(best_explanation__isnull=False)
        .values_list("source__slug", "index", "best_explanation")
    )
    return {(slug, index): text for slug, index, text in rows if (slug, index) in addresses}
