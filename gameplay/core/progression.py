"""XP and levels. XP comes only from skill (how well a round went, never how many were played at a loss)
and is never spent; levels follow from total XP on a quadratic curve, so each level takes a little longer.

Level L starts at 50 L (L - 1) XP: level 1 at 0, 2 at 100, 3 at 300, 4 at 600, 5 at 1,000, 10 at 4,500.
"""

import math
from dataclasses import dataclass

XP_STEP = 50
# XP for a round played perfectly; a round earns this times its skill (clipped at 0).
XP_PER_ROUND = {"camp-predict": 40, "camp-explain": 40, "predict": 100, "daily": 100, "explain": 100, "verify": 60}


def xp_for_level(level: int) -> int:
    """Total XP at which `level` starts."""
    if level < 1:
        raise ValueError("levels start at 1")
    return XP_STEP * level * (level - 1)


def level_for_xp(xp: int) -> int:
    """The level a total of `xp` reaches: the largest L with 50 L (L - 1) <= xp."""
    if xp <= 0:
        return 1
    level = int((1 + math.sqrt(1 + 4 * xp / XP_STEP)) / 2)
    # Guard against floating-point rounding at the boundaries.
    while xp_for_level(level + 1) <= xp:
        level += 1
    while level > 1 and xp_for_level(level) > xp:
        level -= 1
    return level


@dataclass(frozen=True)
class LevelProgress:
    level: int
    xp: int
    level_start: int
    next_level_at: int

    @property
    def fraction(self) -> float:
        span = self.next_level_at - self.level_start
        return (self.xp - self.level_start) / span if span else 0.0

    @property
    def percent(self) -> int:
        return int(100 * self.fraction)

    @property
    def to_next(self) -> int:
        return self.next_level_at - self.xp


def level_progress(xp: int) -> LevelProgress:
    level = level_for_xp(xp)
    return LevelProgress(level=level, xp=xp, level_start=xp_for_level(level), next_level_at=xp_for_level(level + 1))


def xp_for_round(mode: str, skill: float | None) -> int:
    """XP a finished round earns: its mode's full amount times its skill, clipped to [0, 1]."""
    if skill is None or not math.isfinite(skill):
        return 0
    return round(XP_PER_ROUND[mode] * min(1.0, max(0.0, skill)))


def explain_skill(score: float) -> float:
    """An explanation's score (balanced accuracy, 0.5 = chance) as a skill: 0 at chance, 1 when perfect."""
    return max(0.0, min(1.0, 2.0 * (score - 0.5)))
