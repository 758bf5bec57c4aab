"""Gold Verify cards: a planted rule on real windows, so the right verdict is certain and the card looks like
any other.

A gold card must not stand out. Windows from the training camp's synthetic texts, or the camp's own planted
explanations (which every verifier has read, since Verify opens after the camp), would give it away. So a
gold card takes a real stored window of the same source as the explanations under test, and an explanation
in the words the token-statistics explainer writes (`the token "cat"`, `the token "cat" right after
"black"`), whose machine-checkable rule (explanations.core.rules) decides the answer on every token. One card
is a window where the rule fires, at the token it fires on; the other is a look-alike: the same word in
another context (or, for a plain-token rule, another word), where it does not.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from explanations.core.rules import rule_matches
from scoring.core.records import normalise_token

MIN_WORD_LENGTH = 3
MAX_TARGETS_TRIED = 30


@dataclass(frozen=True)
class GoldCard:
    window: int  # index into the windows given to plant_gold
    marked: int
    label: bool  # whether the planted rule fires on the marked token
    values: tuple[float, ...]  # the planted activations (0-10) shown once the card is answered

    @property
    def truth(self) -> float:
        return self.values[self.marked]


@dataclass(frozen=True)
class GoldSet:
    prompt: str
    rule: str
    cards: tuple[GoldCard, ...]


def whole_words(tokens: Sequence[str]) -> list[int]:
    """Positions of tokens that are whole alphabetic words (not the first token, not a piece of a longer
    word): what a reader sees as the word itself, so that a rule on it reads the same to them and to us."""
    bare = len(tokens) > 1 and not any(token[:1].isspace() for token in tokens[1:])
    positions = []
    for position in range(1, len(tokens)):
        word = tokens[position].strip()
        if len(word) < MIN_WORD_LENGTH or not word.isalpha() or not word.isascii():
            continue
        if not bare:
            following = tokens[position + 1] if position + 1 < len(tokens) else " "
            if not tokens[position][:1].isspace() or not (following[:1].isspace() or not following[:1].isalnum()):
                continue
        positions.append(position)
    return positions


def _planted_values(tokens: Sequence[str], rule: str, rng: random.Random) -> tuple[float, ...]:
    """As the camp's planted features: 4-10 where the rule fires, exactly 0 elsewhere."""
    return tuple(round(rng.uniform(4, 10), 1) if hit else 0.0 for hit in rule_matches(rule, tokens))


def _card(windows, index: int, marked: int, rule: str, rng: random.Random) -> GoldCard:
    values = _planted_values(windows[index], rule, rng)
    return GoldCard(window=index, marked=marked, label=values[marked] > 0, values=values)


def plant_gold(windows: Sequence[Sequence[str]], rng: random.Random, *, prefer: Sequence[str] = ()) -> GoldSet | None:
    """Two gold cards (one where the planted rule fires, one where it does not) in two different windows of
    `windows`, or None when the windows hold no word that allows both. Words in `prefer` (the key tokens of
    the features under test) are tried first, so a gold explanation reads like another explanation of them."""
    occurrences: dict[str, list[tuple[int, int]]] = {}
    for index, tokens in enumerate(windows):
        for position in whole_words(tokens):
            occurrences.setdefault(normalise_token(tokens[position]), []).append((index, position))
    preferred = [w for w in dict.fromkeys(normalise_token(w) for w in prefer) if w in occurrences]
    others = sorted(w for w in occurrences if w not in preferred and len(w) > MIN_WORD_LENGTH)
    rng.shuffle(preferred)
    rng.shuffle(others)
    for word in (preferred + others)[:MAX_TARGETS_TRIED]:
        planted = _in_context(windows, word, occurrences, rng) if rng.random() < 0.5 else None
        planted = planted or _plain(windows, word, occurrences, rng)
        if planted is not None:
            return planted
    return None


def _in_context(windows, word: str, occurrences, rng: random.Random) -> GoldSet | None:
    """`the token "word" right after "before"`: fires on the word after that word; the look-alike is the same
    word after another one."""
    by_before: dict[str, list[tuple[int, int]]] = {}
    for index, position in occurrences[word]:
        previous = position - 1
        if previous in whole_words(windows[index]):
            by_before.setdefault(normalise_token(windows[index][previous]), []).append((index, position))
    choices = sorted(by_before)
    rng.shuffle(choices)
    for before in choices:
        rule = f"{before} *{word}*"
        fires = by_before[before]
        for index, position in fires:
            silent = [
                (other, at)
                for other, at in occurrences[word]
                if other != index and not rule_matches(rule, windows[other])[at]
            ]
            if silent:
                other, at = rng.choice(silent)
                cards = (_card(windows, index, position, rule, rng), _card(windows, other, at, rule, rng))
                return GoldSet(prompt=f'the token "{word}" right after "{before}"', rule=rule, cards=cards)
    return None


def _plain(windows, word: str, occurrences, rng: random.Random) -> GoldSet | None:
    """`the token "word"`: fires on the word wherever it is; the other card marks another whole word (one
    that neither contains it nor is contained in it) in another window."""
    rule = f"*{word}*"
    index, position = rng.choice(occurrences[word])
    elsewhere = [
        (other, at)
        for other_word, places in occurrences.items()
        if word not in other_word and other_word not in word
        for other, at in places
        if other != index
    ]
    if not elsewhere:
        return None
    other, at = rng.choice(sorted(elsewhere))
    cards = (_card(windows, index, position, rule, rng), _card(windows, other, at, rule, rng))
    return GoldSet(prompt=f'the token "{word}"', rule=rule, cards=cards)
