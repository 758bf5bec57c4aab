"""Writes of the game: profiles, the Bones ledger, rounds (start, answer, finish), Explain answers, the
shop, hints, achievements and the human score that Verify feeds back into the wiki. Keyword-only functions
named <entity>_<action>; views only call these.

Money and truth rules, enforced here for every caller:
- The ledger is append-only; a player's balance is the sum of their entries and never negative. Every grant
  and every purchase carries an idempotency key (unique in the database), and every change to a balance
  happens with the player's profile row locked, in the same transaction as its ledger entry.
- A round's truth is written when it starts and read when an answer comes in. An answer is stored once per
  player and item; a round is finished, scored and paid once (its ledger key is derived from the round).
- Bones and XP come only from scored play against ground truth: never from agreeing with other players.
"""

import json
import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, time

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from explanations import services as wiki
from explanations.models import Explanation
from explanations.rules import rule_matches
from features.inference import InferenceInputError
from features.models import ActivationExample, ContextWindow, Feature
from features.services.page_versions import feature_page_changed
from scoring.core.errors import ScoringInputError
from scoring.models import ExplanationScore

from . import items as feature_items
from .catalogue import BY_SLUG as SHOP_ITEMS
from .catalogue import SLOTS
from .conf import game_setting
from .models import Answer, DailyFeature, EarnedAchievement, InventoryItem, LedgerEntry, PlayerProfile, Round, RoundItem
from .rules import camp
from .rules.achievements import Achievement, newly_earned
from .rules.bones import bones_for_round
from .rules.cards import is_mixed
from .rules.daily import daily_pick
from .rules.explain import ExplainOutcome, score_explain_answer
from .rules.gold import plant_gold
from .rules.predict import SCALE_MAX, clean_guess, predict_skill, scale_to_ten
from .rules.progression import explain_skill, xp_for_round
from .rules.reliability import Verdict, human_score, verifier_weight
from .rules.streaks import streak_after_play

logger = logging.getLogger(__name__)

ROUND_SIZE = 10
MIN_PREDICT_ITEMS = 5
MIN_MIXED_CARDS = 2  # a Predict round asks about at least this many active and this many silent tokens
MAX_EXPLANATION_LENGTH = wiki.MAX_EXPLANATION_LENGTH
Mode = Round.Mode


class InsufficientBones(ValidationError):
    pass


# --- Profiles ----------------------------------------------------------------------------------


def profile_for(user) -> PlayerProfile:
    profile = PlayerProfile.objects.filter(user=user).first()
    if profile is not None:
        return profile
    try:
        with transaction.atomic():
            return PlayerProfile.objects.create(user=user)
    except IntegrityError:  # created by a concurrent request
        return PlayerProfile.objects.get(user=user)


def _locked_profile(user) -> PlayerProfile:
    """The player's profile, locked until the end of the current transaction: the one lock every change to
    a balance, a streak or an inventory takes."""
    profile_for(user)
    return PlayerProfile.objects.select_for_update().get(user=user)


def ensure_real_features_unlocked(user) -> PlayerProfile:
    profile = profile_for(user)
    if not profile.camp_graduated:
        raise PermissionDenied(
            "Real features unlock when your training camp skill reaches "
            f"{game_setting('GAME_UNLOCK_CAMP_SKILL'):.0%}. Play the training camp first."
        )
    return profile


# --- The ledger --------------------------------------------------------------------------------


def ledger_balance(*, user) -> int:
    """The balance as the ledger has it: the sum of the player's entries."""
    return LedgerEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0


def _existing_entry(key: str, user) -> LedgerEntry | None:
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is not None and entry.user_id != user.pk:
        raise ValueError(f"The ledger key {key!r} belongs to another player.")
    return entry


