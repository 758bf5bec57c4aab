"""A feature's held-out pool: which stored windows its Predict and Verify cards may come from, and how the
feature's true activations on them are kept between rounds.

The windows are drawn from a scan of the model's stored windows (never the ones the feature's page shows):
those holding one of the feature's key tokens make up to two thirds, as that is where it fires and where its
look-alikes are; plain windows fill the rest. Their values are computed once for a whole source in batches
(gameplay/services/held_out.py) or live by the first round that finds none, and packed into one blob.

Packing: one float32 per token, window after window. The game's 0-10 scale starts at 0 (core/predict.py
clips below), so a negative activation is kept as 0, which lets dense MLP rows compress; the one negative
value left, -1, marks a special token ([CLS], BOS), which is never a card. No Django here.
"""

import zlib
from collections.abc import Collection, Sequence

import numpy as np

from scoring.core.records import normalise_token

SPECIAL = -1.0  # marks a special token in a packed pool


def normalised_tokens(tokens: Sequence[str]) -> frozenset[str]:
    """A window's tokens as key tokens are compared (scoring.core.records.normalise_token), once per window."""
    return frozenset(normalise_token(token) for token in tokens)


def held_out_choice(windows: Sequence[Collection[str]], keys: Collection[str], *, size: int) -> list[int]:
    """Indexes of up to `size` of `windows` (the normalised tokens of each, in a seeded random order): those
    holding a key token first, up to two thirds, then plain ones, then more keyed ones if plain ones run short."""
    keys = {normalise_token(key) for key in keys}
    keyed, plain = [], []
    for index, tokens in enumerate(windows):
        (keyed if not keys.isdisjoint(tokens) else plain).append(index)
    n_keyed = min(len(keyed), size * 2 // 3)
    chosen = keyed[:n_keyed] + plain[: size - n_keyed]
    return chosen + keyed[n_keyed : n_keyed + size - len(chosen)]


def pack_pool(values: Sequence[Sequence[float]], content: Sequence[Sequence[bool]]) -> bytes:
    """One blob for a pool's windows: each window's values (negatives as 0, special tokens as SPECIAL)."""
    rows = []
    for row_values, row_content in zip(values, content, strict=True):
        row = np.maximum(np.asarray(row_values, dtype="<f4"), 0.0)
        row[~np.asarray(row_content, dtype=bool)] = SPECIAL
        rows.append(row)
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype="<f4")
    return zlib.compress(np.ascontiguousarray(flat, dtype="<f4").tobytes(), 6)


def unpack_pool(blob: bytes, lengths: Sequence[int]) -> list[tuple[list[float], list[bool]]]:
    """(values, content) of each window of a packed pool, given each window's number of tokens. Raises
    ValueError when the blob does not hold exactly that many values."""
    flat = np.frombuffer(zlib.decompress(bytes(blob)), dtype="<f4")
    if flat.size != sum(lengths):
        raise ValueError(f"the pool holds {flat.size} values, its windows {sum(lengths)} tokens")
    out, start = [], 0
    for length in lengths:
        row = flat[start : start + length]
        start += length
        content = row != SPECIAL
        out.append((np.where(content, row, 0.0).tolist(), content.tolist()))
    return out
