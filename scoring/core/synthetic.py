"""Synthetic features with planted rules: a generated corpus whose true activations follow a known rule,
so a scorer can be checked against ground truth. Used by the tests, the benchmark, and (later) the game.

Each rule comes with the corpus windows that tell a context-aware explanation from a context-blind one:
positives, same-token negatives ("the cat", "cat food"), context-only windows ("black dog") and filler.
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .examples import ExampleSet, build_example_set
from .lexicon import NEGATIONS, WORD_CLASSES
from .records import ActivationRecord

COLOURS = ("black", "white", "grey", "red", "brown", "ginger")
FILLER = tuple(
    """time people way year day thing man world life hand part child eye woman place work week case point
    number group problem fact house water room mother area money story month book job word business side
    kind head friend father power hour game line end member law car city name team minute idea kid body
    information back parent face others level office door health person art war history party result
    change morning reason research girl guy moment air teacher force education river sea rain mountain
    walked talked found gave told became left felt brought began kept held stood heard let meant set met
    ran paid sat spoke lay led read grew lost fell sent built understood drew broke spent cut rose drove
    bought wore chose small large little long great big high old young early important few public bad
    same able last late hard major better social only whole free local sure clear full special easy
    across along around behind below beside between beyond during inside into near onto over through
    toward under upon within a the of and to in is was he for it with as his on be at by i""".split()
)
RANDOM_EXPLANATION = "words about rivers, the sea and rain"
RANDOM_WORDS = frozenset({"river", "sea", "rain", "rivers"})


@dataclass(frozen=True)
class PlantedRule:
    """A feature that fires where `fires(tokens, i)` holds, with sentence makers for each kind of window,
    a context-aware and a context-blind explanation and the literal meaning of each (for oracle judges)."""

    name: str
    fires: Callable[[Sequence[str], int], bool]
    positive: Callable[[random.Random], list[str]]
    same_token_negative: Callable[[random.Random], list[str]]
    context_only: Callable[[random.Random], list[str]]
    context_explanation: str
    blind_explanation: str
    blind_meaning: Callable[[Sequence[str], int], bool]

    def meanings(self) -> dict[str, Callable[[Sequence[str], int], bool]]:
        """Literal meanings of the three test explanations: context-aware, context-blind and unrelated."""
        return {
            self.context_explanation: self.fires,
            self.blind_explanation: self.blind_meaning,
            RANDOM_EXPLANATION: lambda tokens, i: tokens[i] in RANDOM_WORDS,
        }


def _pick(rng: random.Random, options: Sequence[Sequence[str]]) -> list[str]:
    return list(rng.choice(options))


def _filler(rng: random.Random) -> list[str]:
    return [rng.choice(FILLER) for _ in range(rng.randint(4, 8))] + ["."]


def _previous(tokens: Sequence[str], i: int) -> str:
    return tokens[i - 1] if i > 0 else ""


COLOUR_CAT = PlantedRule(
    name="colour-cat",
    fires=lambda tokens, i: tokens[i] == "cat" and _previous(tokens, i) in WORD_CLASSES["colour"],
    positive=lambda rng: _pick(
        rng,
        [["the", c, "cat", "sat", "down", "."] for c in COLOURS]
        + [["a", c, "cat", "ran", "off", "."] for c in COLOURS]
        + [["my", c, "cat", "sleeps", "."] for c in COLOURS],
    ),
    same_token_negative=lambda rng: _pick(
        rng,
        [
            ["the", "cat", "sat", "down", "."],
            ["cat", "food", "is", "cheap", "."],
            ["a", "big", "cat", "ran", "off", "."],
            ["feed", "the", "cat", "."],
            ["the", "old", "cat", "sleeps", "."],
        ],
    ),
    context_only=lambda rng: _pick(
        rng,
        [["the", c, "dog", "barked", "."] for c in COLOURS] + [["a", c, "car", "drove", "past", "."] for c in COLOURS],
    ),
    context_explanation="the word cat right after a colour word",
    blind_explanation="the word cat",
    blind_meaning=lambda tokens, i: tokens[i] == "cat",
)

CHAPTER_AT_START = PlantedRule(
    name="chapter-at-start",
    fires=lambda tokens, i: tokens[i] == "chapter" and i < 4,
    positive=lambda rng: _pick(
        rng, [["chapter", "one", "begins", "here", "."], ["chapter", "two", "."], ["chapter", "nine", "ends", "."]]
    ),
    same_token_negative=lambda rng: _pick(
        rng,
        [
            ["read", "the", "next", "chapter", "."],
            ["this", "chapter", "is", "long", "."],
            ["a", "chapter", "about", "war", "."],
        ],
    ),
    context_only=lambda rng: _pick(rng, [["part", "one", "begins", "here", "."], ["section", "two", "."]]),
    context_explanation="the word chapter in the first four tokens of the text",
    blind_explanation="the word chapter",
    blind_meaning=lambda tokens, i: tokens[i] == "chapter",
)

ICE_CREAM = PlantedRule(
    name="ice-cream",
    fires=lambda tokens, i: (
        (tokens[i] == "ice" and i + 1 < len(tokens) and tokens[i + 1] == "cream")
        or (tokens[i] == "cream" and _previous(tokens, i) == "ice")
    ),
    positive=lambda rng: _pick(
        rng,
        [
            ["we", "ate", "ice", "cream", "."],
            ["ice", "cream", "melts", "fast", "."],
            ["buy", "some", "ice", "cream", "."],
        ],
    ),
    same_token_negative=lambda rng: _pick(
        rng,
        [
            ["the", "ice", "was", "thin", "."],
            ["add", "sour", "cream", "."],
            ["ice", "cold", "water", "."],
            ["cream", "cheese", "spreads", "."],
        ],
    ),
    context_only=lambda rng: _pick(rng, [["we", "ate", "cake", "."], ["buy", "some", "milk", "."]]),
    context_explanation="the phrase ice cream",
    blind_explanation="the words ice and cream",
    blind_meaning=lambda tokens, i: tokens[i] in {"ice", "cream"},
)

GOOD_NOT_NEGATED = PlantedRule(
    name="good-not-negated",
    fires=lambda tokens, i: tokens[i] == "good" and not any(t in NEGATIONS for t in tokens[max(0, i - 3) : i]),
    positive=lambda rng: _pick(
        rng, [["the", "food", "was", "good", "."], ["a", "good", "day", "."], ["that", "is", "very", "good", "."]]
    ),
    same_token_negative=lambda rng: _pick(
        rng,
        [
            ["the", "food", "was", "not", "good", "."],
            ["it", "is", "never", "good", "."],
            ["no", "good", "came", "of", "it", "."],
            ["not", "very", "good", "."],
        ],
    ),
    context_only=lambda rng: _pick(
        rng, [["the", "food", "was", "not", "bad", "."], ["it", "is", "never", "late", "."]]
    ),
    context_explanation="the word good unless it is negated",
    blind_explanation="the word good",
    blind_meaning=lambda tokens, i: tokens[i] == "good",
)

PLANTED_RULES = (COLOUR_CAT, CHAPTER_AT_START, ICE_CREAM, GOOD_NOT_NEGATED)


def generate_corpus(
    rule: PlantedRule,
    *,
    n_windows: int = 400,
    window_len: int = 24,
    seed: int = 0,
    rates: tuple[float, float, float] = (0.08, 0.04, 0.08),
) -> list[ActivationRecord]:
    """Windows of `window_len` tokens: each holds one positive, same-token-negative or context-only sentence
    (at the given rates) or none, placed among filler sentences; activations follow the planted rule (4-10
    where it fires, exactly 0 elsewhere)."""
    rng = random.Random(seed)
    makers = (rule.positive, rule.same_token_negative, rule.context_only)
    records = []
    for _ in range(n_windows):
        roll, special = rng.random(), None
        for maker, rate in zip(makers, rates, strict=True):
            if roll < rate:
                special = maker
                break
            roll -= rate
        # Enough filler sentences (of 5 to 9 tokens) to fill the window even without a special one.
        sentences = [_filler(rng) for _ in range(max(6, window_len // 5 + 1))]
        if special is not None:
            sentences.insert(rng.randint(0, 2), special(rng))
        tokens = [token for sentence in sentences for token in sentence][:window_len]
        activations = [round(rng.uniform(4, 10), 2) if rule.fires(tokens, i) else 0.0 for i in range(len(tokens))]
        records.append(ActivationRecord(tokens=tuple(tokens), activations=tuple(activations)))
    return records


def planted_example_set(
    corpus: Sequence[ActivationRecord], *, n_top: int = 20, n_random: int = 20, n_hard: int = 20, seed: int = 0
) -> ExampleSet:
    """Examples as the pipeline draws them: the top windows by max activation, a uniform random sample of
    the corpus, and hard negatives mined from the rest of the corpus for the feature's key tokens."""
    ranked = sorted(range(len(corpus)), key=lambda i: (-corpus[i].max_activation, i))
    top = [corpus[i] for i in ranked[:n_top] if corpus[i].max_activation > 0]
    random_records = random.Random(seed).sample(list(corpus), n_random)
    return build_example_set(
        top=top, random_records=random_records, candidates=corpus, n_hard_negatives=n_hard, seed=seed
    )
