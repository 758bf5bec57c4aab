"""Who may write on the wiki: signed in and not banned, a feature's explanations not locked, moderators."""

from django.core.exceptions import PermissionDenied

from accounts.models import user_is_banned
from features.models import Feature

from ..models import (
    FeatureLock,
)


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
