"""The training camp: a ladder of synthetic features whose rule we planted, so every answer has a known
right answer. Rungs go from a plain word to the context traps that real features set: a word only after
a colour, a word only when not negated, a word only at the start of the text, a two-token phrase.

Each rung's items are generated here (seeded, so a round can be rebuilt from its seed): the marked token of
a window and the planted activation there. Items mix what fires (positives), what looks the same but is
silent (look-alikes: the same word in the wrong context), the context without the word, and filler, so
a player who ignores context, or who always answers high or always zero, loses.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from scoring.core.examples import ExampleSet, build_example_set
from scoring.core.records import ActivationRecord, normalise_token
from scoring.core.synthetic import (
    CHAPTER_AT_START,
    COLOUR_CAT,
    FILLER,
    GOOD_NOT_NEGATED,
    ICE_CREAM,
    PlantedRule,
    generate_corpus,
)

WINDOW_LEN = 18
ROUND_MIX = {"positive": 4, "lookalike": 3, "context": 2, "filler": 1}
# A rung is passed at this camp score (the best of its Predict skill and its Explain skill, 0-1); the next
# rung opens when the one before is passed.
RUNG_PASS = 0.6


def _choose(rng: random.Random, options: Sequence[Sequence[str]]) -> list[str]:
    return list(rng.choice(options))


PLAIN_DOG = PlantedRule(
    name="plain-dog",
    fires=lambda tokens, i: tokens[i] == "dog",
    positive=lambda rng: _choose(
        rng,
        [
            ["the", "dog", "barked", "."],
            ["a", "dog", "ran", "home", "."],
            ["my", "dog", "sleeps", "."],
            ["walk", "the", "dog", "."],
        ],
    ),  # fmt: skip
    same_token_negative=lambda rng: _choose(
        rng, [["the", "puppy", "barked", "."], ["a", "wolf", "ran", "home", "."], ["my", "cat", "sleeps", "."]]
    ),
    context_only=lambda rng: _choose(rng, [["the", "bird", "sang", "."], ["a", "horse", "ran", "home", "."]]),
    context_explanation="the word dog",
    blind_explanation="animals like puppies, wolves and cats",
    blind_meaning=lambda tokens, i: tokens[i] in {"puppy", "wolf", "cat", "bird", "horse", "dog"},
)


@dataclass(frozen=True)
class Rung:
    slug: str
    title: str
    rule: PlantedRule
    key_words: frozenset[str]  # the word(s) the rule fires on: look-alikes are marked there
    context_words: frozenset[str]  # marked in windows that have the context but not the word
    brief: str  # shown before playing
    lesson: str  # shown with the reveal

    @property
    def explanation(self) -> str:
        """The planted rule in words: the right answer, and the explanation of gold Verify cards."""
        return self.rule.context_explanation


RUNGS: tuple[Rung, ...] = (
    Rung(
        slug="plain-word",
        title="A plain word",
        rule=PLAIN_DOG,
        key_words=frozenset({"puppy", "wolf", "cat"}),
        context_words=frozenset({"bird", "horse"}),
        brief="This feature fires on one word. Which one, and does anything else wake it up?",
        lesson="Some features are exactly what they look like: this one fires on the word dog, wherever it is, "
        "and on nothing else, not even puppy or wolf. Start with the simplest explanation that fits, then look "
        "for the exceptions.",
    ),
    Rung(
        slug="colour-cat",
        title="A word after a colour",
        rule=COLOUR_CAT,
        key_words=frozenset({"cat"}),
        context_words=frozenset({"dog", "car"}),
        brief="This one fires on cat, but not on every cat. Watch the word just before it.",
        lesson="Context matters: cat fires only right after a colour word (black cat, ginger cat). The cat, cat "
        "food and a big cat stay silent, and so does a black dog. 'The word cat' would be wrong on every silent "
        "cat; name the context.",
    ),
    Rung(
        slug="not-negated",
        title="A word unless negated",
        rule=GOOD_NOT_NEGATED,
        key_words=frozenset({"good"}),
        context_words=frozenset({"bad", "late"}),
        brief="This feature likes the word good, most of the time. When does it stay quiet?",
        lesson="Negation flips it: good fires unless not, never or no comes within the three tokens before it. "
        "'Not very good' is silent. Real features often track meaning like this, not just spelling.",
    ),
    Rung(
        slug="position",
        title="A word at the start",
        rule=CHAPTER_AT_START,
        key_words=frozenset({"chapter"}),
        context_words=frozenset({"part", "section"}),
        brief="Chapter, but where? Look at where the word sits in the window.",
        lesson="A position rule: chapter fires only in the first four tokens of the text, as in a heading. "
        "'Read the next chapter' further on is silent. Features can know where they are in the sequence.",
    ),
    Rung(
        slug="phrase",
        title="A two-token phrase",
        rule=ICE_CREAM,
        key_words=frozenset({"ice", "cream"}),
        context_words=frozenset({"cake", "milk"}),
        brief="Two words that only count together.",
        lesson="A phrase: ice and cream fire only together, as 'ice cream', on both tokens. Thin ice and sour "
        "cream are silent. When a feature fires on several tokens in a row, check whether it needs all of them.",
    ),
)
BY_SLUG = {rung.slug: rung for rung in RUNGS}


@dataclass(frozen=True)
class SyntheticItem:
    """A window of a planted-rule feature with one marked token, and the planted activations (0-10)."""

    tokens: tuple[str, ...]
    activations: tuple[float, ...]
    marked: int
    kind: str  # positive, lookalike, context or filler

    @property
    def value(self) -> float:
        return self.activations[self.marked]

    @property
    def label(self) -> bool:
        return self.value > 0


def _filler_sentence(rng: random.Random) -> list[str]:
    return [rng.choice(FILLER) for _ in range(rng.randint(4, 8))] + ["."]


def _window(rng: random.Random, sentence: list[str], *, first: bool) -> tuple[list[str], int]:
    """A window holding `sentence` (first, or after one filler sentence half of the time) among filler;
    returns the tokens and where the sentence starts."""
    prefix = [] if first or rng.random() < 0.5 else _filler_sentence(rng)
    tokens = prefix + sentence
    while len(tokens) < WINDOW_LEN:
        tokens += _filler_sentence(rng)
    return tokens[:WINDOW_LEN], len(prefix)


def _activations(rule: PlantedRule, tokens: Sequence[str], rng: random.Random) -> tuple[float, ...]:
    """As scoring.core.synthetic.generate_corpus: 4-10 where the rule fires, exactly 0 elsewhere."""
    return tuple(round(rng.uniform(4, 10), 1) if rule.fires(tokens, i) else 0.0 for i in range(len(tokens)))


def make_item(rung: Rung, kind: str, rng: random.Random) -> SyntheticItem:
    """One item of the given kind; the truth always comes from the rule on the final window."""
    for _ in range(50):
        if kind == "filler":
            tokens, _ = _window(rng, _filler_sentence(rng), first=False)
            values = _activations(rung.rule, tokens, rng)
            choices = [i for i, t in enumerate(tokens) if t != "." and values[i] == 0]
        else:
            maker = {
                "positive": rung.rule.positive,
                "lookalike": rung.rule.same_token_negative,
                "context": rung.rule.context_only,
            }[kind]
            sentence = maker(rng)
            # A position rule only fires near the start: put its positives first.
            tokens, start = _window(rng, sentence, first=kind == "positive" and rung.slug == "position")
            values = _activations(rung.rule, tokens, rng)
            span = range(start, min(len(tokens), start + len(sentence)))
            if kind == "positive":
                choices = [i for i in span if values[i] > 0]
            else:
                wanted = rung.key_words if kind == "lookalike" else rung.context_words
                choices = [i for i in span if normalise_token(tokens[i]) in wanted and values[i] == 0]
        if choices:
            return SyntheticItem(tuple(tokens), values, rng.choice(choices), kind)
    raise RuntimeError(f"could not make a {kind} item for {rung.slug}")  # pragma: no cover - the sentences allow it


def rung_items(rung: Rung, *, seed: int, mix: dict[str, int] | None = None) -> list[SyntheticItem]:
    """A round's items, in a shuffled order: by default 4 positives, 3 look-alikes, 2 context-only, 1 filler."""
    rng = random.Random(seed)
    items = [make_item(rung, kind, rng) for kind, count in (mix or ROUND_MIX).items() for _ in range(count)]
    rng.shuffle(items)
    return items


