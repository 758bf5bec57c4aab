"""The game's pure core on known inputs: no database, no Django."""

import math
import random
from datetime import date
from pathlib import Path

import pytest

from gameplay.core import camp
from gameplay.core.achievements import ACHIEVEMENTS, PlayerStats, newly_earned
from gameplay.core.bones import bones_for_round, replay_factor
from gameplay.core.cards import HeldOutWindow, choose_cards, is_mixed, predict_mix, verify_mix
from gameplay.core.daily import daily_index, daily_pick
from gameplay.core.explain import score_explain_answer
from gameplay.core.predict import baseline_error, card_glyphs, clean_guess, item_verdict, predict_skill, scale_to_ten
from gameplay.core.progression import explain_skill, level_for_xp, level_progress, xp_for_level, xp_for_round
from gameplay.core.reliability import Verdict, counted_verdicts, gold_accuracy, human_score, verifier_weight
from gameplay.core.streaks import streak_after_play, streak_alive
from scoring.core.errors import ScoringInputError

ROOT = Path(__file__).resolve().parents[2]


# That gameplay/core imports no Django is checked with every other pure package in tests/test_pure_cores.py.


# --- Predict ------------------------------------------------------------------------------------


def test_skill_on_a_known_round():
    truths = [10, 0, 0, 5]  # mean 3.75, squared error of the mean: 39.0625 + 14.0625 * 2 + 1.5625 = 68.75
    guesses = [8, 1, 0, 5]  # squared error 4 + 1 = 5
    assert baseline_error(truths) == pytest.approx(68.75)
    assert predict_skill(guesses, truths) == pytest.approx(1 - 5 / 68.75)


def test_perfect_guesses_score_one_and_the_mean_scores_zero():
    truths = [9.5, 0, 0, 3, 7, 0]
    assert predict_skill(truths, truths) == 1
    mean = sum(truths) / len(truths)
    assert predict_skill([mean] * 6, truths) == pytest.approx(0)


@pytest.mark.parametrize("constant", [0, 10, 5])
def test_any_constant_guess_scores_at_most_zero(constant):
    truths = [8, 7.5, 9, 0, 0, 0, 3, 0, 6, 0]
    assert predict_skill([constant] * 10, truths) <= 0


def test_a_round_of_equal_truths_does_not_divide_by_zero_and_wild_rounds_are_floored():
    assert predict_skill([0, 0, 0], [0, 0, 0]) == 1
    assert predict_skill([1, 1, 1], [0, 0, 0]) == 0  # 3 / max(0, 3 x 1)
    assert predict_skill([10, 10, 10], [0, 0, 0]) == -1


def test_activations_scale_to_ten_by_the_features_maximum():
    assert scale_to_ten(0.85, 1.7) == 5.0
    assert scale_to_ten(3.0, 1.7) == 10.0
    assert scale_to_ten(-0.2, 1.7) == 0.0
    assert scale_to_ten(1.0, 0.0) == 0.0
    assert scale_to_ten(float("nan"), 1.0) == 0.0


def test_guesses_must_be_on_the_scale():
    assert clean_guess("7.5") == 7.5
    for bad in ("11", "-1", "nan", "inf", "cat"):
        with pytest.raises(ValueError):
            clean_guess(bad)


def test_card_glyphs_grade_each_guess():
    assert [item_verdict(g, t) for g, t in [(5, 5.9), (5, 7.5), (5, 9)]] == ["hit", "near", "miss"]
    assert card_glyphs([1, 5, 0], [1.5, 8, 9]) == "🟩🟨🟥"


# --- XP, levels, Bones --------------------------------------------------------------------------


def test_the_level_curve():
    assert [xp_for_level(level) for level in (1, 2, 3, 4, 5, 10)] == [0, 100, 300, 600, 1000, 4500]
    assert [level_for_xp(xp) for xp in (0, 99, 100, 299, 300, 999, 1000, 4500)] == [1, 1, 2, 2, 3, 4, 5, 10]
    progress = level_progress(400)
    assert (progress.level, progress.level_start, progress.next_level_at, progress.to_next) == (3, 300, 600, 200)
    assert progress.percent == 33


def test_xp_comes_from_skill_only():
    assert xp_for_round("predict", 0.73) == 73
    assert xp_for_round("predict", -0.5) == 0
    assert xp_for_round("predict", 1.5) == 100
    assert xp_for_round("verify", None) == 0
    assert explain_skill(0.5) == 0 and explain_skill(0.85) == pytest.approx(0.7) and explain_skill(1.0) == 1


