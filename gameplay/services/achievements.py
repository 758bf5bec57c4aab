"""Achievements: each one the player's stats now meet is awarded once, with its Bones bonus."""

from ..core.achievements import Achievement, newly_earned
from ..models import EarnedAchievement, LedgerEntry
from ..selectors import player_stats
from .ledger import ledger_grant


def achievements_check(*, user) -> list[Achievement]:
    """Award every achievement the player's stats now meet, with its Bones bonus (once each)."""
    already = set(EarnedAchievement.objects.filter(user=user).values_list("slug", flat=True))
    earned = []
    for achievement in newly_earned(player_stats(user=user), already):
        _, created = EarnedAchievement.objects.get_or_create(user=user, slug=achievement.slug)
        if not created:
            continue
        earned.append(achievement)
        if achievement.bones:
            ledger_grant(
                user=user, amount=achievement.bones, reason=LedgerEntry.Reason.ACHIEVEMENT,
                key=f"achievement:{user.pk}:{achievement.slug}", memo=achievement.name,
            )  # fmt: skip
    return earned
