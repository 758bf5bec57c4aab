"""Starting Predict rounds: a training camp rung's synthetic cards, a real feature's held-out cards, and the
daily feature's (the same cards for everyone on the same day)."""

import random
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from explanations.models import Explanation
from features.models import Feature

from .. import items as feature_items
from ..core import camp
from ..core.cards import is_mixed
from ..core.daily import daily_pick
from ..models import DailyFeature, Round, RoundItem
from ..selectors import camp_rung, daily_round, feature_pick, playable_features
from .held_out import held_out_pool
from .profiles import ensure_camp_rung_open, ensure_real_features_unlocked
from .rounds import held_out, new_seed, real_item, round_create, synthetic_item

ROUND_SIZE = 10
MIN_PREDICT_ITEMS = 5
MIN_MIXED_CARDS = 2  # a Predict round asks about at least this many active and this many silent tokens
Mode = Round.Mode


def camp_predict_start(*, user, rung_slug: str) -> Round:
    rung = camp_rung(slug=rung_slug)
    ensure_camp_rung_open(user=user, rung=rung)
    seed = new_seed()
    items = [synthetic_item(item) for item in camp.rung_items(rung, seed=seed)]
    return round_create(user=user, mode=Mode.CAMP_PREDICT, items=items, rung=rung.slug, seed=seed)


def _predict_items(feature: Feature, seed: int) -> list[RoundItem]:
    fw = feature_items.feature_windows(feature)
    rng = random.Random(seed)
    pool = held_out(feature, lambda: held_out_pool(fw=fw))
    candidates = feature_items.predict_candidates(fw, pool, rng, size=ROUND_SIZE)
    mixed = is_mixed([c.kind for c in candidates], min_active=MIN_MIXED_CARDS, min_silent=MIN_MIXED_CARDS)
    if len(candidates) < MIN_PREDICT_ITEMS or not mixed:
        raise ValidationError(
            f"{feature} has too few stored windows outside its page where it fires (and where it stays silent) "
            "for a round; try another feature."
        )
    return [real_item(candidate, feature) for candidate in candidates]


def predict_start(*, user, feature: Feature | None = None) -> Round:
    ensure_real_features_unlocked(user=user)
    feature = feature or feature_pick(user=user, mode_group=(Mode.PREDICT, Mode.DAILY))
    seed = new_seed()
    return round_create(user=user, mode=Mode.PREDICT, items=_predict_items(feature, seed), feature=feature, seed=seed)


def daily_feature(*, day: date | None = None) -> Feature | None:
    """The feature of `day` (today by default): fixed the first time anyone asks, chosen by hashing the date
    among the features with explanations and examples (or with examples, while none is explained)."""
    day = day or timezone.now().date()
    chosen = DailyFeature.objects.select_related("feature__source__model").filter(day=day).first()
    if chosen is not None:
        return chosen.feature
    playable = playable_features()
    explained_here = Exists(Explanation.objects.visible().filter(feature=OuterRef("pk")))
    explained = list(playable.filter(explained_here).order_by("pk").values_list("pk", flat=True))
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
    ensure_real_features_unlocked(user=user)
    day = day or timezone.now().date()
    existing = daily_round(user=user, day=day)
    if existing is not None:
        return existing
    feature = daily_feature(day=day)
    if feature is None:
        raise ValidationError("There is no daily feature yet: no feature has activation examples.")
    items = _predict_items(feature, daily_seed(day))
    try:
        return round_create(user=user, mode=Mode.DAILY, items=items, feature=feature, day=day, seed=daily_seed(day))
    except IntegrityError:  # a second tab started it at the same moment
        return Round.objects.get(user=user, mode=Mode.DAILY, day=day)