def test_bones_pay_skill_halve_on_replays_and_stop_at_the_cap():
    assert [replay_factor(n) for n in range(4)] == [1, 0.5, 0.25, 0.125]
    assert bones_for_round(mode="predict", skill=1.0, replays=0, earned_today=0) == 20
    assert bones_for_round(mode="predict", skill=0.8, replays=1, earned_today=0) == 8
    assert bones_for_round(mode="predict", skill=0.8, replays=0, earned_today=295, daily_cap=300) == 5
    assert bones_for_round(mode="predict", skill=0.8, replays=0, earned_today=300, daily_cap=300) == 0
    assert bones_for_round(mode="predict", skill=-0.3, replays=0, earned_today=0) == 0
    assert bones_for_round(mode="verify", skill=None, replays=0, earned_today=0) == 0


# --- Reliability and the human score ------------------------------------------------------------


def test_reliability_is_the_beta_posterior_mean_and_weights_ignore_chance_and_adversaries():
    assert gold_accuracy(0, 0) == 0.5 and verifier_weight(0, 0) == 0  # no gold yet: no weight
    assert gold_accuracy(9, 10) == pytest.approx(10 / 12)
    assert verifier_weight(9, 10) == pytest.approx(2 * 10 / 12 - 1)
    assert verifier_weight(5, 10) == 0  # chance
    assert verifier_weight(0, 10) == 0  # adversarial: clipped, never negative
    with pytest.raises(ValueError):
        gold_accuracy(3, 2)


def test_the_gold_weighted_human_score_on_a_constructed_case():
    # Two active and two silent cards. A reliable verifier (weight 0.8) reads them all right except one
    # silent card; an adversary (weight 0) answers the opposite everywhere; a so-so one (0.2) says "fits" on all.
    truth = [True, True, False, False]
    verdicts = [
        *(Verdict("reliable", says, label, 0.8) for says, label in zip([True, True, False, True], truth, strict=True)),
        *(Verdict("adversary", not label, label, 0.0) for label in truth),
        *(Verdict("soso", True, label, 0.2) for label in truth),
    ]
    result = human_score("the word cat after a colour", verdicts)
    # Active cards: weighted "fits" = (0.8 + 0.8 + 0.2 + 0.2) / (2 x 1.0) = 1. Silent cards: weighted "does
    # not fit" = 0.8 / 2.0 = 0.4. Balanced: (1 + 0.4) / 2 = 0.7.
    assert result.scorer == "human"
    assert result.value == pytest.approx(0.7)
    assert result.details["true_positive_rate"] == 1.0
    assert result.details["true_negative_rate"] == 0.4
    assert result.details["n_verifiers"] == 3 and result.details["n_cards"] == 12
    unweighted = human_score("x", [Verdict(v.verifier, v.says_fits, v.label, 1.0) for v in verdicts])
    # Without weights the adversary counts: active (2 + 0 + 2) / 6, silent (1 + 0 + 0) / 6
    assert unweighted.value == pytest.approx((4 / 6 + 1 / 6) / 2)


def test_a_verifier_counts_once_however_many_rounds_they_play():
    # Two equally reliable verifiers: one says "fits" everywhere once; the other reads every card right, in
    # one round or in five. Five rounds move the score no more than one does.
    truth = [True, True, False, False]
    careless = [Verdict("careless", True, label, 0.9, card=("c", n)) for n, label in enumerate(truth)]

    def rounds(count: int) -> list[Verdict]:
        return [
            Verdict("keen", label, label, 0.9, card=(f"r{r}", n)) for r in range(count) for n, label in enumerate(truth)
        ]

    once = human_score("x", careless + rounds(1))
    five = human_score("x", careless + rounds(5))
    assert once.value == pytest.approx((1 + 0.5) / 2)
    assert five.value == pytest.approx(once.value)
    assert five.details["n_cards"] == 24 and five.details["n_verifiers"] == 2
    # Counted without the cap, the keen verifier would have had five votes on each silent card to one.
    assert (1 + 5 / 6) / 2 > five.value


def test_only_a_verifiers_latest_verdict_on_a_card_counts():
    first = Verdict("v", True, False, 1.0, card=(7, 3))
    other = Verdict("v", True, True, 1.0, card=(8, 1))
    changed_mind = Verdict("v", False, False, 1.0, card=(7, 3))
    someone_else = Verdict("w", True, False, 1.0, card=(7, 3))

    counted = counted_verdicts([first, other, changed_mind, someone_else])

    assert [(v.verifier, v.card, v.says_fits) for v in counted] == [("v", (8, 1), True), ("v", (7, 3), False),
                                                                    ("w", (7, 3), True)]  # fmt: skip
    assert human_score("x", [first, other, changed_mind]).value == 1.0
    # Weight is shared among a verifier's verdicts of one class: each verifier's total is their weight.
    spread = counted_verdicts([Verdict("v", True, True, 0.6, card=n) for n in range(3)])
    assert sum(v.weight for v in spread) == pytest.approx(0.6)


