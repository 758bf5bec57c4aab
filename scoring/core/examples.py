"""The examples a score is computed on, and the hard negatives that make scores respect context.

A feature that fires on "cat" only after a colour word has top examples full of "black cat" and random
examples that rarely contain "cat" at all, so "the word cat" explains both as well as "cat after a colour
word" does. Hard negatives fix that: windows that contain the feature's own key tokens ("the cat", "cat
food") where the feature is silent on them. Every classifier-style scorer draws them, and every score
records its mix.

A dense feature fires somewhere in nearly every window of 128 tokens, so whole windows leave a classifier
nothing silent to tell apart. Such a feature is scored on spans of SPAN_TOKENS tokens instead: each active
example cut around its peak, each random window and hard negative cut where the feature is silent throughout,
and the score's mix says so (`span_tokens`).
"""

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .errors import ScoringInputError
from .records import ActivationRecord, max_activation, normalise_token

TOP, INTERVAL, RANDOM, HARD_NEGATIVE = "top", "interval", "random", "hard_negative"
KINDS = (TOP, INTERVAL, RANDOM, HARD_NEGATIVE)

# A token counts as active from a tenth of the feature's maximum: exactly the tokens that OpenAI's 0-10
# normalisation shows as non-zero. Small positive values (GELU neurons are rarely exactly 0) stay silent.
DEFAULT_RELATIVE_THRESHOLD = 0.1
# Fewer silent windows than this, and the feature is scored on spans (see the module's docstring).
MIN_SILENT_WINDOWS = 3
SPAN_TOKENS = 32


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
    # Set when the examples are spans cut from windows: their length, and each span's window and start
    # (span tokens -> (window tokens, start)), so that what a scorer saw can be shown in its window.
    span_tokens: int | None = None
    span_origin: Mapping[tuple[str, ...], tuple[tuple[str, ...], int]] = field(default_factory=dict, compare=False)

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
        mix = {
            TOP: len(self.top),
            "intervals": len(self.intervals),
            RANDOM: len(self.random),
            "hard_negatives": len(self.hard_negatives),
        }
        if self.span_tokens:
            mix["span_tokens"] = self.span_tokens
        return mix

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
    key tokens plus `extra_key_tokens`. A feature with fewer than MIN_SILENT_WINDOWS silent windows among them
    is scored on spans (`spans_of_dense_feature`) when that gives it more silent examples."""
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
    windows = replace(base, hard_negatives=negatives, key_tokens=tuple(keys))
    if silent_count(windows) >= MIN_SILENT_WINDOWS:
        return windows
    spans = spans_of_dense_feature(windows)
    return spans if silent_count(spans) > silent_count(windows) else windows


def silent_count(examples: ExampleSet) -> int:
    return sum(not examples.window_label(example.record) for example in examples.examples())


def spans_of_dense_feature(examples: ExampleSet, *, span_tokens: int = SPAN_TOKENS) -> ExampleSet:
    """The example set cut into spans of `span_tokens`: active examples around their peak (so every one stays
    active), random windows at their first silent stretch of that length, hard negatives around a silent key
    token with nothing active in the span. Windows with no such stretch are left out; windows no longer than
    a span stay whole. The feature's threshold stays that of the whole set (its maximum is the feature's)."""
    threshold = examples.threshold
    keys = {normalise_token(token) for token in examples.key_tokens} - {""}
    origin: dict[tuple[str, ...], tuple[tuple[str, ...], int]] = {}

    def cut(record: ActivationRecord, start: int | None) -> list[ActivationRecord]:
        if start is None:
            return []
        if len(record.tokens) <= span_tokens:
            return [record]
        end = start + span_tokens
        span = ActivationRecord(record.tokens[start:end], record.activations[start:end])
        origin.setdefault(span.tokens, (record.tokens, start))
        return [span]

    def around(record: ActivationRecord, position: int) -> int:
        """The start of the span centred on `position`, inside the window."""
        return max(0, min(position - span_tokens // 2, len(record.tokens) - span_tokens))

    def is_silent(record: ActivationRecord, start: int) -> bool:
        return all(value <= threshold for value in record.activations[start : start + span_tokens])

    def first_silent_stretch(record: ActivationRecord) -> int | None:
        if len(record.tokens) <= span_tokens:
            return 0 if is_silent(record, 0) else None
        run = 0
        for position, value in enumerate(record.activations):
            run = run + 1 if value <= threshold else 0
            if run == span_tokens:
                return position - span_tokens + 1
        return None

    def silent_around_key_token(record: ActivationRecord) -> int | None:
        for position, token in enumerate(record.tokens):
            if normalise_token(token) in keys and is_silent(record, around(record, position)):
                return around(record, position)
        return None

    def active(records: Sequence[ActivationRecord]) -> list[ActivationRecord]:
        return [span for record in records for span in cut(record, around(record, record.argmax))]

    def silent(records: Sequence[ActivationRecord], find_start) -> list[ActivationRecord]:
        return [span for record in records for span in cut(record, find_start(record))]

    intervals = [record for record in examples.intervals if examples.window_label(record)]
    quiet_intervals = [record for record in examples.intervals if not examples.window_label(record)]
    return replace(
        examples,
        top=active(examples.top),
        intervals=active(intervals) + silent(quiet_intervals, first_silent_stretch),
        random=silent(examples.random, first_silent_stretch),
        hard_negatives=silent(examples.hard_negatives, silent_around_key_token),
        feature_max=examples.max_activation,
        span_tokens=span_tokens,
        span_origin=origin,
    )
