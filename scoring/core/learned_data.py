"""Generated training data and held-out puzzles for the learned scorer, in families of features: each planted
rule of synthetic.py, and each word class of the lexicon (colour words, numbers, months, ...) scattered
through filler text. Every explanation here has a known literal meaning, so its targets and its true quality
(how well that meaning matches the feature) are exact. A family is either trained on or held out, never both.
"""

import random
from collections.abc import Callable, Iterable, Sequence

from .examples import ExampleSet
from .learned import Candidate, Puzzle, TrainingFeature
from .lexicon import WORD_CLASSES
from .metrics import pearson
from .records import ActivationRecord
from .synthetic import FILLER, PLANTED_RULES, RANDOM_EXPLANATION, RANDOM_WORDS, generate_corpus, planted_example_set

Meaning = Callable[[Sequence[str], int], bool]

# Plain-language names of each class, as a person would write them.
CLASS_DESCRIPTIONS = {
    "colour": ("colour words", "names of colours", "words for colours such as red or blue"),
    "number": ("numbers", "number words and digits", "words that count things"),
    "negation": ("negations", "words that negate", "negating words like not and never"),
    "weekday": ("days of the week", "weekday names"),
    "month": ("months of the year", "names of months"),
    "pronoun": ("pronouns", "personal pronouns such as he or they"),
    "article": ("articles", "the articles a, an and the"),
}
FAMILIES = tuple(rule.name for rule in PLANTED_RULES) + tuple(CLASS_DESCRIPTIONS)
HELD_OUT = ("ice-cream", "good-not-negated", "month", "number")


def _in(words: Iterable[str]) -> Meaning:
    chosen = frozenset(words)
    return lambda tokens, i: tokens[i] in chosen


def _relabel(records: Sequence[ActivationRecord], meaning: Meaning, seed: int) -> list[ActivationRecord]:
    rng = random.Random(seed)
    return [
        ActivationRecord(
            tokens=record.tokens,
            activations=tuple(
                round(rng.uniform(4, 10), 2) if meaning(record.tokens, i) else 0.0 for i in range(len(record.tokens))
            ),
        )
        for record in records
    ]


def class_corpus(name: str, *, n_windows: int, window_len: int = 24, seed: int = 0) -> list[ActivationRecord]:
    """Filler windows where about half hold one to three words of the class; activations follow the class."""
    rng = random.Random(seed)
    members = sorted(WORD_CLASSES[name])
    records = []
    for _ in range(n_windows):
        tokens = [rng.choice(FILLER) for _ in range(window_len)]
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 3)):
                tokens[rng.randrange(window_len)] = rng.choice(members)
        records.append(ActivationRecord(tokens=tuple(tokens), activations=(0.0,) * window_len))
    return _relabel(records, _in(members), seed)


def _family(name: str, *, n_windows: int, seed: int) -> tuple[list[ActivationRecord], list[tuple[str, Meaning]]]:
    """A family's corpus (true activations) and its explanations with their meanings, the true one first."""
    for rule in PLANTED_RULES:
        if rule.name == name:
            corpus = generate_corpus(rule, n_windows=n_windows, seed=seed, rates=(0.25, 0.15, 0.15))
            return corpus, list(rule.meanings().items())
    rng = random.Random(seed)
    members = WORD_CLASSES[name]
    corpus = class_corpus(name, n_windows=n_windows, seed=seed)
    seen = sorted({t for record in corpus for t, a in zip(record.tokens, record.activations, strict=True) if a > 0})
    listed = rng.sample(seen, min(2, len(seen)))
    other = rng.choice([c for c in CLASS_DESCRIPTIONS if c != name])
    explanations = [(description, _in(members)) for description in CLASS_DESCRIPTIONS[name]]
    explanations.append((f"the tokens {' and '.join(listed)}", _in(listed)))
    explanations.append((CLASS_DESCRIPTIONS[other][0], _in(WORD_CLASSES[other])))
    explanations.append((RANDOM_EXPLANATION, _in(RANDOM_WORDS)))
    return corpus, explanations


def _key(name: str) -> int:
    return sum(ord(c) for c in name)


def training_features(families: Sequence[str], *, n_windows: int = 60, seed: int = 0) -> list[TrainingFeature]:
    """Every explanation of every family paired with the activations its literal meaning gives its corpus."""
    features = []
    for family in families:
        corpus, explanations = _family(family, n_windows=n_windows, seed=seed + _key(family))
        for number, (explanation, meaning) in enumerate(explanations):
            records = _relabel(corpus, meaning, seed + number)
            if any(record.max_activation > 0 for record in records):
                features.append(TrainingFeature(name=f"{family}:{number}", explanation=explanation, records=records))
    return features


def _truth(examples: ExampleSet, meaning: Meaning) -> float:
    chosen = examples.examples()
    truth = [value for example in chosen for value in example.record.activations]
    predicted = [float(meaning(example.tokens, i)) for example in chosen for i in range(len(example.tokens))]
    value = pearson(truth, predicted)
    return value if value is not None else 0.0


def puzzles(families: Sequence[str], *, n_windows: int = 120, seed: int = 1000) -> list[Puzzle]:
    """One puzzle per family (and per plain-language phrasing of a class): its true explanation against the
    family's false ones (context-blind, a list of some tokens, another class, an unrelated topic)."""
    out = []
    for family in families:
        corpus, explanations = _family(family, n_windows=n_windows, seed=seed + _key(family))
        examples = planted_example_set(corpus, seed=seed)
        true_ones = [e for e in explanations if e[0] in CLASS_DESCRIPTIONS.get(family, ())] or explanations[:1]
        false_ones = [e for e in explanations if e not in true_ones]
        for explanation, meaning in true_ones:
            candidates = [Candidate(text, _truth(examples, m)) for text, m in [(explanation, meaning), *false_ones]]
            out.append(Puzzle(name=f"{family}: {explanation}", examples=examples, candidates=candidates))
    return out
