"""The offline explainer: which tokens, and which short contexts, are over-represented where the feature
fires compared with the corpus (every record given, top and random alike). No LLM.

It finds the main tokens (most of the firing, and firing on most of their occurrences), then asks whether
context separates their firing occurrences from their silent ones: the token just before (a colour word),
the token just after, a phrase of two firing tokens, a negation shortly before, or a position near the
start of the text. The sentence it writes is one the offline judge reads back literally, and where the
finding is exact it also writes a machine-checkable rule.

When no context separates them and the firing is spread over several words, it asks MiniLM what those words
have in common (kinds.py: "colour words" rather than "the tokens red, blue and navy"), and keeps the name
only when the default offline judge, reading it, follows the feature's activations at least as well as it
follows the token list (the correlation of its simulation with them over the records): a name that reaches
too far loses to the list.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scoring.core.judges import Judge
from scoring.core.lexicon import NEGATIONS, word_class_of
from scoring.core.offline_judges import default_offline_judge
from scoring.core.records import ActivationRecord, normalise_token
from scoring.core.semantic import WordSimilarity

from .base import Explainer, ExplainerError, GeneratedExplanation, active_records, register_explainer
from .kinds import name_kind, nameable_words

CLASS_DESCRIPTIONS = {
    "colour": "a colour word",
    "number": "a number",
    "negation": "a negation",
    "weekday": "a day of the week",
    "month": "a month",
    "pronoun": "a pronoun",
    "article": "an article",
}
RULE_SPECIAL = set("*?|[]\\")
# The firing words a kind is named for: the most frequent, at most this many.
KIND_WORDS = 12


@dataclass
class Occurrence:
    record: ActivationRecord
    words: list[str]
    position: int
    active: bool

    def word(self, offset: int) -> str:
        i = self.position + offset
        return self.words[i] if 0 <= i < len(self.words) else ""


def _quote(words: Sequence[str], conjunction: str = "or") -> str:
    quoted = [f'"{word}"' for word in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" {conjunction} " + quoted[-1]


def _rule_word(word: str) -> str:
    return "".join("\\" + char if char in RULE_SPECIAL else char for char in word)


def _rule_set(words: Sequence[str]) -> str:
    return _rule_word(words[0]) if len(words) == 1 else "[" + "|".join(_rule_word(w) for w in words) + "]"


@register_explainer("token-stats")
class TokenStatsExplainer(Explainer):
    def __init__(
        self, *, high_fraction: float = 0.25, max_tokens: int = 3, min_coverage: float = 0.1, min_lift: float = 2.0,
        name_kinds: bool = True, similarity: WordSimilarity | None = None, judge: Judge | None = None,
    ) -> None:  # fmt: skip
        self.high_fraction = high_fraction  # a token fires when above this share of the maximum
        self.max_tokens = max_tokens
        self.min_coverage = min_coverage
        self.min_lift = min_lift
        self.name_kinds = name_kinds  # name what the firing words have in common (kinds.py), when it reads better
        self.similarity = similarity  # MiniLM word similarity (the semantic judge's default unless given)
        self.judge = judge  # what checks a name against the token list (the default offline judge unless given)

    def explain(self, records, *, max_activation=None) -> GeneratedExplanation:
        _, peak = active_records(records, max_activation)
        threshold = self.high_fraction * peak
        occurrences: dict[str, list[Occurrence]] = {}
        for record in records:
            words = [normalise_token(token) for token in record.tokens]
            for position, word in enumerate(words):
                if word:
                    occurrence = Occurrence(record, words, position, record.activations[position] > threshold)
                    occurrences.setdefault(word, []).append(occurrence)
        total = sum(len(found) for found in occurrences.values())
        high = sum(o.active for found in occurrences.values() for o in found)
        if high == 0:
            raise ExplainerError("No token fires strongly enough to explain.")

        stats = []
        for word, found in occurrences.items():
            fired = sum(o.active for o in found)
            if fired:
                precision = fired / len(found)
                stats.append(
                    {
                        "token": word,
                        "active": fired,
                        "count": len(found),
                        "precision": round(precision, 3),
                        "lift": round(precision / (high / total), 2),
                        "coverage": round(fired / high, 3),
                    }
                )
        stats.sort(key=lambda s: (-s["coverage"] * s["precision"], s["token"]))
        main = [s["token"] for s in stats if s["coverage"] >= self.min_coverage and s["lift"] >= self.min_lift]
        main = main[: self.max_tokens] or [stats[0]["token"]]

        found = [o for word in main for o in occurrences[word]]
        text, rule, context = self._describe(main, found)
        metadata = {"threshold": round(threshold, 4), "tokens": stats[:10], "context": context, "records": len(records)}
        if self.name_kinds and context["kind"] == "none":
            named = self._name_kind(stats, records, text)
            if named is not None:
                metadata["kind"] = named
                if named["chosen"]:
                    text, rule = named["name"], None
        return GeneratedExplanation(text=text, method=self.name, model="token statistics", rule=rule, metadata=metadata)

    def _name_kind(self, stats: list[dict], records: Sequence[ActivationRecord], listed: str) -> dict | None:
        """A kind named for the firing words, and whether the judge reads it closer to the activations than
        the token list `listed`; None when there are too few words or no kind describes them."""
        firing = [s for s in sorted(stats, key=lambda s: (-s["active"], s["token"])) if s["lift"] >= self.min_lift]
        words = nameable_words([s["token"] for s in firing])[:KIND_WORDS]
        counts = {s["token"]: s["active"] for s in firing}
        kind = name_kind(words, [counts[w] for w in words], similarity=self.similarity)
        if kind is None:
            return None
        judge = self.judge or default_offline_judge()
        named_fit, listed_fit = (_judged_fit(judge, text, records) for text in (kind.name, listed))
        return {**kind.to_json(), "judged_fit": round(named_fit, 4), "list_fit": round(listed_fit, 4),
                "chosen": named_fit >= listed_fit}  # fmt: skip

    def _describe(self, main: list[str], found: list[Occurrence]) -> tuple[str, str | None, dict]:
        fired = [o for o in found if o.active]
        silent = [o for o in found if not o.active]
        target = f"the token {_quote(main)}" if len(main) == 1 else f"the tokens {_quote(main, 'and')}"
        simple_rule = "*" + _rule_set(main) + "*"
        if len(silent) <= 0.1 * len(found):
            return target, simple_rule, {"kind": "none"}

        # Two main tokens that fire together as a phrase.
        if len(main) >= 2:
            pairs = Counter((o.words[o.position], o.word(1)) for o in fired if o.word(1) in main)
            if pairs:
                (first, second), together = pairs.most_common(1)[0]
                firing_pair = sum(o.word(0) in (first, second) for o in fired)
                if first != second and together * 2 >= 0.8 * firing_pair:
                    return f'the phrase "{first} {second}"', None, {"kind": "phrase", "phrase": [first, second]}

        for offset, relation in ((-1, "right after"), (1, "right before")):
            words = self._separating_neighbours(fired, silent, offset)
            if words:
                cls = word_class_of(set(words))
                described = f"{CLASS_DESCRIPTIONS[cls]} ({_quote(words)})" if cls else _quote(words)
                rule = None
                if all(" " not in word for word in [*words, *main]):
                    rule = (
                        f"{_rule_set(words)} *{_rule_set(main)}*"
                        if offset < 0
                        else f"*{_rule_set(main)}* {_rule_set(words)}"
                    )
                return f"{target} {relation} {described}", rule, {"kind": relation, "words": words, "class": cls}

        def negated(o: Occurrence) -> bool:
            return any(o.word(-k) in NEGATIONS for k in (1, 2, 3))

        negated_fired = sum(negated(o) for o in fired)
        negated_silent = sum(negated(o) for o in silent)
        if negated_silent >= 2 and negated_fired <= 0.1 * len(fired) and negated_silent >= 0.8 * len(silent):
            return f"{target}, unless it is negated", None, {"kind": "unless negated"}

        last = max(o.position for o in fired)
        if last < 8 and sum(o.position > last for o in silent) >= 0.8 * len(silent):
            where = "as the first token of the text" if last == 0 else f"in the first {last + 1} tokens of the text"
            return f"{target} {where}", None, {"kind": "position", "first": last + 1}
        return target, simple_rule, {"kind": "none"}

    @staticmethod
    def _separating_neighbours(fired: list[Occurrence], silent: list[Occurrence], offset: int) -> list[str]:
        """Neighbour words (at `offset`) that come with firing occurrences and almost never with silent
        ones, if together they account for at least 80% of the firing."""
        with_fired = Counter(o.word(offset) for o in fired)
        with_silent = Counter(o.word(offset) for o in silent)
        chosen = [w for w, n in with_fired.most_common() if w and n >= 0.8 * (n + with_silent[w]) and n >= 1]
        covered = sum(with_fired[w] for w in chosen)
        leaked = sum(with_silent[w] for w in chosen)
        if covered >= 0.8 * len(fired) and leaked <= 0.1 * len(silent) and len(chosen) <= 8:
            return sorted(chosen)
        return []


def _judged_fit(judge: Judge, text: str, records: Sequence[ActivationRecord]) -> float:
    """How closely the judge's reading of `text` follows the activations: the Pearson correlation of its
    simulation with them over every token of `records` (the simulation scorer's measure); 0 when either is
    constant."""
    simulated = np.concatenate(
        [np.asarray(row, dtype=float) for row in judge.simulate(text, [r.tokens for r in records])]
    )
    true = np.concatenate([np.asarray(r.activations, dtype=float) for r in records])
    if simulated.std() == 0 or true.std() == 0:
        return 0.0
    return float(np.corrcoef(simulated, true)[0, 1])
