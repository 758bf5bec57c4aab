"""Comments on a feature or an explanation: post, reply, edit within the edit window, delete, hide."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from features.models import Feature
from features.services.page_versions import feature_page_changed

from ..models import (
    Comment,
    Explanation,
)
from .explanations import search_terms_add
from .lists import watch_add
from .permissions import ensure_can_write, ensure_staff

MAX_COMMENT_LENGTH = 10_000


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
        watch_add(author, feature)
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
    ensure_staff(moderator)
    with transaction.atomic():
        Comment.objects.filter(pk=comment.pk).update(hidden=hidden, updated_at=timezone.now())
        feature_page_changed([comment.feature_id])
    comment.hidden = hidden