def test_a_human_score_needs_some_weight():
    with pytest.raises(ScoringInputError):
        human_score("x", [Verdict("new", True, True, 0.0)])
    with pytest.raises(ScoringInputError):
        human_score("x", [])


# --- Streaks and the daily pick ---------------------------------------------------------------------


def test_streaks_grow_on_consecutive_days_use_freezes_and_reset():
    d = date(2025, 3, 10)
    assert streak_after_play(last_played=None, today=d, streak=0, freezes=0).streak == 1
    assert streak_after_play(last_played=date(2025, 3, 9), today=d, streak=4, freezes=0).streak == 5
    frozen = streak_after_play(last_played=date(2025, 3, 7), today=d, streak=4, freezes=3)
    assert (frozen.streak, frozen.freezes, frozen.freezes_used) == (5, 1, 2)
    broken = streak_after_play(last_played=date(2025, 3, 7), today=d, streak=4, freezes=1)
    assert (broken.streak, broken.freezes) == (1, 1)
    assert streak_after_play(last_played=d, today=d, streak=4, freezes=0).streak == 4
    assert streak_alive(last_played=date(2025, 3, 8), today=d, streak=4, freezes=0) == 0
    assert streak_alive(last_played=date(2025, 3, 8), today=d, streak=4, freezes=1) == 4


def test_the_daily_pick_is_deterministic_and_spreads_over_the_candidates():
    day = date(2025, 1, 1)
    assert daily_index(day, 100) == daily_index(day, 100)
    assert daily_pick(day, [10, 20, 30]) == daily_pick(day, [10, 20, 30])
    picks = {daily_index(date(2025, 1, 1).replace(day=d), 7) for d in range(1, 29)}
    assert len(picks) >= 5


# --- Achievements ------------------------------------------------------------------------------


def test_achievements_are_earned_once_when_their_condition_is_met():
    stats = PlayerStats(predict_rounds=10, best_predict_skill=0.85, verify_cards=60, reliability=0.9, best_streak=7)
    earned = {a.slug for a in newly_earned(stats, set())}
    assert {"first-predict", "ten-rounds", "sharp-eye", "verifier-50", "streak-7"} <= earned
    assert "explainer" not in earned
    assert not newly_earned(stats, {a.slug for a in ACHIEVEMENTS})
    assert "verifier-50" not in {a.slug for a in newly_earned(PlayerStats(verify_cards=60, reliability=0.8), set())}


def test_only_milestones_of_skill_pay_bones():
    paying = {a.slug for a in ACHIEVEMENTS if a.bones}
    assert paying == {"graduate", "sharp-eye", "explainer", "verifier-50", "level-5"}


# --- The training camp -------------------------------------------------------------------------------


@pytest.mark.parametrize("rung", camp.RUNGS, ids=lambda rung: rung.slug)
def test_camp_items_follow_the_planted_rule(rung):
    items = camp.rung_items(rung, seed=7)
    assert sorted(item.kind for item in items) == sorted(
        kind for kind, count in camp.ROUND_MIX.items() for _ in range(count)
    )
    for item in items:
        assert (item.value > 0) == rung.rule.fires(item.tokens, item.marked)
        assert all((v > 0) == rung.rule.fires(item.tokens, i) for i, v in enumerate(item.activations))
        assert (item.kind == "positive") == item.label
        if item.kind == "lookalike":
            assert item.tokens[item.marked] in rung.key_words
    assert camp.rung_items(rung, seed=7) == items  # a seed rebuilds the round


@pytest.mark.parametrize("rung", camp.RUNGS[1:], ids=lambda rung: rung.slug)
def test_camp_explain_scores_the_planted_rule_above_the_context_blind_reading(rung):
    examples = camp.rung_example_set(rung)
    right = score_explain_answer(rung.explanation, examples)
    blind = score_explain_answer(rung.rule.blind_explanation, examples)

    assert right.headline == 1.0 and not right.misses
    assert blind.headline < 0.85
    assert explain_skill(blind.headline) < camp.RUNG_PASS <= explain_skill(right.headline)
    assert any(miss.kind == "hard_negative" for miss in blind.misses)


