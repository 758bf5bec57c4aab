"""Who may write on the wiki: signed in and not banned, a feature's explanations not locked, moderators."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import user_is_banned
from features.models import Feature

from ..models import Explanation, FeatureLock


def ensure_can_write(user) -> None:
    if user is None or not user.is_authenticated:
        raise PermissionDenied("Log in to write on the wiki.")
    if user_is_banned(user):
        raise PermissionDenied("Your account is banned from writing on the wiki.")


def feature_is_locked(feature: Feature) -> bool:
    return FeatureLock.objects.filter(feature=feature).exists()


def ensure_explanations_open(feature: Feature, user) -> None:
    if user is not None and user.is_staff:
        return
    lock = FeatureLock.objects.filter(feature=feature).first()
    if lock is not None:
        reason = f" ({lock.reason})" if lock.reason else ""
        raise PermissionDenied(f"A moderator has locked the explanations of {feature}{reason}.")


def ensure_staff(user) -> None:
    if user is None or not user.is_authenticated or not user.is_staff:
        raise PermissionDenied("Only moderators can do that.")


def ensure_can_replace_text(user, explanation: Explanation) -> None:
    """Replacing the text of someone else's explanation (editing or reverting it) takes an established account:
    WIKI_NEW_ACCOUNT_DAYS old, with an accepted contribution (an explanation of theirs others voted up) where
    WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION. A new account can still add its own explanation, or comment."""
    if user.is_staff or (explanation.author_id is not None and explanation.author_id == user.pk):
        return
    days = settings.WIKI_NEW_ACCOUNT_DAYS
    young = user.date_joined > timezone.now() - timedelta(days=days)
    unproven = settings.WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION and not has_accepted_contribution(user)
    if young or unproven:
        raise PermissionDenied(
            f"New accounts cannot replace someone else's explanation yet (that takes an account {days} days old "
            "with an explanation others voted up). Add your own explanation, or say what you would change in a "
            "comment."
        )


def has_accepted_contribution(user) -> bool:
    """Whether the person wrote an explanation (its current text) that others voted up and no moderator hid."""
    return Explanation.objects.visible().filter(current_revision__author=user, vote_score__gt=0).exists()
