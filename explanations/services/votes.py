"""Votes on explanations: one per person, changed or withdrawn, with the explanation's total kept exact."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from features.services.page_versions import feature_page_changed

from ..models import (
    Explanation,
    Vote,
)
from .permissions import ensure_can_write


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