def _append(profile: PlayerProfile, *, amount: int, reason: str, key: str, memo: str) -> LedgerEntry:
    """Add an entry and move the cached balance with it. Call with `profile` locked."""
    entry = LedgerEntry.objects.create(
        user_id=profile.user_id, amount=amount, reason=reason, idempotency_key=key, memo=memo[:200]
    )
    PlayerProfile.objects.filter(pk=profile.pk).update(balance=F("balance") + amount)
    profile.balance += amount
    return entry


def ledger_grant(*, user, amount: int, reason: str, key: str, memo: str = "") -> tuple[LedgerEntry, bool]:
    """Pay `amount` Bones once per `key`: asking again with the same key returns the first entry and pays
    nothing. Returns (entry, created)."""
    if amount <= 0:
        raise ValueError("A grant is a positive amount.")
    with transaction.atomic():
        profile = _locked_profile(user)
        existing = _existing_entry(key, user)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                return _append(profile, amount=amount, reason=reason, key=key, memo=memo), True
        except IntegrityError:  # only where row locks are not enforced: the other insert won
            return LedgerEntry.objects.get(idempotency_key=key), False


def ledger_spend(*, user, amount: int, reason: str, key: str, memo: str = "") -> tuple[LedgerEntry, bool]:
    """Take `amount` Bones once per `key`, never below 0 (InsufficientBones). Returns (entry, created)."""
    if amount <= 0:
        raise ValueError("A spend is a positive amount.")
    with transaction.atomic():
        profile = _locked_profile(user)
        existing = _existing_entry(key, user)
        if existing is not None:
            return existing, False
        if profile.balance < amount:
            raise InsufficientBones(f"That costs {amount} Bones and you have {profile.balance}.")
        return _append(profile, amount=-amount, reason=reason, key=key, memo=memo), True


def _start_of_today() -> datetime:
    return datetime.combine(timezone.now().date(), time.min, tzinfo=timezone.get_current_timezone())


