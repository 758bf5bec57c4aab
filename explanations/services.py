"""Writes on the wiki: explanations and their revisions, votes, comments, reports, locks, lists, bookmarks
and watches. Keyword-only functions named <entity>_<action>; views, the admin and tasks only call these.

Permissions live here, not in the views, so that no crafted request gets round them: services raise
PermissionDenied (who may not do this, and why) or ValidationError (what to change), both with messages
meant for the person who tried.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import user_is_banned
from features.models import Feature
from features.services.page_versions import feature_page_changed

from .core import embeddings
from .core.rules import RuleError, rule_parse
from .models import (
    Bookmark,
    Comment,
    Explanation,
    ExplanationRevision,
    FeatureList,
    FeatureListItem,
    FeatureLock,
    Report,
    RevisionEmbedding,
    SearchTerm,
    Vote,
    Watch,
)
from .search import text_terms

logger = logging.getLogger(__name__)

MAX_EXPLANATION_LENGTH = 1000
MAX_COMMENT_LENGTH = 10_000
ENCODER_NAME = "all-MiniLM-L6-v2"


# --- Who may write ---------------------------------------------------------------------------


def ensure_can_write(user) -> None:
    if user is None or not user.is_authenticated:
        raise PermissionDenied("Log in to write on the wiki.")
    if user_is_banned(user):
        raise PermissionDenied("Your account is banned from writing on the wiki.")


def feature_is_locked(feature: Feature) -> bool:
    return FeatureLock.objects.filter(feature=feature).exists()


def _ensure_explanations_open(feature: Feature, user) -> None:
    if user is not None and user.is_staff:
        return
    lock = FeatureLock.objects.filter(feature=feature).first()
    if lock is not None:
        reason = f" ({lock.reason})" if lock.reason else ""
        raise PermissionDenied(f"A moderator has locked the explanations of {feature}{reason}.")


def _ensure_staff(user) -> None:
    if user is None or not user.is_authenticated or not user.is_staff:
        raise PermissionDenied("Only moderators can do that.")


# --- Explanations ----------------------------------------------------------------------------


def _clean_text(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise ValidationError({"text": "Write the explanation: what makes this feature fire?"})
    if len(text) > MAX_EXPLANATION_LENGTH:
        raise ValidationError({"text": f"Keep an explanation under {MAX_EXPLANATION_LENGTH} characters."})
    return text


def rule_from_text(rule_text: str) -> dict | None:
    """The stored form of an optional rule; ValidationError on the `rule` field if it does not parse."""
    if not rule_text or not rule_text.strip():
        return None
    try:
        return rule_parse(rule_text).to_json()
    except RuleError as error:
        raise ValidationError({"rule": str(error)}) from error


def _watch(user, feature: Feature) -> None:
    Watch.objects.get_or_create(user=user, feature=feature)


def search_terms_add(*, texts: list[str]) -> None:
    """Add the words of newly saved texts to the dictionary that search corrects typos against."""
    terms = set().union(*(text_terms(text) for text in texts)) if texts else set()
    if terms:
        SearchTerm.objects.bulk_create([SearchTerm(term=term) for term in terms], ignore_conflicts=True)


def revisions_embed(*, revisions: list[ExplanationRevision]) -> int:
    """Store each revision's MiniLM embedding for semantic search; returns how many were stored.

    Runs after the revision is committed, and a failure only costs the revision its place in semantic
    search (logged), never the edit itself. `manage.py embed_explanations` fills in any that are missing.
    """
    if not revisions:
        return 0
    try:
        vectors = embeddings.embed_texts([revision.text for revision in revisions])
    except Exception:  # noqa: BLE001 - a missing or broken encoder must not lose anyone's edit
        logger.exception("Could not embed %d explanation revisions", len(revisions))
        return 0
    rows = [
        RevisionEmbedding(revision_id=revision.pk, vector=embeddings.to_bytes(vector), encoder=ENCODER_NAME)
        for revision, vector in zip(revisions, vectors, strict=True)
    ]
    RevisionEmbedding.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["revision"], update_fields=["vector", "encoder"]
    )
    return len(rows)


def explanation_create(
    *,
    feature: Feature,
    text: str,
    author=None,
    method: str = "",
    explainer_model: str = "",
    rule_text: str = "",
    message: str = "",
    embed: bool = True,
    generated: bool = False,
) -> Explanation:
    """A new explanation with its first revision. Written by a person (`author`) or by a machine
    (`method`, and the `explainer_model` it used), never neither. `generated` marks one written by our
    explainer pipelines (scoring/services.py): at most one per feature, method and model (a constraint)."""
    text = _clean_text(text)
    rule = rule_from_text(rule_text)
    if author is None and not method:
        raise ValidationError("An explanation needs an author or the method that wrote it.")
    if author is not None:
        ensure_can_write(author)
        _ensure_explanations_open(feature, author)
    with transaction.atomic():
        explanation = Explanation.objects.create(
            feature=feature, author=author, method=method, explainer_model=explainer_model, generated=generated
        )
        revision = ExplanationRevision.objects.create(
            explanation=explanation, text=text, rule=rule, author=author, message=message[:300] or "Created"
        )
        explanation.current_revision = revision
        explanation.save(update_fields=["current_revision", "updated_at"])
        if author is not None:
            _watch(author, feature)
        search_terms_add(texts=[text])
    if embed:
        revisions_embed(revisions=[revision])
    return explanation


def _append_revision(
    *, explanation: Explanation, author, text: str, rule: dict | None, message: str, base_revision_id: int | None
) -> ExplanationRevision:
    """The one way a revision is added: under a lock on the explanation row, so that two people saving at
    once produce two revisions in a line, and the second learns that it was editing an older text."""
    ensure_can_write(author)
    _ensure_explanations_open(explanation.feature, author)
    with transaction.atomic():
        locked = (
            Explanation.objects.select_for_update(of=("self",))
            .select_related("current_revision")
            .only("pk", "hidden", "current_revision")
            .get(pk=explanation.pk)
        )
        if locked.hidden and not author.is_staff:
            raise PermissionDenied("A moderator has hidden this explanation; it cannot be edited.")
        current = locked.current_revision
        if base_revision_id is not None and current is not None and current.pk != base_revision_id:
            raise ValidationError(
                "Someone else saved a new version while you were editing. Compare it with yours and save again.",
                code="edit_conflict",
            )
        if current is not None and current.text == text and current.rule == rule:
            raise ValidationError("That is the current version already; change something to save a revision.")
        revision = ExplanationRevision.objects.create(
            explanation_id=locked.pk, text=text, rule=rule, author=author, message=message[:300], previous=current
        )
        Explanation.objects.filter(pk=locked.pk).update(current_revision=revision, updated_at=timezone.now())
        feature_page_changed([explanation.feature_id])
        _watch(author, explanation.feature)
        search_terms_add(texts=[text])
    explanation.current_revision = revision
    return revision


def explanation_revise(
    *,
    explanation: Explanation,
    author,
    text: str,
    rule_text: str = "",
    message: str = "",
    base_revision_id: int | None = None,
    embed: bool = True,
) -> ExplanationRevision:
    """Save a new version. `base_revision_id` is the revision the editor started from, if known."""
    revision = _append_revision(
        explanation=explanation,
        author=author,
        text=_clean_text(text),
        rule=rule_from_text(rule_text),
        message=message,
        base_revision_id=base_revision_id,
    )
    if embed:
        revisions_embed(revisions=[revision])
    return revision


def explanation_revert(
    *, explanation: Explanation, revision: ExplanationRevision, author, message: str = ""
) -> ExplanationRevision:
    """Make an earlier revision's text and rule current again, as a new revision (history only grows)."""
    if revision.explanation_id != explanation.pk:
        raise ValidationError("That revision belongs to another explanation.")
    note = f"Reverted to revision {revision.pk}" + (f": {message}" if message else "")
    new_revision = _append_revision(
        explanation=explanation,
        author=author,
        text=revision.text,
        rule=revision.rule,
        message=note,
        base_revision_id=None,
    )
    existing = RevisionEmbedding.objects.filter(revision=revision).first()
    if existing is not None:  # same text, same vector
        RevisionEmbedding.objects.create(revision=new_revision, vector=existing.vector, encoder=existing.encoder)
    else:
        revisions_embed(revisions=[new_revision])
    return new_revision


