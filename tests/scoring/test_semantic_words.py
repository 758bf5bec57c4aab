"""The semantic judge's word-vector store: saved and loaded without pickle, looked up before the encoder (with
the same probabilities), filled from the stored windows by `manage.py semantic_words`, and warmed."""

import io
import zlib

import numpy as np
import pytest
from django.core.management import call_command

from features.models import ContextWindow
from scoring.core import semantic
from scoring.core.records import normalise_token
from scoring.core.semantic import TEMPLATES, SemanticJudge, WordSimilarity, read_store, save_store, window_words
from scoring.explainers.kinds import nameable_words

DIM = 16


class CountingEncoder:
    """A deterministic stand-in for MiniLM: a unit vector seeded by the text; it remembers what it encoded."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts):
        self.texts.extend(texts)
        rows = [np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM) for text in texts]
        return np.array([row / np.linalg.norm(row) for row in rows], dtype=np.float32)


WINDOWS = [
    "The red car stopped near the blue house",
    "She painted the fence green and white yesterday",
    "not every apple is red , some are yellow",
]


def tokens(text: str) -> list[str]:
    return text.split()


def test_the_store_round_trips_without_pickle(tmp_path):
    path = tmp_path / "words.npz"
    words = ["red", "blue", "éclair"]
    vectors = np.arange(len(words) * len(TEMPLATES) * DIM, dtype=np.float32).reshape(len(words), len(TEMPLATES), DIM)
    save_store(path, words, vectors)
    with np.load(path, allow_pickle=False) as data:  # raises if anything in it needs pickle
        assert data["words"].dtype.kind == "U" and data["vectors"].dtype == np.float32
    loaded_words, loaded = read_store(path)
    assert loaded_words == words
    np.testing.assert_array_equal(loaded, vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["words.npz"]  # the temporary file was renamed, not left
    assert path.stat().st_mode & 0o777 == 0o644  # readable by a server running as another user


def test_a_store_of_the_wrong_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        save_store(tmp_path / "words.npz", ["red"], np.zeros((1, 1, DIM), dtype=np.float32))


def test_a_store_written_for_other_templates_is_ignored(tmp_path):
    path = tmp_path / "words.npz"
    np.savez(path, words=np.array(["red"]), vectors=np.ones((1, 2, DIM), np.float32), templates=np.array(["{}", "x"]))
    similarity = WordSimilarity(CountingEncoder(), store_path=path)
    assert read_store(path)[0] is None and similarity.load_store() == 0


def test_a_judge_with_a_preloaded_store_encodes_no_stored_word_and_scores_the_same():
    explanations = ["colour words", "words for fruit, except after not", "colours followed by a noun"]
    plain = SemanticJudge(similarity=WordSimilarity(CountingEncoder()))
    expected = [[plain.probabilities(e, tokens(w)) for w in WINDOWS] for e in explanations]

    builder = WordSimilarity(CountingEncoder())
    words = [*semantic.REFERENCE_WORDS, *(word for w in WINDOWS for word in window_words(tokens(w)))]
    list(builder.store_words(words, batch_size=7))
    encoder = CountingEncoder()
    stored = WordSimilarity(encoder)
    stored.preload(list(builder.stored_words), np.stack([builder._stored[w] for w in builder.stored_words]))
    judge = SemanticJudge(similarity=stored)
    assert [[judge.probabilities(e, tokens(w)) for w in WINDOWS] for e in explanations] == expected
    # Only the explanations' phrases were encoded: no word, alone or in a template.
    readings = [semantic.read_explanation(e) for e in explanations]
    parts = [p for r in readings for p in (r.thing, r.after, r.before, *r.exceptions) if p is not None]
    assert encoder.texts and set(encoder.texts) <= {form for part in parts for form in part.forms}
    assert not any(text.startswith("the word ") for text in encoder.texts)


def test_a_word_missing_from_the_store_is_encoded_as_before(tmp_path):
    encoder = CountingEncoder()
    similarity = WordSimilarity(encoder)
    similarity.preload(["red"], np.ones((1, len(TEMPLATES), DIM), np.float32))
    vectors = similarity.word_vectors(["red", "zebra"])
    assert encoder.texts == [template.format("zebra") for template in TEMPLATES]
    np.testing.assert_array_equal(vectors[0], np.ones((len(TEMPLATES), DIM)))
    np.testing.assert_array_equal(vectors[1], CountingEncoder()([t.format("zebra") for t in TEMPLATES]))


def test_the_store_file_is_loaded_on_the_first_lookup_and_again_when_rewritten(tmp_path):
    path = tmp_path / "words.npz"
    encoder = CountingEncoder()
    similarity = WordSimilarity(encoder, store_path=path)
    similarity.word_vectors(["red"])  # no file yet: nothing preloaded, the word is encoded
    assert len(encoder.texts) == len(TEMPLATES) and similarity.stored_words == frozenset()
    save_store(path, ["blue"], np.ones((1, len(TEMPLATES), DIM), np.float32))
    similarity.word_vectors(["blue"])
    assert len(encoder.texts) == len(TEMPLATES) and similarity.stored_words == {"blue"}
    save_store(path, ["blue", "green"], np.ones((2, len(TEMPLATES), DIM), np.float32))
    similarity.word_vectors(["green"])
    assert len(encoder.texts) == len(TEMPLATES) and similarity.stored_words == {"blue", "green"}


def test_the_warmer_loads_the_configured_store_into_the_default_similarity(tmp_path, monkeypatch):
    path = tmp_path / "words.npz"
    save_store(path, ["blue", "green"], np.ones((2, len(TEMPLATES), DIM), np.float32))
    monkeypatch.setattr(semantic, "_store_path", None)
    semantic.default_similarity.cache_clear()
    try:
        semantic.configure_store(path)
        assert semantic.warm() == 2
        assert semantic.default_similarity().stored_words == {"blue", "green"}
    finally:
        semantic.default_similarity.cache_clear()


def test_the_site_keeps_the_store_under_its_var_dir(settings):
    assert semantic.store_path() == settings.VAR_DIR / "semantic-words.npz"


@pytest.fixture
def fake_default(settings, tmp_path, monkeypatch):
    """The default similarity, with a counting encoder, storing under a fresh NEURONPEDIA_VAR_DIR."""
    settings.VAR_DIR = tmp_path
    encoder = CountingEncoder()
    monkeypatch.setattr(semantic, "default_similarity", lambda: similarity)
    similarity = WordSimilarity(encoder)
    return encoder, similarity


def test_the_command_stores_the_words_of_every_stored_window_once(computed_run, fake_default, tmp_path):
    encoder, similarity = fake_default
    out = io.StringIO()
    call_command("semantic_words", stdout=out)
    path = tmp_path / "semantic-words.npz"
    words, vectors = read_store(path)
    windows = list(ContextWindow.objects.values_list("tokens", flat=True))
    expected = {word for t in windows for word in window_words(t)}
    # and the token forms the token-stats explainer may name a kind for (subwords included)
    forms = {form for t in windows for form in nameable_words([normalise_token(token) for token in t])}
    assert expected and forms and expected | forms | set(semantic.REFERENCE_WORDS) == set(words)
    assert len(encoder.texts) == len(words) * len(TEMPLATES)
    index = words.index(sorted(expected)[0])
    np.testing.assert_array_equal(vectors[index], CountingEncoder()([t.format(words[index]) for t in TEMPLATES]))
    assert f"{len(words)} encoded" in out.getvalue()

    stamp = path.stat().st_mtime_ns
    fresh = CountingEncoder()
    similarity.encode = fresh
    call_command("semantic_words", model="tiny-bert", stdout=out)
    assert fresh.texts == [] and path.stat().st_mtime_ns == stamp  # nothing new: nothing encoded, nothing written
    assert out.getvalue().splitlines()[-1].split(": ")[1].startswith("0 encoded")


def test_the_command_refuses_an_unknown_model(db, fake_default):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no model 'nope'"):
        call_command("semantic_words", model="nope", stdout=io.StringIO())


def test_an_activation_run_that_succeeds_on_a_worker_queues_storing_its_models_words(
    db, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from features.models import LanguageModel, PipelineRun
    from features.services.runs import run_succeed
    from scoring.services import semantic_words

    queued = []
    monkeypatch.setattr(semantic_words, "async_task", lambda task, *args, **kwargs: queued.append((task, args)))
    model = LanguageModel.objects.create(
        slug="tiny-bert",
        display_name="Tiny",
        path="",
        architecture="bert",
        n_layers=1,
        d_model=32,
        d_mlp=64,
        vocab_size=100,
    )

    def succeed(kind, **params):
        run = PipelineRun.objects.create(kind=kind, model=model, params=params)
        with django_capture_on_commit_callbacks(execute=True):
            run_succeed(run=run, message="done")
        return run

    succeed(PipelineRun.Kind.ACTIVATIONS)
    assert queued == [("scoring.tasks.semantic_words_build", ("tiny-bert",))]
    succeed(PipelineRun.Kind.ACTIVATIONS, sync=True)  # computed in its caller's process: maybe no worker
    succeed(PipelineRun.Kind.SCORING)  # no new windows
    settings.SEMANTIC_WORDS_AFTER_RUNS = False
    succeed(PipelineRun.Kind.ACTIVATIONS)
    assert len(queued) == 1


def test_the_queued_task_stores_that_models_words(computed_run, fake_default, tmp_path):
    from scoring import tasks

    assert tasks.semantic_words_build("tiny-bert").endswith("stored")
    words, _ = read_store(tmp_path / "semantic-words.npz")
    windows = ContextWindow.objects.filter(model__slug="tiny-bert").values_list("tokens", flat=True)
    assert {word for t in windows for word in window_words(t)} <= set(words)
    assert tasks.semantic_words_build("gone-model").startswith("0 new words")  # all models': nothing new
