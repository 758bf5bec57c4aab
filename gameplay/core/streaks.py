"""Daily streaks. Playing the daily feature on consecutive days grows the streak; a missed day is covered
by a streak freeze if the player has one (used up automatically, one per missed day), otherwise the streak
starts again at 1."""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class StreakUpdate:
    streak: int
    freezes: int  # left afterwards
    freezes_used: int


def streak_after_play(*, last_played: date | None, today: date, streak: int, freezes: int) -> StreakUpdate:
    if last_played is None or streak <= 0:
        return StreakUpdate(streak=1, freezes=freezes, freezes_used=0)
    gap = (today - last_played).days
    if gap <= 0:  # already played today (or a clock went back): nothing changes
        return StreakUpdate(streak=streak, freezes=freezes, freezes_used=0)
    missed = gap - 1
    if missed == 0:
        return StreakUpdate(streak=streak + 1, freezes=freezes, freezes_used=0)
    if missed <= freezes:
        return StreakUpdate(streak=streak + 1, freezes=freezes - missed, freezes_used=missed)
    return StreakUpdate(streak=1, freezes=freezes, freezes_used=0)


def streak_alive(*, last_played: date | None, today: date, streak: int, freezes: int) -> int:
    """The streak as it stands today (before playing): still alive if every missed day can be frozen."""
    if last_played is None or streak <= 0:
        return 0
    missed = (today - last_played).days - 1
    return streak if missed <= freezes else 0