def _earned_by_play_today(user) -> int:
    return (
        LedgerEntry.objects.filter(
            user=user, reason=LedgerEntry.Reason.PLAY, amount__gt=0, created_at__gte=_start_of_today()
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )


# --- Rounds: starting ------------------------------------------------------------------------------


def _new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def _create_round(*, user, mode: str, items: list[RoundItem], **fields) -> Round:
    with transaction.atomic():
        round_obj = Round.objects.create(user=user, mode=mode, **fields)
        for position, item in enumerate(items):
            item.round = round_obj
            item.position = position
        RoundItem.objects.bulk_create(items)
    return round_obj


def _synthetic_item(item: camp.SyntheticItem, **fields) -> RoundItem:
    return RoundItem(
        tokens=list(item.tokens),
        marked=item.marked,
        truth=item.value,
        values=list(item.activations),
        kind=item.kind,
        label=item.label,
        **fields,
    )


def _real_item(candidate: feature_items.Candidate, feature: Feature, **fields) -> RoundItem:
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


def camp_rung(slug: str) -> camp.Rung:
    rung = camp.BY_SLUG.get(slug)
    if rung is None:
        raise ValidationError(f"There is no training camp rung {slug!r}.")
    return rung


def camp_progress_of(profile: PlayerProfile) -> camp.CampProgress:
    return camp.camp_progress(profile.camp_scores or {}, unlock_skill=game_setting("GAME_UNLOCK_CAMP_SKILL"))


def _ensure_rung_open(user, rung: camp.Rung) -> None:
    if rung.slug not in camp_progress_of(profile_for(user)).open_rungs:
        raise PermissionDenied(f"Pass the rung before {rung.title!r} first: the camp opens one rung at a time.")


def camp_predict_start(*, user, rung_slug: str) -> Round:
    rung = camp_rung(rung_slug)
    _ensure_rung_open(user, rung)
    seed = _new_seed()
    items = [_synthetic_item(item) for item in camp.rung_items(rung, seed=seed)]
    return _create_round(user=user, mode=Mode.CAMP_PREDICT, items=items, rung=rung.slug, seed=seed)


def playable_features():
    """Features with stored top examples and a positive maximum."""
    return Feature.objects.filter(max_activation__gt=0, examples__kind="top").distinct()


def feature_pick(user, *, mode_group: tuple[str, ...]) -> Feature:
    """A random playable feature, preferring ones this player has not played in these modes."""
    played = Round.objects.filter(user=user, mode__in=mode_group, feature__isnull=False).values("feature_id")
    fresh = playable_features().exclude(pk__in=played).order_by("?").first()
    feature = fresh or playable_features().order_by("?").first()
    if feature is None:
        raise ValidationError("There are no features with activation examples yet. Run the demo build first.")
    return feature


def _held_out(feature: Feature, choose):
    """Run `choose()` (which computes the feature's values on held-out windows live), turning a model that
    cannot run here into a message for the player."""
    try:
        return choose()
    except (InferenceInputError, OSError) as error:
        logger.warning("No held-out cards for %s: %s", feature, error)
        raise ValidationError(
            f"{feature} cannot be played right now, as its cards are computed live by its model. {error} "
            "Try another feature."
        ) from error


def _predict_items(feature: Feature, seed: int) -> list[RoundItem]:
    fw = feature_items.feature_windows(feature)
    candidates = _held_out(feature, lambda: feature_items.predict_candidates(fw, random.Random(seed), size=ROUND_SIZE))
    mixed = is_mixed([c.kind for c in candidates], min_active=MIN_MIXED_CARDS, min_silent=MIN_MIXED_CARDS)
    if len(candidates) < MIN_PREDICT_ITEMS or not mixed:
        raise ValidationError(
            f"{feature} has too few stored windows outside its page where it fires (and where it stays silent) "
            "for a round; try another feature."
        )
    return [_real_item(candidate, feature) for candidate in candidates]


def predict_start(*, user, feature: Feature | None = None) -> Round:
    ensure_real_features_unlocked(user)
    feature = feature or feature_pick(user, mode_group=(Mode.PREDICT, Mode.DAILY))
    seed = _new_seed()
    return _create_round(user=user, mode=Mode.PREDICT, items=_predict_items(feature, seed), feature=feature, seed=seed)


def daily_feature(day: date | None = None) -> Feature | None:
    """The feature of `day` (today by default): fixed the first time anyone asks, chosen by hashing the date
    among the features with explanations and examples (or with examples, while none is explained)."""
    day = day or timezone.now().date()
    chosen = DailyFeature.objects.select_related("feature__source__model").filter(day=day).first()
    if chosen is not None:
        return chosen.feature
    playable = playable_features()
    explained = list(playable.filter(explanations__hidden=False).distinct().order_by("pk").values_list("pk", flat=True))
    candidates = explained or list(playable.order_by("pk").values_list("pk", flat=True))
    if not candidates:
        return None
    try:
        with transaction.atomic():
            DailyFeature.objects.create(day=day, feature_id=daily_pick(day, candidates))
    except IntegrityError:  # someone else fixed it first
        pass
    return DailyFeature.objects.select_related("feature__source__model").get(day=day).feature


def daily_seed(day: date) -> int:
    """Everyone gets the same windows on the same day."""
    return int(day.strftime("%Y%m%d"))


def daily_start(*, user, day: date | None = None) -> Round:
    ensure_real_features_unlocked(user)
    day = day or timezone.now().date()
    existing = Round.objects.filter(user=user, mode=Mode.DAILY, day=day).first()
    if existing is not None:
        return existing
    feature = daily_feature(day)
    if feature is None:
        raise ValidationError("There is no daily feature yet: no feature has activation examples.")
    items = _predict_items(feature, daily_seed(day))
    try:
        return _create_round(user=user, mode=Mode.DAILY, items=items, feature=feature, day=day, seed=daily_seed(day))
    except IntegrityError:  # a second tab started it at the same moment
        return Round.objects.get(user=user, mode=Mode.DAILY, day=day)


def verifiable_explanations(user):
    """Explanations a player may verify: visible, with a text, on a feature with examples, not their own
    (neither written nor last revised by them)."""
    return (
        Explanation.objects.filter(hidden=False, current_revision__isnull=False, feature__max_activation__gt=0)
        .exclude(author=user)
        .exclude(current_revision__author=user)
        .select_related("current_revision", "feature__source__model")
    )


def verify_check_allowed(user, explanation: Explanation) -> None:
    # Whoever wrote the text being judged, first or in its latest revision, is its author here.
    authors = {explanation.author_id, explanation.current_revision.author_id if explanation.current_revision else None}
    if user.pk in authors - {None}:
        raise PermissionDenied("You cannot verify your own explanation: other players verify it for you.")
    if explanation.hidden or explanation.current_revision_id is None:
        raise PermissionDenied("That explanation is hidden or empty; it cannot be verified.")


def _camp_gold_items(rng: random.Random, count: int) -> list[RoundItem]:
    """The fallback when the stored windows allow no planted rule (a nearly empty database): cards of the
    camp's planted-rule features, shown with their true explanation. Half are active, half silent."""
    gold = []
    for number in range(count):
        rung = rng.choice(camp.RUNGS)
        kind = "positive" if number % 2 == 0 else rng.choice(["lookalike", "context"])
        item = camp.make_item(rung, kind, rng)
        gold.append(_synthetic_item(item, is_gold=True, prompt=rung.explanation))
    return gold


GOLD_WINDOW_POOL = 60


def _gold_items(
    rng: random.Random, fws: list[feature_items.FeatureWindows], used: set[int], count: int
) -> list[RoundItem]:
    """Cards with a certain answer that look like the others: held-out windows of the targets' models, drawn
    like the real cards' (never on a target's page, none already in the round), with a planted explanation
    whose rule decides the answer (rules/gold.py)."""
    features = [fw.feature for fw in fws]
    shown = ActivationExample.objects.filter(feature__in=features).values("window_id")
    ids = list(
        ContextWindow.objects.filter(model_id__in={f.source.model_id for f in features})
        .exclude(pk__in=shown)
        .exclude(pk__in=list(used))
        .order_by("pk")
        .values_list("pk", flat=True)[: GOLD_WINDOW_POOL * 20]
    )
    rng.shuffle(ids)
    ids = ids[:GOLD_WINDOW_POOL]
    by_id = ContextWindow.objects.in_bulk(ids)
    windows = [by_id[i] for i in ids if i in by_id]
    keys = [key for fw in fws for key in fw.key_tokens]
    gold: list[RoundItem] = []
    while len(gold) < count:
        planted = plant_gold([w.tokens for w in windows], rng, prefer=keys)
        if planted is None:
            return gold + _camp_gold_items(rng, count - len(gold))
        for card in planted.cards[: count - len(gold)]:
            window = windows[card.window]
            gold.append(
                RoundItem(
                    window=window,
                    tokens=list(window.tokens),
                    marked=card.marked,
                    truth=card.truth,
                    values=list(card.values),
                    kind="positive" if card.label else "lookalike",
                    label=card.label,
                    is_gold=True,
                    prompt=planted.prompt,
                )
            )
        spent = {card.window for card in planted.cards}
        windows = [w for i, w in enumerate(windows) if i not in spent]
    return gold


MAX_VERIFY_TRIES = 6  # explanations a drawn round tries, fewest verdicts first (each may run a model)


def verify_start(*, user, explanation: Explanation | None = None, n_targets: int = 2, n_gold: int = 2) -> Round:
    """A Verify round: cards from one given explanation, or from the `n_targets` explanations with the fewest
    verdicts so far (passing over those whose cards cannot be made now), with `n_gold` gold cards mixed in;
    every card looks alike."""
    ensure_real_features_unlocked(user)
    if explanation is not None:
        verify_check_allowed(user, explanation)
        pool, wanted = [explanation], 1
    else:
        pool = list(verifiable_explanations(user).order_by("?")[:50])
        counts = dict(
            RoundItem.objects.filter(explanation__in=pool).values_list("explanation_id").annotate(n=Count("id"))
        )
        pool.sort(key=lambda e: counts.get(e.pk, 0))
        pool, wanted = pool[:MAX_VERIFY_TRIES], n_targets
    if not pool:
        raise ValidationError("There is nothing to verify yet: no one else has explained a feature.")
    seed = _new_seed()
    rng = random.Random(seed)
    per_side = 4 if wanted == 1 else 2
    cards: list[RoundItem] = []
    used: set[int] = set()
    fws = []
    refusal = ValidationError(
        "The explanations to verify have too few stored windows outside their feature's page yet; try again later."
    )
    for target in pool:
        if len(fws) >= wanted:
            break
        fw = feature_items.feature_windows(target.feature)
        try:
            candidates = _held_out(
                target.feature,
                lambda fw=fw: feature_items.verify_candidates(fw, rng, active=per_side, silent=per_side, exclude=used),
            )
        except ValidationError as error:
            refusal = error
            continue
        if not is_mixed([candidate.kind for candidate in candidates]):
            continue
        fws.append(fw)
        for candidate in candidates:
            used.add(candidate.window.pk)
            cards.append(
                _real_item(
                    candidate,
                    target.feature,
                    prompt=target.current_revision.text,
                    explanation=target,
                    revision=target.current_revision,
                )  # fmt: skip
            )
    if not fws:
        raise refusal
    cards += _gold_items(rng, fws, used, n_gold)
    rng.shuffle(cards)
    return _create_round(user=user, mode=Mode.VERIFY, items=cards, seed=seed)


# --- Rounds: answering and finishing ---------------------------------------------------------------


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
            _round_finish(round_obj)
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
    if round_obj.mode in (Mode.EXPLAIN, Mode.CAMP_EXPLAIN):
        return round_obj.skill, explain_skill(round_obj.skill)
    return None, None


def _round_finish(round_obj: Round) -> None:
    """Score the round, pay its XP and Bones once, and apply what follows from it (camp progress, streak,
    reliability, human scores). Call inside a transaction with the round row locked and still open."""
    skill, paid_skill = _round_skill(round_obj)
    xp = xp_for_round(round_obj.mode, paid_skill)
    profile = _locked_profile(round_obj.user)
    bones = bones_for_round(
        mode=round_obj.mode,
        skill=paid_skill,
        replays=_replays(round_obj),
        earned_today=_earned_by_play_today(round_obj.user),
        daily_cap=game_setting("GAME_DAILY_BONES_CAP"),
    )
    if bones > 0:
        _append(profile, amount=bones, reason=LedgerEntry.Reason.PLAY, key=f"round:{round_obj.pk}",
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
            ids.update(verifier_judged_explanations(round_obj.user).values_list("pk", flat=True))
        human_scores_update(explanations=Explanation.objects.filter(pk__in=ids).select_related("current_revision"))


def hint_use(*, user, round_id: int) -> RoundItem:
    """Spend a hint on an open Predict round: one unanswered card whose token is a silent look-alike is
    revealed as silent. Nothing is spent when there is no such card left."""
    with transaction.atomic():
        round_obj = Round.objects.select_for_update().filter(pk=round_id, user=user).first()
        if round_obj is None or not round_obj.is_predict or round_obj.is_finished:
            raise ValidationError("Hints work in an open Predict round.")
        profile = _locked_profile(user)
        if profile.hints < 1:
            raise ValidationError("You have no hints left; the shop sells them.")
        item = round_obj.items.filter(kind="lookalike", hinted=False, answers__isnull=True).order_by("position").first()
        if item is None:
            raise ValidationError("No unanswered look-alike is left in this round; your hint is kept.")
        item.hinted = True
        item.save(update_fields=["hinted"])
        PlayerProfile.objects.filter(pk=profile.pk).update(hints=F("hints") - 1)
    return item


# --- Human scores from Verify ------------------------------------------------------------------


def human_scores_update(*, explanations) -> dict[int, ExplanationScore | None]:
    """Recompute the `human` score of each explanation from the verdicts on its current revision, each
    weighted by its verifier's current reliability, in a fixed number of queries however many there are.
    Verdicts are read in the order they were given, so a verifier's latest on a card is the one that counts,
    and each verifier counts once per revision however many rounds they played (rules/reliability.py).

    A score that changed is stored as a new ExplanationScore (the wiki shows the latest); an unchanged one
    writes nothing. Where nothing is left to weigh (every verifier of the revision has weight 0, e.g. after
    gold answers showed the only one guessing), the revision's human scores are removed: they are derived
    from the verdicts, which stay, and a value that the current reliabilities no longer support must not stay
    on the wiki. Returns {explanation id: its current human score, or None}."""
    by_revision = {e.current_revision_id: e for e in explanations if e.current_revision_id is not None}
    if not by_revision:
        return {}
    rows = (
        Answer.objects.filter(item__revision_id__in=by_revision, item__is_gold=False, says_fits__isnull=False)
        .order_by("pk")
        .values_list("item__revision_id", "user_id", "says_fits", "item__label", "user__player__gold_correct",
                     "user__player__gold_total", "item__window_id", "item__marked")
    )  # fmt: skip
    verdicts: dict[int, list[Verdict]] = {revision_id: [] for revision_id in by_revision}
    labels: dict[int, dict[int, str]] = {revision_id: {} for revision_id in by_revision}
    for revision_id, user_id, says_fits, label, gold_correct, gold_total, window_id, marked in rows:
        # Verifiers appear in the stored details as v1, v2, ... (scores are public; who said what is not).
        names = labels[revision_id]
        verdicts[revision_id].append(
            Verdict(
                verifier=names.setdefault(user_id, f"v{len(names) + 1}"),
                says_fits=bool(says_fits),
                label=bool(label),
                weight=verifier_weight(gold_correct or 0, gold_total or 0),
                card=(window_id, marked) if window_id is not None else None,
            )
        )
    latest: dict[int, ExplanationScore] = {}
    for score in ExplanationScore.objects.filter(revision_id__in=by_revision, scorer="human").order_by(
        "revision_id", "-created_at", "-pk"
    ):
        latest.setdefault(score.revision_id, score)
    current: dict[int, ExplanationScore | None] = {}
    fresh: list[ExplanationScore] = []
    unsupported: list[int] = []
    for revision_id, explanation in by_revision.items():
        try:
            result = human_score(explanation.current_revision.text, verdicts[revision_id])
        except ScoringInputError:
            unsupported.append(revision_id)
            current[explanation.pk] = None
            continue
        score = ExplanationScore.from_result(result, explanation=explanation, revision=explanation.current_revision)
        score.judge = "verify"
        previous = latest.get(revision_id)
        if previous is not None and _same_score(previous, score):
            current[explanation.pk] = previous
            continue
        fresh.append(score)
        current[explanation.pk] = score
    changed = [*unsupported, *(score.revision_id for score in fresh)]
    if changed:
        with transaction.atomic():
            if unsupported:
                ExplanationScore.objects.filter(revision_id__in=unsupported, scorer="human").delete()
            ExplanationScore.objects.bulk_create(fresh)
            feature_page_changed(by_revision[revision_id].feature_id for revision_id in changed)
    return current


def _same_score(stored: ExplanationScore, computed: ExplanationScore) -> bool:
    # The computed details have not been through JSON yet; compare them as they will be stored.
    return (
        abs(stored.value - computed.value) < 1e-12
        and stored.details == json.loads(json.dumps(computed.details))
        and stored.example_mix == json.loads(json.dumps(computed.example_mix))
    )


def human_score_update(*, explanation: Explanation) -> ExplanationScore | None:
    """Recompute one explanation's `human` score (see human_scores_update)."""
    return human_scores_update(explanations=[explanation]).get(explanation.pk)


def verifier_judged_explanations(user):
    """The explanations whose current revision this player has given verdicts on: the human scores that
    move when their reliability does."""
    return Explanation.objects.filter(
        verify_items__answers__user=user,
        verify_items__is_gold=False,
        verify_items__revision_id=F("current_revision_id"),
    ).distinct()


# --- Explain ------------------------------------------------------------------------------------


def _clean_explanation(text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise ValidationError({"text": "Write the explanation: what makes this feature fire?"})
    if len(text) > MAX_EXPLANATION_LENGTH:
        raise ValidationError({"text": f"Keep an explanation under {MAX_EXPLANATION_LENGTH} characters."})
    return text


def _rule_matcher(rule_text: str):
    rule = wiki.rule_from_text(rule_text)
    return (lambda tokens: rule_matches(rule, tokens)) if rule else None


def _focus(tokens: list[str], focus: int, *, width: int = 40) -> tuple[int, int]:
    start = max(0, min(focus - width * 2 // 3, len(tokens) - width))
    return start, min(len(tokens), start + width)


def _outcome_details(outcome: ExplainOutcome, max_activation: float) -> dict:
    misses = []
    for miss in outcome.misses:
        tokens, values = list(miss.record.tokens), list(miss.record.activations)
        focus = miss.marked[0] if miss.marked else miss.record.argmax
        # A missed active window shows its strongest token marked; a flagged silent one, what fuzzing marked.
        marked = list(miss.marked) or ([miss.record.argmax] if miss.label else [])
        start, end = _focus(tokens, focus)
        misses.append(
            {
                "kind": miss.kind,
                "label": miss.label,
                "summary": miss.summary,
                "tokens": tokens[start:end],
                "values": [scale_to_ten(v, max_activation) for v in values[start:end]],
                "marked": [m - start for m in marked if start <= m < end],
            }
        )
    return {
        "headline": round(outcome.headline, 4),
        "scores": {name: round(result.value, 4) for name, result in outcome.results.items()},
        "mixes": {name: result.example_mix for name, result in outcome.results.items()},
        "misses": misses,
    }


def _existing_token_round(user, client_token: str) -> Round | None:
    return Round.objects.filter(user=user, client_token=client_token).first() if client_token else None


def _finish_scored_round(*, user, mode: str, skill: float, client_token: str, **fields) -> Round:
    try:
        with transaction.atomic():
            round_obj = Round.objects.create(user=user, mode=mode, skill=skill, client_token=client_token, **fields)
            round_obj = Round.objects.select_for_update().get(pk=round_obj.pk)
            _round_finish(round_obj)
    except IntegrityError:  # the same form, sent twice at once
        existing = _existing_token_round(user, client_token)
        if existing is None:
            raise
        return existing
    achievements_check(user=user)
    return round_obj


def camp_explain_submit(*, user, rung_slug: str, text: str, client_token: str = "") -> Round:
    """Score an explanation of a camp rung's planted feature at once; nothing goes on the wiki."""
    rung = camp_rung(rung_slug)
    _ensure_rung_open(user, rung)
    existing = _existing_token_round(user, client_token)
    if existing is not None:
        return existing
    text = _clean_explanation(text)
    outcome = score_explain_answer(text, camp.rung_example_set(rung, seed=camp.RUNGS.index(rung)))
    details = {"text": text, **_outcome_details(outcome, 10.0), "answer": rung.explanation}
    return _finish_scored_round(
        user=user, mode=Mode.CAMP_EXPLAIN, skill=outcome.headline, client_token=client_token, rung=rung.slug,
        details=details,
    )  # fmt: skip


def explain_submit(*, user, feature: Feature, text: str, rule_text: str = "", client_token: str = "") -> Round:
    """Score an explanation of a real feature at once with the offline scorers (hard negatives included),
    then put it on the wiki as the player's own explanation with its scores."""
    ensure_real_features_unlocked(user)
    existing = _existing_token_round(user, client_token)
    if existing is not None:
        return existing
    text = _clean_explanation(text)
    matcher = _rule_matcher(rule_text)
    seed = _new_seed()
    examples = feature_items.feature_example_set(feature_items.feature_windows(feature), seed=seed)
    try:
        outcome = score_explain_answer(text, examples, rule=matcher)
    except ScoringInputError as error:
        raise ValidationError(f"This feature cannot be scored right now ({error}); try another one.") from error
    explanation = wiki.explanation_create(
        feature=feature, text=text, author=user, rule_text=rule_text, message="Written in the game (Explain mode)"
    )
    revision = explanation.current_revision
    ExplanationScore.objects.bulk_create(
        [
            ExplanationScore.from_result(result, explanation=explanation, revision=revision)
            for result in outcome.results.values()
        ]
    )
    if explanation.best_score is None or outcome.headline > explanation.best_score:
        Explanation.objects.filter(pk=explanation.pk).update(best_score=outcome.headline)
    feature_page_changed([explanation.feature_id])  # its scores, and maybe its place in the list
    details = {"text": text, **_outcome_details(outcome, feature.max_activation)}
    return _finish_scored_round(
        user=user, mode=Mode.EXPLAIN, skill=outcome.headline, client_token=client_token, feature=feature,
        explanation=explanation, seed=seed, details=details,
    )  # fmt: skip


# --- The shop ----------------------------------------------------------------------------------


def shop_buy(*, user, slug: str, token: str) -> tuple[LedgerEntry, bool]:
    """Buy one item, once per `token` (the form's purchase token): a resubmitted form charges nothing more.
    Returns (ledger entry, whether this call bought it)."""
    item = SHOP_ITEMS.get(slug)
    if item is None:
        raise ValidationError("The shop has no such item.")
    if not token or len(token) > 64:
        raise ValidationError("The purchase form is incomplete; reload the shop and try again.")
    key = f"buy:{user.pk}:{token}"
    with transaction.atomic():
        profile = _locked_profile(user)
        existing = _existing_entry(key, user)
        if existing is not None:
            return existing, False
        if item.is_cosmetic and InventoryItem.objects.filter(user=user, item=slug).exists():
            raise ValidationError(f"You already own the {item.name.lower()}.")
        if profile.balance < item.price:
            raise InsufficientBones(f"The {item.name.lower()} costs {item.price} Bones and you have {profile.balance}.")
        entry = _append(profile, amount=-item.price, reason=LedgerEntry.Reason.PURCHASE, key=key, memo=item.name)
        if item.is_cosmetic:
            InventoryItem.objects.create(user=user, item=slug)
        elif slug == "hint":
            PlayerProfile.objects.filter(pk=profile.pk).update(hints=F("hints") + 1)
        elif slug == "streak-freeze":
            PlayerProfile.objects.filter(pk=profile.pk).update(streak_freezes=F("streak_freezes") + 1)
    achievements_check(user=user)
    return entry, True


def equip(*, user, slot: str, slug: str) -> dict:
    """Wear an owned item in its slot, or take the slot's item off (empty slug)."""
    if slot not in SLOTS:
        raise ValidationError("There is no such slot.")
    with transaction.atomic():
        profile = _locked_profile(user)
        equipped = dict(profile.equipped or {})
        if slug:
            item = SHOP_ITEMS.get(slug)
            if item is None or item.slot != slot:
                raise ValidationError("That item does not go there.")
            if not InventoryItem.objects.filter(user=user, item=slug).exists():
                raise ValidationError(f"Buy the {item.name.lower()} first.")
            equipped[slot] = slug
        else:
            equipped.pop(slot, None)
        profile.equipped = equipped
        profile.save(update_fields=["equipped"])
    return equipped


# --- Achievements ------------------------------------------------------------------------------


def achievements_check(*, user) -> list[Achievement]:
    """Award every achievement the player's stats now meet, with its Bones bonus (once each)."""
    from .selectors import player_stats

    already = set(EarnedAchievement.objects.filter(user=user).values_list("slug", flat=True))
    earned = []
    for achievement in newly_earned(player_stats(user), already):
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