def explanation_set_hidden(*, explanation: Explanation, moderator, hidden: bool) -> None:
    _ensure_staff(moderator)
    with transaction.atomic():
        Explanation.objects.filter(pk=explanation.pk).update(hidden=hidden)
        feature_page_changed([explanation.feature_id])
    explanation.hidden = hidden


# --- Votes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteOutcome:
    score: int  # the explanation's vote total afterwards
    value: int  # the user's vote afterwards: 1, -1, or 0 for none


def vote_cast(*, user, explanation: Explanation, value: int) -> VoteOutcome:
    """Set the user's vote on an explanation to +1, -1, or 0 (withdraw it).

    The explanation row is locked for the transaction, so concurrent votes on it queue up: each reads the
    vote it replaces and moves the total by the difference with an F() update, and the total stays equal to
    the sum of the Vote rows. The unique (user, explanation) constraint backs this up: a duplicate insert
    fails and is retried as a change of vote.
    """
    if value not in (-1, 0, 1):
        raise ValidationError("A vote is up (1), down (-1) or withdrawn (0).")
    ensure_can_write(user)
    with transaction.atomic():
        locked = Explanation.objects.select_for_update().only("pk", "hidden").get(pk=explanation.pk)
        if locked.hidden:
            raise PermissionDenied("A moderator has hidden this explanation; it cannot be voted on.")
        existing = Vote.objects.filter(user=user, explanation_id=locked.pk).first()
        old = existing.value if existing else 0
        if value != old:
            if value == 0:
                existing.delete()
            elif existing is not None:
                Vote.objects.filter(pk=existing.pk).update(value=value)
            else:
                try:
                    with transaction.atomic():
                        Vote.objects.create(user=user, explanation_id=locked.pk, value=value)
                except IntegrityError:
                    # Only possible where the row lock is not enforced; the other insert is the old vote.
                    old = Vote.objects.get(user=user, explanation_id=locked.pk).value
                    Vote.objects.filter(user=user, explanation_id=locked.pk).update(value=value)
            Explanation.objects.filter(pk=locked.pk).update(vote_score=F("vote_score") + (value - old))
            feature_page_changed([explanation.feature_id])
        score = Explanation.objects.values_list("vote_score", flat=True).get(pk=locked.pk)
    explanation.vote_score = score
    return VoteOutcome(score=score, value=value)


