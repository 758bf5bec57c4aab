"""The examples a score is computed on, and the hard negatives that make scores respect context.

A feature that fires on "cat" only after a colour word has top examples full of "black cat" and random
examples that rarely contain "cat" at all, so "the word cat" explains both as well as "cat after a colour
word" does. Hard negatives fix that: windows that contain the feature's own key tokens ("the cat", "cat
food") where the feature is silent on them. Every classifier-style scorer draws them, and every score
records its mix.
"""

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from .errors import ScoringInputError
from .records import ActivationRecord, max_activation, normalise_token

TOP, INTERVAL, RANDOM, HARD_NEGATIVE = "top", "interval", "random", "hard_negative"
KINDS = (TOP, INTERVAL, RANDOM, HARD_NEGATIVE)

# A token counts as active from a tenth of the feature's maximum: exactly the tokens that OpenAI's 0-10
# normalisation shows as non-zero. Small positive values (GELU neurons are rarely exactly 0) stay silent.
DEFAULT_RELATIVE_THRESHOLD = 0.1


@dataclass(frozen=True)
class Example:
    record: ActivationRecord
    kind: str
    index: int  # position within its kind

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.record.tokens


@dataclass(frozen=True)
class ExampleSet:
    top: Sequence[ActivationRecord] = ()
    intervals: Sequence[ActivationRecord] = ()
    random: Sequence[ActivationRecord] = ()
    hard_negatives: Sequence[ActivationRecord] = ()
    # The feature's maximum over the whole corpus when known (the dashboard has it); otherwise the
    # maximum over these examples.
    feature_max: float | None = None
    relative_threshold: float = DEFAULT_RELATIVE_THRESHOLD
    key_tokens: tuple[str, ...] = field(default=())  # what the hard negatives were mined for

    def __post_init__(self) -> None:
        for name in ("top", "intervals", "random", "hard_negatives"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def examples(self, kinds: Iterable[str] = KINDS) -> list[Example]:
        wanted = set(kinds)
        out = []
        for kind, records in self._by_kind():
            if kind in wanted:
                out.extend(Example(record, kind, index) for index, record in enumerate(records))
        return out

    def _by_kind(self) -> Iterator[tuple[str, Sequence[ActivationRecord]]]:
        yield TOP, self.top
        yield INTERVAL, self.intervals
        yield RANDOM, self.random
        yield HARD_NEGATIVE, self.hard_negatives

    def mix(self) -> dict[str, int]:
        """How many examples of each kind, as stored on every score."""
        return {
            TOP: len(self.top),
            "intervals": len(self.intervals),
            RANDOM: len(self.random),
            "hard_negatives": len(self.hard_negatives),
        }

    @property
    def max_activation(self) -> float:
        if self.feature_max is not None and self.feature_max > 0:
            return self.feature_max
        return max_activation([example.record for example in self.examples()])

    @property
    def threshold(self) -> float:
        """Activations above this are 'active'; never below 0, so silence is exactly 0 for sparse features."""
        return max(0.0, self.relative_threshold * self.max_activation)

    def token_labels(self, record: ActivationRecord) -> list[bool]:
        threshold = self.threshold
        return [value > threshold for value in record.activations]

    def window_label(self, record: ActivationRecord) -> bool:
        return record.max_activation > self.threshold

    def without_hard_negatives(self) -> "ExampleSet":
        return replace(self, hard_negatives=())

    def __len__(self) -> int:
        return sum(len(records) for _, records in self._by_kind())


def feature_key_tokens(top: Sequence[ActivationRecord], *, limit: int = 3, min_share: float = 0.1) -> list[str]:
    """The feature's own key tokens: the (normalised) tokens at the maximum of its top examples, most
    frequent first, each at the peak of at least `min_share` of the examples."""
    peaks = Counter(normalise_token(record.tokens[record.argmax]) for record in top if record.tokens)
    peaks.pop("", None)
    needed = max(1, min_share * len(top))
    return [token for token, count in peaks.most_common() if count >= needed][:limit]


def select_hard_negatives(
    candidates: Iterable[ActivationRecord],
    key_tokens: Iterable[str],
    *,
    threshold: float,
    limit: int,
    exclude: Iterable[ActivationRecord] = (),
    seed: int = 0,
) -> list[ActivationRecord]:
    """Windows that contain a key token where the feature is silent (<= threshold) on every occurrence
    of it. Entirely silent windows come first (they are unambiguous negatives for detection); within each
    group the choice is a seeded shuffle, so the same inputs give the same negatives."""
    keys = {normalise_token(token) for token in key_tokens} - {""}
    if not keys:
        return []
    excluded = {record.tokens for record in exclude}
    silent, partly_silent, seen = [], [], set()
    for record in candidates:
        if record.tokens in excluded or record.tokens in seen:
            continue
        positions = [i for i, token in enumerate(record.tokens) if normalise_token(token) in keys]
        if not positions or any(record.activations[i] > threshold for i in positions):
            continue
        seen.add(record.tokens)
        (silent if record.max_activation <= threshold else partly_silent).append(record)
    rng = random.Random(seed)
    rng.shuffle(silent)
    rng.shuffle(partly_silent)
    return (silent + partly_silent)[:limit]


def build_example_set(
    *,
    top: Sequence[ActivationRecord],
    random_records: Sequence[ActivationRecord] = (),
    intervals: Sequence[ActivationRecord] = (),
    candidates: Iterable[ActivationRecord] = (),
    n_hard_negatives: int = 20,
    extra_key_tokens: Iterable[str] = (),
    feature_max: float | None = None,
    relative_threshold: float = DEFAULT_RELATIVE_THRESHOLD,
    seed: int = 0,
) -> ExampleSet:
    """The standard set: top, interval samples, random, and hard negatives mined from `candidates` (any
    windows with true activations: the corpus, or stored windows of other features) for the feature's
    key tokens plus `extra_key_tokens`."""
    if not top:
        raise ScoringInputError("A feature needs at least one top example to be scored.")
    base = ExampleSet(
        top=top,
        intervals=intervals,
        random=random_records,
        feature_max=feature_max,
        relative_threshold=relative_threshold,
    )
    keys = list(dict.fromkeys([*feature_key_tokens(top), *(normalise_token(t) for t in extra_key_tokens)]))
    negatives = select_hard_negatives(
        candidates,
        keys,
        threshold=base.threshold,
        limit=n_hard_negatives,
        exclude=[*top, *intervals, *random_records],
        seed=seed,
    )
    return replace(base, hard_negatives=negatives, key_tokens=tuple(keys))
