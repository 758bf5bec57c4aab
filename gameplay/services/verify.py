"""Starting Verify rounds: other players' explanations shown on held-out cards of their features, with gold
cards (a planted explanation whose answer is certain) dealt in, every card looking alike. The verdicts
become human scores when the round finishes (rounds.py, human_scores.py)."""

import random

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count

from explanations.models import Explanation
from features.models import ActivationExample, ContextWindow

from .. import items as feature_items
from ..core import camp
from ..core.cards import is_mixed
from ..core.gold import plant_gold
from ..models import Round, RoundItem
from ..selectors import verifiable_explanations
from .held_out import held_out_pool
from .profiles import ensure_real_features_unlocked
from .rounds import held_out, new_seed, real_item, round_create, synthetic_item

Mode = Round.Mode

GOLD_WINDOW_POOL = 60
MAX_VERIFY_TRIES = 6  # explanations a drawn round tries, fewest verdicts first (each may run a model)


def verify_check_allowed(*, user, explanation: Explanation) -> None:
    # Whoever wrote the text being judged, first or in its latest revision, is its author here.
    authors = {explanation.author_id, explanation.current_revision.author_id if explanation.current_revision else None}
    if user.pk in authors - {None}:
        raise PermissionDenied("You cannot verify your own explanation: other players verify it for you.")
    if not explanation.is_visible:
        raise PermissionDenied("That explanation is hidden or empty; it cannot be verified.")


def _camp_gold_items(rng: random.Random, count: int) -> list[RoundItem]:
    """The fallback when the stored windows allow no planted rule (a nearly empty database): cards of the
    camp's planted-rule features, shown with their true explanation. Half are active, half silent."""
    gold = []
    for number in range(count):
        rung = rng.choice(camp.RUNGS)
        kind = "positive" if number % 2 == 0 else rng.choice(["lookalike", "context"])
        item = camp.make_item(rung, kind, rng)
        gold.append(synthetic_item(item, is_gold=True, prompt=rung.explanation))
    return gold


def _gold_items(
    rng: random.Random, fws: list[feature_items.FeatureWindows], used: set[int], count: int
) -> list[RoundItem]:
    """Cards with a certain answer that look like the others: held-out windows of the targets' models, drawn
    like the real cards' (never on a target's page, none already in the round), with a planted explanation
    whose rule decides the answer (core/gold.py)."""
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


def verify_start(*, user, explanation: Explanation | None = None, n_targets: int = 2, n_gold: int = 2) -> Round:
    """A Verify round: cards from one given explanation, or from the `n_targets` explanations with the fewest
    verdicts so far (passing over those whose cards cannot be made now), with `n_gold` gold cards mixed in;
    every card looks alike."""
    ensure_real_features_unlocked(user=user)
    if explanation is not None:
        verify_check_allowed(user=user, explanation=explanation)
        pool, wanted = [explanation], 1
    else:
        pool = list(verifiable_explanations(user=user).order_by("?")[:50])
        counts = dict(
            RoundItem.objects.filter(explanation__in=pool).values_list("explanation_id").annotate(n=Count("id"))
        )
        pool.sort(key=lambda e: counts.get(e.pk, 0))
        pool, wanted = pool[:MAX_VERIFY_TRIES], n_targets
    if not pool:
        raise ValidationError("There is nothing to verify yet: no one else has explained a feature.")
    seed = new_seed()
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
            pool = held_out(target.feature, lambda fw=fw: held_out_pool(fw=fw, exclude=used))
        except ValidationError as error:
            refusal = error
            continue
        candidates = feature_items.verify_candidates(fw, pool, rng, active=per_side, silent=per_side)
        if not is_mixed([candidate.kind for candidate in candidates]):
            continue
        fws.append(fw)
        for candidate in candidates:
            used.add(candidate.window.pk)
            cards.append(
                real_item(
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
    return round_create(user=user, mode=Mode.VERIFY, items=cards, seed=seed)
