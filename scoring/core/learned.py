"""The learned scorer: a small head over frozen MiniLM features that predicts, for each token in its context,
how strongly a feature described by an explanation fires there (the original game's "a model specific to
scoring"). It serves simulation, detection and fuzzing as a judge (`LearnedJudge`).

Per token it sees: the explanation's embedding against the token's, the token with the one before it, and the
whole window (cosines and element-wise products), whether the token or its neighbours are words of the
explanation, what the explanation read literally matches there, and two context flags (start of the text,
a negation just before). Training targets are activations scaled to 0-1 (learned_data.py builds them);
evaluation is on held-out features (`evaluate`), and the head is registered only when it beats the default
offline judge there (learned_store.py).
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .embedding import Encoder, SentenceEmbedder, minilm_encode
from .errors import ScoringInputError
from .judges import FuzzItem, Judge, Tokens, parse_explanation, stem
from .lexicon import NEGATIONS
from .metrics import spearman
from .records import ActivationRecord, normalise_token, window_text

N_SCALARS = 9
START_POSITIONS = 4


@dataclass(frozen=True)
class TrainingFeature:
    """An explanation and windows whose activations it describes (a planted rule's, a feature's that a
    stronger judge or the game's verifiers found it explains); `weight` scales its say in training."""

    name: str
    explanation: str
    records: Sequence[ActivationRecord]
    weight: float = 1.0
    origin: str = "planted"


@dataclass(frozen=True)
class Candidate:
    explanation: str
    truth: float  # how well its literal meaning matches the true activations (the oracle's simulation score)


@dataclass(frozen=True)
class Puzzle:
    """A held-out feature: its examples, its true explanation (candidates[0]) and plausible false ones."""

    name: str
    examples: object  # an ExampleSet
    candidates: Sequence[Candidate]


@dataclass
class Figures:
    puzzles: int
    strict_wins: int
    ties: int
    spearman: float

    @property
    def win_rate(self) -> float:
        return self.strict_wins / self.puzzles if self.puzzles else 0.0

    @property
    def tie_rate(self) -> float:
        return self.ties / self.puzzles if self.puzzles else 0.0

    def beats(self, other: "Figures") -> bool:
        """More strict wins of the true explanation; on equal wins, a better rank correlation (by 0.01)."""
        if self.strict_wins != other.strict_wins:
            return self.strict_wins > other.strict_wins
        return self.spearman > other.spearman + 0.01

    def to_json(self) -> dict:
        return {
            "puzzles": self.puzzles,
            "strict_wins": self.strict_wins,
            "win_rate": round(self.win_rate, 4),
            "ties": self.ties,
            "tie_rate": round(self.tie_rate, 4),
            "spearman": round(self.spearman, 4),
        }


# --- Features of (explanation, token in context) -------------------------------------------------------


def _explanation_words(explanation: str) -> frozenset[str]:
    return frozenset(stem(word) for word in re.findall(r"[a-z0-9][a-z0-9'-]*", explanation.lower()))


class Featurizer:
    """Rows of features, one per token, from a sentence encoder (MiniLM unless told) with a cache."""

    def __init__(self, encode: Encoder = minilm_encode, *, name: str = SentenceEmbedder.name) -> None:
        self.embedder = SentenceEmbedder(encode)
        self.name = name
        self._dimensions: int | None = None

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._dimensions = int(self.embedder.embed(["dimensions"]).shape[1])
        return self._dimensions

    @property
    def width(self) -> int:
        return N_SCALARS + 2 * self.dimensions

    def rows(self, explanation: str, windows: Sequence[Tokens]) -> list[np.ndarray]:
        """(tokens, width) float32 for each window."""
        windows = [list(tokens) for tokens in windows]
        words = [[normalise_token(token) for token in tokens] for tokens in windows]
        singles = [word or "." for tokens in words for word in tokens]
        pairs = [
            f"{tokens[i - 1] if i else ''} {word}".strip() or "." for tokens in words for i, word in enumerate(tokens)
        ]
        texts = [window_text(tokens) or "." for tokens in windows]
        vectors = self.embedder.embed([explanation, *dict.fromkeys([*singles, *pairs, *texts])])
        lookup = dict(zip([explanation, *dict.fromkeys([*singles, *pairs, *texts])], vectors, strict=True))
        meaning = lookup[explanation]
        named = _explanation_words(explanation)
        pattern = parse_explanation(explanation)
        out, k = [], 0
        for tokens, window_words, text in zip(windows, words, texts, strict=True):
            n = len(tokens)
            single = np.stack([lookup[singles[k + i]] for i in range(n)]) if n else np.zeros((0, len(meaning)))
            pair = np.stack([lookup[pairs[k + i]] for i in range(n)]) if n else np.zeros((0, len(meaning)))
            k += n
            stems = [stem(word) for word in window_words]
            literal = pattern.matches(tokens)
            scalars = np.zeros((n, N_SCALARS), dtype=np.float32)
            scalars[:, 0] = single @ meaning
            scalars[:, 1] = pair @ meaning
            scalars[:, 2] = float(lookup[text] @ meaning)
            for i in range(n):
                scalars[i, 3] = stems[i] in named
                scalars[i, 4] = i > 0 and stems[i - 1] in named
                scalars[i, 5] = i + 1 < n and stems[i + 1] in named
                scalars[i, 6] = literal[i]
                scalars[i, 7] = i < START_POSITIONS
                scalars[i, 8] = any(word in NEGATIONS for word in window_words[max(0, i - 3) : i])
            out.append(np.hstack([scalars, single * meaning, pair * meaning]).astype(np.float32))
        return out


# --- The head ---------------------------------------------------------------------------------------------


class Head:
    """A two-layer perceptron from a token's features to the probability that the feature fires there."""

    def __init__(self, width: int, hidden: int = 32, *, seed: int = 0) -> None:
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.width, self.hidden = width, hidden
        self.weights = {
            "w1": torch.randn(width, hidden, generator=generator) / math.sqrt(width),
            "b1": torch.zeros(hidden),
            "w2": torch.randn(hidden, 1, generator=generator) / math.sqrt(hidden),
            "b2": torch.zeros(1),
        }

    def logits(self, x):
        w = self.weights
        return (torch_relu(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]).squeeze(-1)

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        import torch

        if self.width != rows.shape[1]:
            raise ScoringInputError(f"The learned head reads {self.width} features per token, not {rows.shape[1]}.")
        with torch.no_grad():
            return torch.sigmoid(self.logits(torch.from_numpy(rows))).numpy()

    def fit(self, rows: np.ndarray, targets: np.ndarray, weights: np.ndarray, *, steps: int, lr: float = 0.01) -> float:
        """Full-batch Adam on weighted binary cross-entropy with soft targets; returns the last loss."""
        import torch

        x, y, w = (torch.from_numpy(a.astype(np.float32)) for a in (rows, targets, weights))
        params = [tensor.requires_grad_(True) for tensor in self.weights.values()]
        optimiser = torch.optim.Adam(params, lr=lr)
        loss = torch.tensor(0.0)
        for _ in range(steps):
            optimiser.zero_grad()
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(self.logits(x), y, reduction="none") * w).sum()
            loss = loss / w.sum()
            loss.backward()
            optimiser.step()
        for tensor in self.weights.values():
            tensor.requires_grad_(False)
        return float(loss.item())