def test_camp_progress_opens_rungs_in_order_and_graduates_on_the_mean():
    slugs = [rung.slug for rung in camp.RUNGS]
    fresh = camp.camp_progress({}, unlock_skill=0.5)
    assert fresh.open_rungs == (slugs[0],) and not fresh.graduated and fresh.skill == 0
    two = camp.camp_progress({slugs[0]: 0.9, slugs[1]: 0.7}, unlock_skill=0.5)
    assert two.open_rungs == tuple(slugs[:3]) and two.passed == tuple(slugs[:2])
    assert two.skill == pytest.approx(1.6 / 5) and not two.graduated
    done = camp.camp_progress({slug: 0.8 for slug in slugs[:4]}, unlock_skill=0.5)
    assert done.graduated and math.isclose(done.skill, 3.2 / 5)


def test_gold_cards_can_be_made_for_every_rung_and_kind():
    rng = random.Random(3)
    for rung in camp.RUNGS:
        for kind in ("positive", "lookalike", "context", "filler"):
            item = camp.make_item(rung, kind, rng)
            assert item.label == (kind == "positive")


# --- Held-out cards for real features ----------------------------------------------------------------


def _held_out(text: str, values: list[float]) -> HeldOutWindow:
    tokens = ["[CLS]", *text.split(), "[SEP]"]
    return HeldOutWindow(tokens=tokens, values=[0.0, *values, 0.0], content=[False] + [True] * len(values) + [False])


POOL = [
    _held_out("black cat sat", [0.0, 9.0, 0.0]),
    _held_out("white cat ran", [0.0, 8.0, 0.5]),
    _held_out("grey cat slept", [0.0, 6.0, 0.0]),
    _held_out("tabby cat came", [0.0, 4.0, 0.0]),
    _held_out("red cat and tan cat", [0.0, 3.0, 0.0, 0.0, 2.0]),
    _held_out("brown cat purrs", [0.0, 2.5, 0.0]),
    _held_out("the cat ran", [0.0, 0.0, 0.0]),
    _held_out("a cat sat", [0.0, 0.0, 0.0]),
    _held_out("dogs bark loudly", [0.0, 0.0, 0.0]),
    _held_out("rain fell today", [0.0, 0.0, 0.0]),
    _held_out("sun rose early", [0.0, 0.0, 0.0]),
]


def test_a_predict_round_mixes_high_mid_lookalike_and_silent_tokens_one_per_window():
    for seed in range(20):
        cards = choose_cards(POOL, mix=predict_mix(10), maximum=10.0, keys={"cat"}, rng=random.Random(seed))
        kinds = [card.kind for card in cards]
        assert len(cards) == 10 and len({card.window for card in cards}) == 10
        assert (kinds.count("high"), kinds.count("mid"), kinds.count("lookalike"), kinds.count("silent")) == (
            3,
            3,
            2,
            2,
        )
        values = {card.kind: [] for card in cards}
        for card in cards:
            window = POOL[card.window]
            assert window.content[card.marked]  # never a special token
            values[card.kind].append(window.values[card.marked])
        assert sorted(values["high"]) == [6.0, 8.0, 9.0]  # the strongest windows, at their peaks
        assert all(1.0 < value < 5.0 for value in values["mid"])
        assert values["lookalike"] == [0.0, 0.0] and values["silent"] == [0.0, 0.0]
        assert all(POOL[c.window].tokens[c.marked] == "cat" for c in cards if c.kind == "lookalike")
        assert all(POOL[c.window].tokens[c.marked] != "cat" for c in cards if c.kind == "silent")
        assert is_mixed(kinds, min_active=2, min_silent=2)


def test_missing_kinds_are_filled_by_their_neighbours_and_an_unmixed_pool_is_told_apart():
    no_lookalikes = choose_cards(POOL, mix=predict_mix(10), maximum=10.0, keys=set(), rng=random.Random(0))
    assert [card.kind for card in no_lookalikes].count("silent") == 4  # silent tokens fill in for look-alikes
    verify = choose_cards(POOL, mix=verify_mix(4, 4), maximum=10.0, keys={"cat"}, rng=random.Random(0))
    kinds = [card.kind for card in verify]
    assert (kinds.count("high"), kinds.count("mid"), kinds.count("lookalike"), kinds.count("silent")) == (2, 2, 2, 2)
    silent_only = choose_cards(POOL[6:], mix=predict_mix(10), maximum=10.0, keys={"cat"}, rng=random.Random(0))
    assert silent_only and not is_mixed([card.kind for card in silent_only])
    blank = choose_cards(POOL, mix=predict_mix(10), maximum=0.0, keys={"cat"}, rng=random.Random(0))
    assert not is_mixed([card.kind for card in blank])  # a feature with no maximum has nothing active
