"""Reports and their resolution, and locking a feature's explanations."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from features.models import Feature

from ..models import (
    Comment,
    Explanation,
    FeatureLock,
    Report,
)
from .comments import comment_set_hidden
from .explanations import explanation_set_hidden
from .permissions import ensure_can_write, ensure_staff


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
    ensure_staff(moderator)
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
    ensure_staff(moderator)
    lock, _ = FeatureLock.objects.get_or_create(
        feature=feature, defaults={"locked_by": moderator, "reason": reason[:300]}
    )
    return lock


def feature_unlock(*, feature: Feature, moderator) -> None:
    ensure_staff(moderator)
    FeatureLock.objects.filter(feature=feature).delete()
