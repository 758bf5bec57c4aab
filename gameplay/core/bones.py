"""Bones, the game's currency: earned only by scored play, spent in the shop.

A finished round pays its mode's base amount times its skill (clipped to [0, 1]), halved for every time
the player already played the same feature (replaying a feature you have memorised is worth less), and
never more than what is left of the daily cap.
"""

import math

BASE_BONES = {"camp-predict": 10, "camp-explain": 10, "predict": 20, "daily": 25, "explain": 30, "verify": 15}
REPLAY_DECAY = 0.5
DEFAULT_DAILY_CAP = 300


def replay_factor(replays: int) -> float:
    """1 for a feature's first round, 1/2 for the second, 1/4 for the third..."""
    if replays < 0:
        raise ValueError("replays cannot be negative")
    return REPLAY_DECAY**replays


def bones_for_round(
    *, mode: str, skill: float | None, replays: int, earned_today: int, daily_cap: int = DEFAULT_DAILY_CAP
) -> int:
    """Whole Bones a round earns; 0 for a round without skill or once the day's cap is reached."""
    if skill is None or not math.isfinite(skill):
        return 0
    raw = BASE_BONES[mode] * min(1.0, max(0.0, skill)) * replay_factor(replays)
    return max(0, min(math.floor(raw + 1e-9), daily_cap - earned_today))
