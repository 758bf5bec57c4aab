"""Votes on explanations: one per person, changed or withdrawn, with the explanation's total kept exact."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from features.services.page_versions import feature_page_changed

from ..models import Explanation, Vote
from .permissions import ensure_can_write


@dataclass(frozen=True)
class VoteOutcome:
    score: int  # the explanation's vote total afterwards
    value: int  # the user's vote afterwards: 1, -1, or 0 for none


def vote_cast(*, user, explanation: Explanation, value: int) -> VoteOutcome:
    """Set the user's vote on an explanation's current text to +1, -1, or 0 (withdraw it).

    Nobody votes on their own explanation: not its creator, and not the author of its current text.

    A vote belongs to the revision it was cast on. It counts towards the explanation's vote_score while that
    revision is at or after the current text's `votes_from` (a substantive edit by someone else starts the
    count again); an older vote is shown apart until its voter votes again, which moves it to the current text.

    The explanation row is locked for the transaction, so concurrent votes on it queue up: each reads the
    vote it replaces and moves the total by the difference with an F() update, and the total stays equal to
    the sum of the counted Vote rows. The unique (user, explanation) constraint backs this up: a duplicate
    insert fails and is retried as a change of vote.
    """
    if value not in (-1, 0, 1):
        raise ValidationError("A vote is up (1), down (-1) or withdrawn (0).")
    ensure_can_write(user)
    with transaction.atomic():
        locked = (
            Explanation.objects.select_for_update(of=("self",))
            .select_related("current_revision")
            .only("pk", "hidden", "author_id", "current_revision__author_id", "current_revision__votes_from_id")
            .get(pk=explanation.pk)
        )
        if locked.hidden:
            raise PermissionDenied("A moderator has hidden this explanation; it cannot be voted on.")
        current = locked.current_revision
        if user.pk == locked.author_id or (current is not None and user.pk == current.author_id):
            raise PermissionDenied("You wrote this explanation: others vote on it, not its authors.")
        existing = Vote.objects.filter(user=user, explanation_id=locked.pk).first()
        old = existing.value if existing is not None and existing.counts_for(current) else 0
        revision_id = current.pk if current is not None else None
        if value == 0:
            if existing is not None:
                existing.delete()
        elif existing is not None:
            Vote.objects.filter(pk=existing.pk).update(value=value, revision_id=revision_id)
        else:
            try:
                with transaction.atomic():
                    Vote.objects.create(user=user, explanation_id=locked.pk, value=value, revision_id=revision_id)
            except IntegrityError:
                # Only possible where the row lock is not enforced; the other insert is the old vote.
                other = Vote.objects.get(user=user, explanation_id=locked.pk)
                old = other.value if other.counts_for(current) else 0
                Vote.objects.filter(pk=other.pk).update(value=value, revision_id=revision_id)
        if value != old or existing is not None:
            Explanation.objects.filter(pk=locked.pk).update(vote_score=F("vote_score") + (value - old))
            feature_page_changed([explanation.feature_id])
        score = Explanation.objects.values_list("vote_score", flat=True).get(pk=locked.pk)
    explanation.vote_score = score
    return VoteOutcome(score=score, value=value)
