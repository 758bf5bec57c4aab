"""Naming what a feature's firing words have in common, with MiniLM: "colour words" rather than "the tokens
red, blue and navy". The firing words are compared by embedding with the names of a small vocabulary of
kinds (`KINDS`, the cheapest exact answer to "which names could a kind have"; nothing depends on its being
complete): each word's cosine with a kind's name, as a z-score against the name's cosines with common English
words (the semantic judge's `WordSimilarity.zscores`), says whether the name describes it. A kind is chosen
when it describes most of the firing (by activation count) and describes it best; otherwise there is no name,
and the explainer keeps its token list.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scoring.core.semantic import WordSimilarity, default_similarity, is_open_word

# Plain-language names, each written as an explanation would say it (it is the explanation's text).
KINDS = (
    "colour words", "numbers", "months", "days of the week", "animals", "body parts", "family members",
    "countries", "cities", "people's first names", "food", "drinks", "fruit", "vehicles", "emotions",
    "weather words", "units of measurement", "jobs and professions", "sports", "clothing", "furniture", "tools",
    "plants", "metals", "diseases", "programming terms", "files and folders", "mathematical terms",
    "legal terms", "negation words", "pronouns", "verbs of motion", "verbs of speech", "words about size",
    "places", "buildings", "money", "languages", "directions", "shapes", "materials", "words about time",
    "music", "computer hardware", "internet and networks", "errors and failures", "data types",
)  # fmt: skip
# A word is described by a name from this z-score (the semantic judge's calibration puts p = 0.5 near 2.7).
DESCRIBED_Z = 2.0
# A kind must describe this share of the firing (weighted by how often each word fires), from this many words.
MIN_COVERAGE = 0.6
MIN_WORDS = 3


@dataclass(frozen=True)
class KindName:
    name: str
    coverage: float  # the share of the firing (by count) whose word the name describes
    described: tuple[str, ...]  # the firing words it describes
    others: tuple[str, ...]  # the firing words it does not
    mean_z: float

    def to_json(self) -> dict:
        return {"name": self.name, "coverage": round(self.coverage, 3), "described": list(self.described),
                "others": list(self.others), "mean_z": round(self.mean_z, 2)}  # fmt: skip


def nameable_words(words: Sequence[str]) -> list[str]:
    """The words worth naming a kind for: open words (not function words, numbers or punctuation) of two
    letters or more."""
    return [word for word in words if len(word) >= 2 and word.isalpha() and is_open_word(word)]


def name_kind(
    words: Sequence[str], weights: Sequence[float], *, similarity: WordSimilarity | None = None,
    kinds: Sequence[str] = KINDS,
) -> KindName | None:  # fmt: skip
    """The kind that describes most of the firing words (`weights`: how often each fires) and describes them
    best, or None when none covers MIN_COVERAGE of the firing with MIN_WORDS words or more."""
    if len(words) != len(weights):
        raise ValueError("one weight per word")
    if len(set(words)) < MIN_WORDS:
        return None
    similarity = similarity or default_similarity()
    similarity.vectors(list(kinds))  # one batch for every name not cached yet, rather than one encoding each
    weight = np.asarray(weights, dtype=float)
    z = np.stack([similarity.zscores([kind], list(words)) for kind in kinds])  # (kinds, words)
    described = z >= DESCRIBED_Z
    coverage = (described * weight).sum(axis=1) / weight.sum()
    mean_z = (z * weight).sum(axis=1) / weight.sum()
    best = None
    for index in np.argsort(-mean_z, kind="stable"):
        if coverage[index] >= MIN_COVERAGE and described[index].sum() >= MIN_WORDS:
            best = int(index)
            break
    if best is None:
        return None
    return KindName(
        name=kinds[best],
        coverage=float(coverage[best]),
        described=tuple(w for w, hit in zip(words, described[best], strict=True) if hit),
        others=tuple(w for w, hit in zip(words, described[best], strict=True) if not hit),
        mean_z=float(mean_z[best]),
    )
