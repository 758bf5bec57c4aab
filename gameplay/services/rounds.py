"""Rounds of cards: building one (its items and their truth, written when it starts), answering a card,
finishing a round (scored and paid once, with what follows from it), and hints. The rounds of each mode are
started in predict.py and verify.py; Explain answers are rounds finished at once (explain.py)."""

import logging
import random
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from explanations.models import Explanation
from features.inference import InferenceInputError
from features.models import Feature

from .. import items as feature_items
from ..conf import game_setting
from ..core import camp
from ..core.bones import bones_for_round
from ..core.predict import SCALE_MAX, clean_guess, predict_skill, scale_to_ten
from ..core.progression import explain_skill, xp_for_round
from ..core.reliability import verifier_weight
from ..core.streaks import streak_after_play
from ..models import Answer, LedgerEntry, PlayerProfile, Round, RoundItem
from ..selectors import bones_earned_by_play_today, verifier_judged_explanations
from .achievements import achievements_check
from .human_scores import human_scores_update
from .ledger import ledger_append
from .profiles import profile_lock

logger = logging.getLogger(__name__)

Mode = Round.Mode


# --- Building a round ------------------------------------------------------------------------------


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def round_create(*, user, mode: str, items: list[RoundItem], **fields) -> Round:
    with transaction.atomic():
        round_obj = Round.objects.create(user=user, mode=mode, **fields)
        for position, item in enumerate(items):
            item.round = round_obj
            item.position = position
        RoundItem.objects.bulk_create(items)
    return round_obj


def synthetic_item(item: camp.SyntheticItem, **fields) -> RoundItem:
    return RoundItem(
        tokens=list(item.tokens),
        marked=item.marked,
        truth=item.value,
        values=list(item.activations),
        kind=item.kind,
        label=item.label,
        **fields,
    )


def real_item(candidate: feature_items.Candidate, feature: Feature, **fields) -> RoundItem:
    maximum = feature.max_activation
    return RoundItem(
        window=candidate.window,
        feature=feature,
        tokens=list(candidate.window.tokens),
        marked=candidate.marked,
        truth=scale_to_ten(candidate.raw, maximum),
        values=feature_items.scaled_values(candidate.values, maximum),
        kind=candidate.kind,
        label=candidate.raw > feature_items.DEFAULT_RELATIVE_THRESHOLD * maximum,
        **fields,
    )


def held_out(feature: Feature, choose):
    """Run `choose()` (which reads the feature's held-out pool, or computes it live), turning a model that
    cannot run here into a message for the player."""
    try:
        return choose()
    except (InferenceInputError, OSError) as error:
        logger.warning("No held-out cards for %s: %s", feature, error)
        raise ValidationError(
            f"{feature} cannot be played right now, as its cards are computed live by its model. {error} "
            "Try another feature."
        ) from error


# --- Answering and finishing -----------------------------------------------------------------------


@dataclass
class AnswerOutcome:
    round: Round
    item: RoundItem
    answer: Answer
    created: bool  # False when the item had been answered already: nothing changed


def round_answer(*, user, round_id: int, position: int, guess=None, says_fits: bool | None = None) -> AnswerOutcome:
    """Store the player's answer to one item (once: a second answer changes nothing and returns the first),
    and finish the round when it was the last one."""
    finished = False
    with transaction.atomic():
        round_obj = Round.objects.select_for_update().filter(pk=round_id).first()
        if round_obj is None or round_obj.user_id != user.pk:
            raise PermissionDenied("That is not your round.")
        item = RoundItem.objects.filter(round=round_obj, position=position).first()
        if item is None:
            raise ValidationError("That round has no such card.")
        existing = Answer.objects.filter(user=user, item=item).first()
        if existing is not None:
            return AnswerOutcome(round_obj, item, existing, created=False)
        if round_obj.is_predict:
            try:
                value = clean_guess(guess)
            except (TypeError, ValueError) as error:
                raise ValidationError(f"Give your guess as a number from 0 to {SCALE_MAX:g}.") from error
            answer = Answer.objects.create(user=user, item=item, guess=value)
        elif round_obj.mode == Mode.VERIFY:
            if says_fits is None:
                raise ValidationError("Say whether the explanation fits the marked token: yes or no.")
            correct = (says_fits == item.label) if item.is_gold else None
            answer = Answer.objects.create(user=user, item=item, says_fits=says_fits, correct=correct)
        else:
            raise ValidationError("This round has no cards to answer.")
        if round_obj.status == Round.Status.OPEN and not round_obj.items.filter(answers__isnull=True).exists():
            round_finish(round_obj=round_obj)
            finished = True
    if finished:
        achievements_check(user=user)
    return AnswerOutcome(round_obj, item, answer, created=True)


def _replays(round_obj: Round) -> int:
    """Earlier finished rounds of the same feature (or camp rung) in the same kind of play."""
    earlier = Round.objects.filter(user_id=round_obj.user_id, status=Round.Status.FINISHED).exclude(pk=round_obj.pk)
    if round_obj.mode in (Mode.PREDICT, Mode.DAILY):
        return earlier.filter(mode__in=(Mode.PREDICT, Mode.DAILY), feature_id=round_obj.feature_id).count()
    if round_obj.mode in (Mode.CAMP_PREDICT, Mode.CAMP_EXPLAIN):
        return earlier.filter(mode=round_obj.mode, rung=round_obj.rung).count()
    if round_obj.mode == Mode.EXPLAIN:
        return earlier.filter(mode=Mode.EXPLAIN, feature_id=round_obj.feature_id).count()
    return 0