def rung_example_set(rung: Rung, *, seed: int = 0) -> ExampleSet:
    """The examples an Explain answer on this rung is scored on: top windows, random windows and hard
    negatives (the word, silent) drawn from a generated corpus, as the pipeline would draw them."""
    corpus = generate_corpus(rung.rule, n_windows=200, window_len=24, seed=seed, rates=(0.1, 0.1, 0.08))
    ranked = sorted(range(len(corpus)), key=lambda i: (-corpus[i].max_activation, i))
    top = [corpus[i] for i in ranked[:12] if corpus[i].max_activation > 0]
    # Hard negatives are mined for the rung's look-alike words too: a plain word's feature has no silent
    # occurrence of its own word, and "animals" must be tested on the silent puppy and wolf.
    return build_example_set(
        top=top, random_records=random.Random(seed).sample(corpus, 12), candidates=corpus, n_hard_negatives=12,
        extra_key_tokens=sorted(rung.key_words), seed=seed,
    )  # fmt: skip


def shown_examples(examples: ExampleSet, *, n_top: int = 8, n_random: int = 4) -> list[ActivationRecord]:
    """What the player sees before explaining: the strongest windows and a few random ones."""
    return [*examples.top[:n_top], *examples.random[:n_random]]


@dataclass(frozen=True)
class CampProgress:
    scores: dict[str, float]  # best camp score (0-1) per rung slug
    open_rungs: tuple[str, ...]
    passed: tuple[str, ...]
    skill: float  # mean over all rungs, missing rungs counting 0
    graduated: bool


def camp_progress(best: dict[str, float], *, unlock_skill: float) -> CampProgress:
    """Where a player stands: rungs open in order (the next opens when the one before is passed), and real
    features unlock once the camp skill (mean best score over every rung) reaches `unlock_skill`."""
    scores = {rung.slug: max(0.0, min(1.0, best.get(rung.slug, 0.0))) for rung in RUNGS}
    open_rungs, passed = [], []
    for rung in RUNGS:
        open_rungs.append(rung.slug)
        if scores[rung.slug] < RUNG_PASS:
            break
        passed.append(rung.slug)
    passed += [slug for slug in scores if scores[slug] >= RUNG_PASS and slug not in passed]
    skill = sum(scores.values()) / len(RUNGS)
    return CampProgress(
        scores=scores, open_rungs=tuple(open_rungs), passed=tuple(passed), skill=skill, graduated=skill >= unlock_skill
    )
