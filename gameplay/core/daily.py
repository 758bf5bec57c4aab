"""The feature of the day: the same for everyone, chosen by hashing the date."""

import hashlib
from collections.abc import Sequence
from datetime import date


def daily_index(day: date, count: int, *, salt: str = "neuronpedia-daily") -> int:
    """A deterministic index in range(count) for `day`: SHA-256 of the salted ISO date, modulo count."""
    if count <= 0:
        raise ValueError("there is nothing to choose from")
    digest = hashlib.sha256(f"{salt}:{day.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def daily_pick(day: date, candidates: Sequence[int]) -> int:
    """One of `candidates` (ids, in a stable order) for `day`."""
    return candidates[daily_index(day, len(candidates))]
