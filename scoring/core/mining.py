"""Where hard negatives come from when scoring a stored feature: corpus windows that contain an
explanation's key tokens. Plain Python, no Django: the adapter (scoring/stored_examples.py) feeds it stored
windows and computes the feature's true activations on the ones it picks.

An explanation's key tokens are the words it says the feature fires on, read literally as the offline judge
reads them ("cat" in "cat right after a colour word"), plus the tokens a rule marks as firing. Context words
("colour") are not key tokens: a hard negative is the key token *without* its context, where the feature
is silent.
"""

import random
from collections.abc import Iterable, Sequence

from .judges import parse_explanation
from .records import normalise_token

MAX_KEY_TOKENS = 8


def explanation_key_tokens(explanation: str, *, rule: dict | None = None, limit: int = MAX_KEY_TOKENS) -> list[str]:
    """The normalised tokens an explanation says the feature fires on, in the order it names them; a word
    class ("a number") counts as its members. `rule` is a stored rule ({"pattern", "target"}), whose target
    alternatives are key tokens too."""
    keys: list[str] = []
    if rule:
        target = rule.get("target")
        pattern = rule.get("pattern") or []
        if isinstance(target, int) and 0 <= target < len(pattern) and isinstance(pattern[target], list):
            keys += [normalise_token(str(option)) for option in pattern[target] if option is not None]
    for target in parse_explanation(explanation).targets:
        for options in target:
            keys += sorted(normalise_token(option) for option in options)
    return [key for key in dict.fromkeys(keys) if key][:limit]


class WindowTokenIndex:
    """Which windows contain which (normalised) tokens: built once per run over the stored windows of a
    corpus, then asked for the windows holding any of a feature's key tokens."""

    def __init__(self, windows: Iterable[tuple[int, Sequence[str]]]) -> None:
        self._windows: dict[str, list[int]] = {}
        self.size = 0
        for window_id, tokens in windows:
            self.size += 1
            for token in {normalise_token(token) for token in tokens}:
                if token:
                    self._windows.setdefault(token, []).append(window_id)

    def containing(
        self, keys: Iterable[str], *, exclude: Iterable[int] = (), limit: int | None = None, seed: int = 0
    ) -> list[int]:
        """Windows holding at least one key token, not in `exclude`, in a seeded random order (the same
        inputs give the same windows, so scoring again scores on the same examples)."""
        excluded = set(exclude)
        found = sorted({window for key in keys for window in self._windows.get(normalise_token(key), ())} - excluded)
        random.Random(seed).shuffle(found)
        return found if limit is None else found[:limit]
