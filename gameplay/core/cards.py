"""Which tokens a round on a real feature asks about, chosen from held-out windows.

A card is never a window that the feature's page shows (its top windows and interval samples, with their
activation values): a player could look the answer up there. The service draws other stored windows of the
same model, computes the feature's true activations on them by live inference, and these functions choose
the marked tokens from what came back. Every card is one of:

- high: the strongest token of one of the windows where the feature fires hardest;
- mid: an active token (above a tenth of the feature's maximum, as the scorers count it) below half of
  its maximum: the part the interval samples play on the feature page;
- lookalike: one of the feature's key tokens (the tokens at the peaks of its top windows) where it is
  silent: what a context-blind reading gets wrong;
- silent: any other token where it is silent.

Predict asks about 3 high, 3 mid, 2 look-alike and 2 silent tokens out of ten, so that always answering high
and always answering zero both lose; Verify takes active (high and mid) and silent (look-alikes first) cards
per explanation. A window gives at most one card. When the pool is short of a kind, its neighbour fills in
(mid for high and back, silent for look-alike and back); a round without both active and silent cards has
nothing to tell apart, and `is_mixed` says so.
"""

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from scoring.core.examples import DEFAULT_RELATIVE_THRESHOLD
from scoring.core.records import normalise_token

ACTIVE_SHARE = DEFAULT_RELATIVE_THRESHOLD  # a token is active above this share of the feature's maximum
HIGH_SHARE = 0.5  # mid tokens stay below this share; high ones are the strongest there are
KINDS = ("high", "lookalike", "mid", "silent")  # the order cards are chosen in: scarce kinds first
ACTIVE_KINDS = frozenset({"high", "mid"})
FILL_IN = {"high": "mid", "mid": "high", "lookalike": "silent", "silent": "lookalike"}


@dataclass(frozen=True)
class HeldOutWindow:
    """A window with the feature's true activations on it."""

    tokens: Sequence[str]
    values: Sequence[float]
    content: Sequence[bool]  # False on special tokens, which are never marked


@dataclass(frozen=True)
class Card:
    window: int  # its index in the pool
    marked: int
    kind: str  # one of KINDS


def predict_mix(size: int) -> dict[str, int]:
    """How many cards of each kind a Predict round of `size` asks for: about 3/3/2/2 of ten."""
    high = round(size * 0.3)
    lookalike = round(size * 0.2)
    silent = round(size * 0.2)
    return {"high": high, "lookalike": lookalike, "mid": size - high - lookalike - silent, "silent": silent}


def verify_mix(active: int, silent: int) -> dict[str, int]:
    """Cards for one explanation: `active` tokens (half of them high) and `silent` ones, look-alikes first."""
    return {"high": (active + 1) // 2, "mid": active // 2, "lookalike": silent, "silent": 0}


def _options(pool: Sequence[HeldOutWindow], *, maximum: float, keys: Collection[str]) -> dict[str, list]:
    """For each kind, the windows that can give such a card: [(window, [positions])], high ones strongest first."""
    threshold = ACTIVE_SHARE * maximum
    ceiling = HIGH_SHARE * maximum
    keys = set(keys)
    strong: list[tuple[float, int, list[int]]] = []
    options: dict[str, list] = {kind: [] for kind in KINDS}
    for index, window in enumerate(pool):
        text = [p for p in range(min(len(window.values), len(window.tokens), len(window.content))) if window.content[p]]
        active = [p for p in text if window.values[p] > threshold] if maximum > 0 else []
        quiet = [p for p in text if p not in set(active)]
        if active:
            peak = max(active, key=lambda p: (window.values[p], -p))
            strong.append((window.values[peak], index, [peak]))
        middling = [p for p in active if window.values[p] < ceiling]
        if middling:
            options["mid"].append((index, middling))
        lookalikes = [p for p in quiet if normalise_token(window.tokens[p]) in keys]
        if lookalikes:
            options["lookalike"].append((index, lookalikes))
        plain = [p for p in quiet if p not in set(lookalikes)]
        if plain:
            options["silent"].append((index, plain))
    strong.sort(key=lambda row: (-row[0], row[1]))
    options["high"] = [(index, positions) for _, index, positions in strong]
    return options


def choose_cards(
    pool: Sequence[HeldOutWindow],
    *,
    mix: Mapping[str, int],
    maximum: float,
    keys: Collection[str],
    rng: random.Random,
) -> list[Card]:
    """Up to sum(mix) cards from distinct windows of the pool, as close to `mix` as the pool allows."""
    options = _options(pool, maximum=maximum, keys=keys)
    for kind in ("lookalike", "mid", "silent"):
        rng.shuffle(options[kind])
    used: set[int] = set()
    cards: list[Card] = []

    def take(kind: str, count: int) -> None:
        taken = 0
        for index, positions in options[kind]:
            if taken >= count:
                return
            if index in used:
                continue
            marked = positions[0] if kind == "high" else rng.choice(positions)
            cards.append(Card(window=index, marked=marked, kind=kind))
            used.add(index)
            taken += 1

    for kind in KINDS:
        take(kind, mix.get(kind, 0))
    for kind in KINDS:
        short = mix.get(kind, 0) - sum(card.kind == kind for card in cards)
        if short > 0:
            take(FILL_IN[kind], short)
    return cards


def is_mixed(kinds: Sequence[str], *, min_active: int = 1, min_silent: int = 1) -> bool:
    """Whether cards of these kinds have enough of both active and silent tokens to be worth playing."""
    active = sum(kind in ACTIVE_KINDS for kind in kinds)
    return active >= min_active and len(kinds) - active >= min_silent
