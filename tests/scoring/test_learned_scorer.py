"""The learned scorer: trains (a few steps), saves as safetensors + JSON, loads, scores, and is registered as the
`learned` judge only when it beats the baseline on held-out features. A hashed stand-in for MiniLM keeps it fast;
what it would learn from MiniLM is measured by the command (bench/README.md)."""

import hashlib

import numpy as np
import pytest
from django.core.management import call_command

from features.models import PipelineRun
from scoring.core.errors import ScoringInputError
from scoring.core.judges import OracleJudge, TokenPredictionJudge
from scoring.core.learned import Featurizer, Figures, LearnedJudge, evaluate, train_head
from scoring.core.learned_data import puzzles, training_features
from scoring.core.learned_store import load_registered, load_version, registered_version, save_version
from scoring.core.synthetic import ICE_CREAM
from scoring.services import learned as learned_services
from scoring.services.backends import judge_check, learned_scorer_dir


def hashed_encode(texts, dimensions: int = 16) -> np.ndarray:
    """A deterministic unit vector per text: no meaning, but a real encoder's shape."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        vector = np.random.default_rng(seed).standard_normal(dimensions)
        rows.append(vector / np.linalg.norm(vector))
    return np.asarray(rows, dtype=np.float32)


def hashed_featurizer() -> Featurizer:
    return Featurizer(hashed_encode, name="hashed-16")


@pytest.fixture(scope="module")
def small_training():
    return training_features(["colour-cat", "colour", "chapter-at-start"], n_windows=8)


def test_training_lowers_the_loss(small_training):
    _, before = train_head(hashed_featurizer(), small_training, steps=1)
    _, after = train_head(hashed_featurizer(), small_training, steps=60)
    assert after < before * 0.8


def test_it_learns_what_an_explanation_names_in_context(small_training):
    head, _ = train_head(hashed_featurizer(), small_training, steps=150)
    judge = LearnedJudge(head=head, featurizer=hashed_featurizer())
    [values] = judge.simulate("the word cat right after a colour word", [["the", "black", "cat", "sat", "down"]])
    assert all(0 <= value <= 10 for value in values)
    assert values[2] > 5 > max(values[:2] + values[3:]), values


def test_it_saves_loads_without_pickle_and_scores_the_same(tmp_path, small_training):
    head, loss = train_head(hashed_featurizer(), small_training, steps=10)
    judge = LearnedJudge(head=head, featurizer=hashed_featurizer())
    assert save_version(tmp_path, head, judge.featurizer, {"loss": loss}) == 1
    assert save_version(tmp_path, head, judge.featurizer, {"loss": loss}) == 2, "each save is a new version"
    assert sorted(path.name for path in (tmp_path / "v1").iterdir()) == ["head.safetensors", "meta.json"]

    loaded = load_version(tmp_path, 1, encode=hashed_encode)
    assert loaded.name == "learned:v1" and loaded.metadata["loss"] == loss
    windows = [["the", "white", "cat", "ran", "off", "."], ["chapter", "two", "."]]
    explanation = "the word cat right after a colour word"
    for loaded_values, values in zip(
        loaded.simulate(explanation, windows), judge.simulate(explanation, windows), strict=True
    ):
        assert loaded_values == pytest.approx(values)
    detected = loaded.detect(explanation, windows)
    fuzzed = loaded.fuzz(explanation, [(windows[0], [2]), (windows[0], [0, 1])])
    assert all(0 <= p <= 1 for p in [*detected, *fuzzed])
    assert detected[0] == pytest.approx(max(judge.simulate(explanation, windows[:1])[0]) / 10)


def test_a_version_trained_on_another_encoder_is_refused(tmp_path, small_training):
    head, _ = train_head(hashed_featurizer(), small_training, steps=2)
    save_version(tmp_path, head, hashed_featurizer(), {})
    with pytest.raises(ScoringInputError, match="was trained on hashed-16 \\(16 dimensions\\)"):
        load_version(tmp_path, 1, encode=lambda texts: hashed_encode(texts, 8))


class SilentJudge(TokenPredictionJudge):
    """Predicts nothing anywhere: every explanation ties with every other."""

    name = "silent"

    def predict(self, explanation, tokens):
        return [False] * len(tokens)


def test_figures_count_ties_as_not_won():
    held = puzzles(["ice-cream"], n_windows=60)
    silent = evaluate(SilentJudge(), held)
    assert (silent.strict_wins, silent.ties, silent.spearman) == (0, 1, 0.0)
    perfect = evaluate(OracleJudge(ICE_CREAM.meanings()), held)
    assert (perfect.strict_wins, perfect.ties) == (1, 0) and perfect.spearman == pytest.approx(1.0)
    assert perfect.beats(silent) and not silent.beats(perfect) and not perfect.beats(perfect)


@pytest.fixture
def learned_dir(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(learned_services, "Featurizer", hashed_featurizer)
    return learned_scorer_dir()


def train(capsys) -> str:
    call_command("train_learned_scorer", sync=True, steps=30, windows=8, held_out="ice-cream")
    return capsys.readouterr().out


@pytest.mark.django_db
def test_it_is_not_registered_when_it_does_not_beat_the_baseline(learned_dir, capsys, monkeypatch):
    monkeypatch.setattr(learned_services, "default_offline_judge", lambda: OracleJudge(ICE_CREAM.meanings()))
    out = train(capsys)
    assert "not registered" in out and "oracle: true explanation strictly first on 1/1 puzzles, 0 tied" in out
    assert (learned_dir / "v1" / "head.safetensors").is_file(), "the version is kept, with its figures"
    with pytest.raises(ScoringInputError, match="No learned scorer is registered yet"):
        judge_check(judge="learned")
    with pytest.raises(ScoringInputError, match="No learned scorer is registered yet"):
        registered_version(learned_dir)


@pytest.mark.django_db
def test_it_is_registered_when_it_beats_the_baseline(learned_dir, capsys, monkeypatch, client):
    monkeypatch.setattr(learned_services, "default_offline_judge", SilentJudge)
    out = train(capsys)
    assert "silent: true explanation strictly first on 0/1 puzzles, 1 tied" in out
    assert out.rstrip().endswith("\nregistered")
    judge_check(judge="learned")
    judge = load_registered(learned_dir, encode=hashed_encode)
    assert judge.name == "learned:v1"
    figures = judge.metadata["figures"]
    assert figures["strict_wins"] == 1 or figures["spearman"] > 0.01
    assert judge.metadata["baseline"] == {"judge": "silent", "figures": Figures(1, 0, 1, 0.0).to_json()}
    assert judge.metadata["held_out"] == ["ice-cream"] and judge.metadata["training"]["stored"] == 0
    page = client.get(PipelineRun.objects.get(kind="training").get_absolute_url()).content.decode()
    assert "<dt>Held out</dt><dd>ice-cream</dd>" in page and "v1, registered" in page