# --- Comments --------------------------------------------------------------------------------


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write something first."})
    if len(body) > MAX_COMMENT_LENGTH:
        raise ValidationError({"body": f"Keep a comment under {MAX_COMMENT_LENGTH:,} characters."})
    return body


def comment_edit_deadline(comment: Comment) -> datetime:
    return comment.created_at + timedelta(minutes=settings.WIKI_COMMENT_EDIT_MINUTES)


def comment_post(
    *, author, feature: Feature, body: str, parent: Comment | None = None, explanation: Explanation | None = None
) -> Comment:
    """A comment on a feature, optionally about one of its explanations, optionally a reply (to any depth).
    A reply belongs to its parent's feature and explanation."""
    body = _clean_body(body)
    ensure_can_write(author)
    if parent is not None:
        if parent.feature_id != feature.pk:
            raise ValidationError("You can only reply to a comment on the same feature.")
        if not parent.is_visible:
            raise ValidationError("That comment was deleted or hidden; it cannot be replied to.")
        explanation_id = parent.explanation_id
    else:
        explanation_id = explanation.pk if explanation is not None else None
        if explanation is not None and (explanation.feature_id != feature.pk or explanation.hidden):
            raise ValidationError("That explanation is not on this feature.")
    with transaction.atomic():
        comment = Comment.objects.create(
            feature=feature, author=author, body=body, parent=parent, explanation_id=explanation_id
        )
        _watch(author, feature)
        search_terms_add(texts=[body])
    return comment


