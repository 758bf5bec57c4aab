"""Achievements: milestones with a name, a line of description and a Bones bonus. Each is earned once,
when the player's stats first meet its condition. Only milestones of skill pay Bones (playing a lot, or
shopping, earns the badge alone), so every Bone still comes from play scored against the truth."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PlayerStats:
    predict_rounds: int = 0  # finished Predict and daily rounds on real features
    camp_rounds: int = 0
    best_predict_skill: float | None = None
    best_explain_score: float | None = None
    explanations: int = 0  # explanations written in Explain mode
    best_streak: int = 0
    verify_cards: int = 0
    reliability: float = 0.5  # posterior mean of gold accuracy
    camp_graduated: bool = False
    purchases: int = 0
    level: int = 1


@dataclass(frozen=True)
class Achievement:
    slug: str
    name: str
    description: str
    earned: Callable[[PlayerStats], bool]
    bones: int = 0


ACHIEVEMENTS: tuple[Achievement, ...] = (
    Achievement("first-camp", "Recruit", "Finish a training camp round.", lambda s: s.camp_rounds >= 1),
    Achievement(
        "graduate", "Graduate", "Pass the training camp and unlock real features.", lambda s: s.camp_graduated, 25
    ),
    Achievement(
        "first-predict", "First guess", "Finish a Predict round on a real feature.", lambda s: s.predict_rounds >= 1
    ),
    Achievement("ten-rounds", "Regular", "Finish 10 Predict rounds.", lambda s: s.predict_rounds >= 10),
    Achievement(
        "sharp-eye",
        "Sharp eye",
        "Score a skill of 0.8 or more in a Predict round.",
        lambda s: s.best_predict_skill is not None and s.best_predict_skill >= 0.8,
        20,
    ),
    Achievement(
        "explainer",
        "Explainer",
        "Write an explanation that scores 0.7 or more.",
        lambda s: s.best_explain_score is not None and s.best_explain_score >= 0.7,
        25,
    ),
    Achievement("streak-7", "Week streak", "Play the daily feature 7 days in a row.", lambda s: s.best_streak >= 7),
    Achievement(
        "verifier-50",
        "Trusted verifier",
        "Verify 50 cards with a reliability above 0.8.",
        lambda s: s.verify_cards >= 50 and s.reliability > 0.8,
        50,
    ),
    Achievement("shopper", "Dressed up", "Buy something in the shop.", lambda s: s.purchases >= 1, 0),
    Achievement("level-5", "Level 5", "Reach level 5.", lambda s: s.level >= 5, 25),
)
BY_SLUG = {achievement.slug: achievement for achievement in ACHIEVEMENTS}


def newly_earned(stats: PlayerStats, already: set[str]) -> list[Achievement]:
    return [a for a in ACHIEVEMENTS if a.slug not in already and a.earned(stats)]