def torch_relu(x):
    import torch

    return torch.relu(x)


def training_rows(
    featurizer: Featurizer, features: Sequence[TrainingFeature]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, targets 0-1, weights): firing and silent tokens weigh the same in total within each feature."""
    rows, targets, weights = [], [], []
    for feature in features:
        peak = max((record.max_activation for record in feature.records), default=0.0)
        if peak <= 0:
            raise ScoringInputError(f"The training feature {feature.name!r} never fires.")
        x = np.vstack(featurizer.rows(feature.explanation, [record.tokens for record in feature.records]))
        y = np.clip(np.concatenate([np.asarray(r.activations, dtype=np.float32) for r in feature.records]) / peak, 0, 1)
        firing = y > 0
        balance = np.where(firing, 0.5 / max(firing.sum(), 1), 0.5 / max((~firing).sum(), 1))
        rows.append(x)
        targets.append(y)
        weights.append(balance * feature.weight * len(y))
    return np.vstack(rows), np.concatenate(targets), np.concatenate(weights)


def train_head(
    featurizer: Featurizer, features: Sequence[TrainingFeature], *, steps: int = 300, hidden: int = 32, seed: int = 0
) -> tuple["Head", float]:
    if not features:
        raise ScoringInputError("There is nothing to train the learned scorer on.")
    rows, targets, weights = training_rows(featurizer, features)
    head = Head(rows.shape[1], hidden, seed=seed)
    return head, head.fit(rows, targets, weights, steps=steps)


# --- The judge -----------------------------------------------------------------------------------------


@dataclass
class LearnedJudge:
    head: Head
    featurizer: Featurizer
    name: str = "learned"
    metadata: dict = field(default_factory=dict)

    def token_probabilities(self, explanation: str, windows: Sequence[Tokens]) -> list[np.ndarray]:
        return [
            self.head.probabilities(rows) if len(rows) else np.zeros(0)
            for rows in self.featurizer.rows(explanation, windows)
        ]

    def simulate(self, explanation: str, windows: Sequence[Tokens]) -> list[list[float]]:
        return [[10.0 * float(p) for p in ps] for ps in self.token_probabilities(explanation, windows)]

    def detect(self, explanation: str, windows: Sequence[Tokens]) -> list[float]:
        return [float(ps.max()) if len(ps) else 0.0 for ps in self.token_probabilities(explanation, windows)]

    def fuzz(self, explanation: str, items: Sequence[FuzzItem]) -> list[float]:
        probabilities = self.token_probabilities(explanation, [tokens for tokens, _ in items])
        return [
            float(np.mean([ps[i] for i in marked])) if marked else 0.0
            for ps, (_, marked) in zip(probabilities, items, strict=True)
        ]


# --- Held-out evaluation -------------------------------------------------------------------------------


def evaluate(judge: Judge, puzzles: Sequence[Puzzle], *, tolerance: float = 1e-9) -> Figures:
    """Score every candidate of every puzzle with the simulation scorer and this judge: how often the true
    explanation scores strictly above every false one, how often it ties the best of them, and the Spearman
    correlation of all scores with the candidates' true quality."""
    from .scorers import get_scorer

    simulation = get_scorer("simulation")
    wins = ties = 0
    scores, truths = [], []
    for puzzle in puzzles:
        values = [simulation.score(c.explanation, puzzle.examples, judge=judge).value for c in puzzle.candidates]
        values = [0.0 if value is None or math.isnan(value) else value for value in values]
        best_false = max(values[1:])
        wins += values[0] > best_false + tolerance
        ties += abs(values[0] - best_false) <= tolerance
        scores += values
        truths += [candidate.truth for candidate in puzzle.candidates]
    rank_correlation = spearman(scores, truths)
    return Figures(
        puzzles=len(puzzles),
        strict_wins=wins,
        ties=ties,
        spearman=rank_correlation if rank_correlation is not None else 0.0,
    )