def comment_can_edit(comment: Comment, user, *, now: datetime | None = None) -> bool:
    return (
        user is not None
        and user.is_authenticated
        and comment.author_id == user.pk
        and comment.is_visible
        and (now or timezone.now()) <= comment_edit_deadline(comment)
    )


def comment_edit(*, comment: Comment, user, body: str) -> Comment:
    """Authors change their own comments within WIKI_COMMENT_EDIT_MINUTES of posting them."""
    body = _clean_body(body)
    ensure_can_write(user)
    if comment.author_id != user.pk:
        raise PermissionDenied("You can only edit your own comments.")
    if not comment.is_visible:
        raise PermissionDenied("That comment was deleted or hidden; it cannot be edited.")
    if timezone.now() > comment_edit_deadline(comment):
        raise PermissionDenied(
            f"Comments can be edited for {settings.WIKI_COMMENT_EDIT_MINUTES} minutes after posting; "
            "reply to it instead."
        )
    comment.body = body
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "edited_at", "updated_at"])
    search_terms_add(texts=[body])
    return comment


def comment_delete(*, comment: Comment, user) -> Comment:
    """Authors delete their own comments. The comment stays as "[deleted]" so that its replies keep their
    place in the thread; its text stays in the database for the moderators."""
    if user is None or not user.is_authenticated or comment.author_id != user.pk:
        raise PermissionDenied("You can only delete your own comments.")
    if not comment.deleted:
        comment.deleted = True
        comment.save(update_fields=["deleted", "updated_at"])
    return comment


def comment_set_hidden(*, comment: Comment, moderator, hidden: bool) -> None:
    _ensure_staff(moderator)
    with transaction.atomic():
        Comment.objects.filter(pk=comment.pk).update(hidden=hidden, updated_at=timezone.now())
        feature_page_changed([comment.feature_id])
    comment.hidden = hidden


# --- Moderation ------------------------------------------------------------------------------


def report_create(
    *, reporter, reason: str, comment: Comment | None = None, explanation: Explanation | None = None
) -> Report:
    """Flag a comment or an explanation for the moderators. Reporting it again while the first report is
    open returns that report."""
    if (comment is None) == (explanation is None):
        raise ValidationError("Report one comment or one explanation.")
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError({"reason": "Say briefly what is wrong, so a moderator knows what to look for."})
    ensure_can_write(reporter)
    target = {"comment": comment} if comment is not None else {"explanation": explanation}
    existing = Report.objects.filter(reporter=reporter, status=Report.Status.OPEN, **target).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Report.objects.create(reporter=reporter, reason=reason[:500], **target)
    except IntegrityError:  # the same person reported it twice at once
        return Report.objects.get(reporter=reporter, status=Report.Status.OPEN, **target)


def report_resolve(*, report: Report, moderator, hide: bool) -> None:
    """Close a report: hide what it reports (closing every open report on the same thing), or dismiss it."""
    _ensure_staff(moderator)
    now = timezone.now()
    if hide:
        if report.comment_id:
            comment_set_hidden(comment=report.comment, moderator=moderator, hidden=True)
            same_target = Report.objects.filter(comment_id=report.comment_id)
        else:
            explanation_set_hidden(explanation=report.explanation, moderator=moderator, hidden=True)
            same_target = Report.objects.filter(explanation_id=report.explanation_id)
        same_target.filter(status=Report.Status.OPEN).update(
            status=Report.Status.HIDDEN, resolved_by=moderator, resolved_at=now
        )
    else:
        Report.objects.filter(pk=report.pk).update(
            status=Report.Status.DISMISSED, resolved_by=moderator, resolved_at=now
        )


