"""Predict ("reverse imitation"): the player guesses a feature's activation at a marked token on a 0-10
scale, and a round is scored against the true values.

skill = 1 - SSE(guesses) / SSE(best constant guess)

The best constant guess in hindsight is the mean of the round's true values, so a player who always
answers 10, or always 0, or always the same anything, scores at most 0; a perfect player scores 1. Rounds
mix active windows with silent look-alikes, so both lazy strategies lose.
"""

import math
from collections.abc import Sequence

SCALE_MAX = 10.0
# The denominator never falls below this per item: a round whose true values are all equal (rare, as rounds
# mix active and silent windows) would otherwise divide by zero. One point squared per item keeps it sane.
MIN_VARIANCE_PER_ITEM = 1.0
# A round's skill is clipped below at this, so one wild round cannot sink an average.
SKILL_FLOOR = -1.0


def scale_to_ten(value: float, max_activation: float) -> float:
    """A raw activation on the 0-10 scale of the feature's maximum, clipped, to one decimal."""
    if not math.isfinite(value) or max_activation <= 0:
        return 0.0
    return round(min(SCALE_MAX, max(0.0, SCALE_MAX * value / max_activation)), 1)


def clean_guess(value: float | str) -> float:
    """A guess from a form: a number on the 0-10 scale (ValueError otherwise)."""
    guess = float(value)
    if not math.isfinite(guess) or not 0 <= guess <= SCALE_MAX:
        raise ValueError(f"A guess is a number from 0 to {SCALE_MAX:g}.")
    return guess


def squared_error(guesses: Sequence[float], truths: Sequence[float]) -> float:
    if len(guesses) != len(truths):
        raise ValueError(f"{len(guesses)} guesses for {len(truths)} true values")
    return float(sum((g - t) ** 2 for g, t in zip(guesses, truths, strict=True)))


def baseline_error(truths: Sequence[float]) -> float:
    """The squared error of the best constant guess (the mean), floored at MIN_VARIANCE_PER_ITEM per item."""
    if not truths:
        raise ValueError("a round needs at least one item")
    mean = sum(truths) / len(truths)
    spread = sum((t - mean) ** 2 for t in truths)
    return max(spread, MIN_VARIANCE_PER_ITEM * len(truths))


def predict_skill(guesses: Sequence[float], truths: Sequence[float]) -> float:
    """1 - SSE / SSE of the best constant guess, clipped below at SKILL_FLOOR; 1 is perfect, 0 is no better
    than always answering the round's average."""
    skill = 1.0 - squared_error(guesses, truths) / baseline_error(truths)
    return max(SKILL_FLOOR, skill)


def item_verdict(guess: float, truth: float) -> str:
    """How close one guess was, for the reveal and the shareable card: hit (within 1), near (within 3), miss."""
    error = abs(guess - truth)
    if error <= 1.0:
        return "hit"
    if error <= 3.0:
        return "near"
    return "miss"


GLYPHS = {"hit": "🟩", "near": "🟨", "miss": "🟥"}


def card_glyphs(guesses: Sequence[float], truths: Sequence[float]) -> str:
    """One square per item, as players paste into a chat: 🟩 within 1 point, 🟨 within 3, 🟥 further."""
    return "".join(GLYPHS[item_verdict(g, t)] for g, t in zip(guesses, truths, strict=True))