def _round_skill(round_obj: Round) -> tuple[float | None, float | None]:
    """(the round's skill as stored and ranked, the 0-1 skill that XP and Bones are paid on)."""
    if round_obj.is_predict:
        rows = list(RoundItem.objects.filter(round=round_obj).values_list("truth", "answers__guess"))
        skill = predict_skill([guess for _, guess in rows], [truth for truth, _ in rows])
        return skill, skill
    if round_obj.mode == Mode.VERIFY:
        gold = list(Answer.objects.filter(item__round=round_obj, item__is_gold=True).values_list("correct", flat=True))
        if not gold:
            return None, None
        accuracy = sum(bool(c) for c in gold) / len(gold)
        return accuracy, max(0.0, 2 * accuracy - 1)
    if round_obj.mode == Mode.CAMP_EXPLAIN and "planted_match" in (round_obj.details or {}):
        # Token overlap with the planted rule's firing: 0 is no overlap, so it is a skill as it is.
        return round_obj.skill, round_obj.skill
    if round_obj.mode in (Mode.EXPLAIN, Mode.CAMP_EXPLAIN):
        return round_obj.skill, explain_skill(round_obj.skill)
    return None, None


def round_finish(*, round_obj: Round) -> None:
    """Score the round, pay its XP and Bones once, and apply what follows from it (camp progress, streak,
    reliability, human scores). Call inside a transaction with the round row locked and still open."""
    skill, paid_skill = _round_skill(round_obj)
    xp = xp_for_round(round_obj.mode, paid_skill)
    profile = profile_lock(user=round_obj.user)
    bones = bones_for_round(
        mode=round_obj.mode,
        skill=paid_skill,
        replays=_replays(round_obj),
        earned_today=bones_earned_by_play_today(user=round_obj.user),
        daily_cap=game_setting("GAME_DAILY_BONES_CAP"),
    )
    if bones > 0:
        ledger_append(profile=profile, amount=bones, reason=LedgerEntry.Reason.PLAY, key=f"round:{round_obj.pk}",
                memo=f"{round_obj.get_mode_display()} round")  # fmt: skip
    updates: dict = {"xp": F("xp") + xp}
    if round_obj.mode in (Mode.CAMP_PREDICT, Mode.CAMP_EXPLAIN) and paid_skill is not None:
        scores = dict(profile.camp_scores or {})
        scores[round_obj.rung] = max(scores.get(round_obj.rung, 0.0), max(0.0, paid_skill))
        updates["camp_scores"] = scores
        if camp.camp_progress(scores, unlock_skill=game_setting("GAME_UNLOCK_CAMP_SKILL")).graduated:
            updates["camp_graduated"] = True
    if round_obj.mode == Mode.DAILY:
        streak = streak_after_play(
            last_played=profile.last_daily, today=round_obj.day, streak=profile.streak, freezes=profile.streak_freezes
        )
        if profile.last_daily is None or round_obj.day > profile.last_daily:
            updates.update(
                streak=streak.streak, best_streak=max(profile.best_streak, streak.streak),
                streak_freezes=streak.freezes, last_daily=round_obj.day,
            )  # fmt: skip
    reweighed = False
    if round_obj.mode == Mode.VERIFY:
        answers = Answer.objects.filter(item__round=round_obj)
        gold = [a.correct for a in answers if a.correct is not None]
        # New gold answers move this verifier's weight, and with it every human score they had a say in.
        reweighed = verifier_weight(profile.gold_correct + sum(gold), profile.gold_total + len(gold)) != profile.weight
        updates.update(
            gold_correct=F("gold_correct") + sum(gold), gold_total=F("gold_total") + len(gold),
            verify_cards=F("verify_cards") + answers.count(),
        )  # fmt: skip
    PlayerProfile.objects.filter(pk=profile.pk).update(**updates)
    round_obj.status = Round.Status.FINISHED
    round_obj.skill, round_obj.xp, round_obj.bones = skill, xp, bones
    round_obj.finished_at = timezone.now()
    round_obj.save(update_fields=["status", "skill", "xp", "bones", "finished_at"])
    if round_obj.mode == Mode.VERIFY:
        # In the same transaction as the new gold counts: the wiki never shows a human score weighted by a
        # reliability that is no longer the verifier's.
        ids = set(round_obj.items.filter(explanation__isnull=False).values_list("explanation_id", flat=True))
        if reweighed:
            ids.update(verifier_judged_explanations(user=round_obj.user).values_list("pk", flat=True))
        human_scores_update(explanations=Explanation.objects.filter(pk__in=ids).select_related("current_revision"))


def hint_use(*, user, round_id: int) -> RoundItem:
    """Spend a hint on an open Predict round: one unanswered card whose token is a silent look-alike is
    revealed as silent. Nothing is spent when there is no such card left."""
    with transaction.atomic():
        round_obj = Round.objects.select_for_update().filter(pk=round_id, user=user).first()
        if round_obj is None or not round_obj.is_predict or round_obj.is_finished:
            raise ValidationError("Hints work in an open Predict round.")
        profile = profile_lock(user=user)
        if profile.hints < 1:
            raise ValidationError("You have no hints left; the shop sells them.")
        item = round_obj.items.filter(kind="lookalike", hinted=False, answers__isnull=True).order_by("position").first()
        if item is None:
            raise ValidationError("No unanswered look-alike is left in this round; your hint is kept.")
        item.hinted = True
        item.save(update_fields=["hinted"])
        PlayerProfile.objects.filter(pk=profile.pk).update(hints=F("hints") - 1)
    return item
