import numpy as np
import pytest

from scoring.core.embedding import SentenceEmbedder
from scoring.core.errors import ScoringInputError
from scoring.core.examples import ExampleSet
from scoring.core.records import ActivationRecord
from scoring.core.scorers import EmbeddingScorer, get_scorer


def window(text: str, active: bool) -> ActivationRecord:
    tokens = text.split()
    return ActivationRecord(tokens, [5.0 if active and i == len(tokens) - 1 else 0.0 for i in range(len(tokens))])


CATS = ExampleSet(
    top=[window("the kitten purred on the sofa", True), window("my cat chased a mouse", True)],
    random=[window("interest rates rose at the central bank", False), window("the train left the station", False)],
)


def test_the_embedding_score_is_the_auc_of_similarity_with_the_local_minilm():
    result = get_scorer("embedding").score("cats and kittens", CATS)
    assert result.value == 1.0
    assert result.details["embedder"] == "all-MiniLM-L6-v2"
    similarities = result.details["mean_similarity_by_kind"]
    assert similarities["top"] > similarities["random"]
    assert get_scorer("embedding").score("banks and money", CATS).value < 0.5


def test_the_embedder_encodes_each_text_once_and_keeps_its_cache_bounded():
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.eye(8, dtype=np.float32)[[len(text) % 8 for text in texts]]

    embedder = SentenceEmbedder(encode, cache_size=3)
    embedder.embed(["a", "bb", "a"])
    embedder.embed(["bb", "ccc"])
    assert calls == [["a", "bb"], ["ccc"]]
    embedder.embed(["dddd", "a"])
    assert len(embedder._cache) == 3


def test_embedding_needs_active_and_silent_windows():
    scorer = EmbeddingScorer(embedder=SentenceEmbedder(lambda texts: np.ones((len(texts), 2), dtype=np.float32)))
    with pytest.raises(ScoringInputError, match="both active and silent"):
        scorer.score("cats", ExampleSet(top=list(CATS.top)))


def test_long_windows_are_embedded_around_their_focus():
    scorer = EmbeddingScorer(max_tokens=4)
    firing = window("w0 w1 w2 w3 w4 w5 black cat w8 w9", False)
    firing = ActivationRecord(firing.tokens, [0] * 7 + [5.0, 0, 0])
    silent = window("v0 v1 v2 v3 v4 v5 v6 the cat v9", False)
    examples = ExampleSet(top=[firing], hard_negatives=[silent], key_tokens=("cat",))
    texts = [scorer.focus_text(example, examples, {"cat"}) for example in examples.examples()]
    assert texts == ["w5 black cat w8", "v6 the cat v9"]