def feature_lock(*, feature: Feature, moderator, reason: str = "") -> FeatureLock:
    _ensure_staff(moderator)
    lock, _ = FeatureLock.objects.get_or_create(
        feature=feature, defaults={"locked_by": moderator, "reason": reason[:300]}
    )
    return lock


def feature_unlock(*, feature: Feature, moderator) -> None:
    _ensure_staff(moderator)
    FeatureLock.objects.filter(feature=feature).delete()


# --- Bookmarks, watches, lists ---------------------------------------------------------------


def bookmark_set(*, user, feature: Feature, bookmarked: bool) -> bool:
    ensure_can_write(user)
    if bookmarked:
        Bookmark.objects.get_or_create(user=user, feature=feature)
    else:
        Bookmark.objects.filter(user=user, feature=feature).delete()
    return bookmarked


def watch_set(*, user, feature: Feature, watching: bool) -> bool:
    if user is None or not user.is_authenticated:
        raise PermissionDenied("Log in to watch features.")
    if watching:
        _watch(user, feature)
    else:
        Watch.objects.filter(user=user, feature=feature).delete()
    return watching


def _clean_list_fields(name: str, description: str) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Give the list a name."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    description = description.strip()
    if len(description) > 2000:
        raise ValidationError({"description": "Keep the description under 2,000 characters."})
    return name, description


def list_create(*, owner, name: str, description: str = "", is_public: bool = False) -> FeatureList:
    ensure_can_write(owner)
    name, description = _clean_list_fields(name, description)
    if FeatureList.objects.filter(owner=owner, name=name).exists():
        raise ValidationError({"name": f"You already have a list called {name!r}."})
    try:
        with transaction.atomic():
            return FeatureList.objects.create(owner=owner, name=name, description=description, is_public=is_public)
    except IntegrityError as error:
        raise ValidationError({"name": f"You already have a list called {name!r}."}) from error


def _ensure_list_owner(feature_list: FeatureList, user) -> None:
    ensure_can_write(user)
    if feature_list.owner_id != user.pk:
        raise PermissionDenied("Only the owner of a list can change it.")


def list_update(*, feature_list: FeatureList, user, name: str, description: str, is_public: bool) -> FeatureList:
    _ensure_list_owner(feature_list, user)
    name, description = _clean_list_fields(name, description)
    if FeatureList.objects.filter(owner=user, name=name).exclude(pk=feature_list.pk).exists():
        raise ValidationError({"name": f"You already have a list called {name!r}."})
    feature_list.name, feature_list.description, feature_list.is_public = name, description, is_public
    feature_list.save(update_fields=["name", "description", "is_public", "updated_at"])
    return feature_list


def list_delete(*, feature_list: FeatureList, user) -> None:
    _ensure_list_owner(feature_list, user)
    feature_list.delete()


def list_add_feature(*, feature_list: FeatureList, feature: Feature, user, note: str = "") -> FeatureListItem:
    """Add a feature (from any model) to one of the user's lists; adding it again updates its note."""
    _ensure_list_owner(feature_list, user)
    note = " ".join(note.split())
    if len(note) > 500:
        raise ValidationError({"note": "Keep the note under 500 characters."})
    with transaction.atomic():
        item, created = FeatureListItem.objects.get_or_create(
            feature_list=feature_list, feature=feature, defaults={"note": note}
        )
        if not created and note and note != item.note:
            item.note = note
            item.save(update_fields=["note"])
        FeatureList.objects.filter(pk=feature_list.pk).update(updated_at=timezone.now())
    return item


def list_remove_feature(*, feature_list: FeatureList, feature_id: int, user) -> None:
    _ensure_list_owner(feature_list, user)
    FeatureListItem.objects.filter(feature_list=feature_list, feature_id=feature_id).delete()
    FeatureList.objects.filter(pk=feature_list.pk).update(updated_at=timezone.now())
