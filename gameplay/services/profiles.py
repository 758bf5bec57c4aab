"""A player's profile: created on first use, locked for every change to a balance, a streak or an
inventory, and what the training camp has unlocked."""

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from ..conf import game_setting
from ..core import camp
from ..models import PlayerProfile
from ..selectors import camp_progress_of


def profile_for(*, user) -> PlayerProfile:
    profile = PlayerProfile.objects.filter(user=user).first()
    if profile is not None:
        return profile
    try:
        with transaction.atomic():
            return PlayerProfile.objects.create(user=user)
    except IntegrityError:  # created by a concurrent request
        return PlayerProfile.objects.get(user=user)


def profile_lock(*, user) -> PlayerProfile:
    """The player's profile, locked until the end of the current transaction: the one lock every change to
    a balance, a streak or an inventory takes."""
    profile_for(user=user)
    return PlayerProfile.objects.select_for_update().get(user=user)


def ensure_real_features_unlocked(*, user) -> PlayerProfile:
    profile = profile_for(user=user)
    if not profile.camp_graduated:
        raise PermissionDenied(
            "Real features unlock when your training camp skill reaches "
            f"{game_setting('GAME_UNLOCK_CAMP_SKILL'):.0%}. Play the training camp first."
        )
    return profile


def ensure_camp_rung_open(*, user, rung: camp.Rung) -> None:
    if rung.slug not in camp_progress_of(profile=profile_for(user=user)).open_rungs:
        raise PermissionDenied(f"Pass the rung before {rung.title!r} first: the camp opens one rung at a time.")
