"""How well each MiniLM signal tells a category's words from the other words of real text: the ROC AUC, per
category of bench/judges.py's set (b), of the signals the semantic judge uses or could use to say "this word
is one the explanation describes". It answers whether contextual states would help before building them
into scoring/core/semantic.py.

    word        the judge's score today: the word's z-score against the explanation's phrase (word vectors,
                WordSimilarity.zscores)
    context     the word's contextual MiniLM state (last layer, one forward pass per window, token states
                averaged over the word's pieces), cosine with the phrase's embedding; MiniLM's sentence
                embedding is the mean of these states, so they live in the phrase's space
    context-rel the same, minus the window's median (a window about names lifts all of its words)
    span        the embedding of the word with its neighbours ("by skip montanaro"), z-scored like `word`
    word+span   the sum of the two z-scores
    prototypes  with --prototypes (encodes MiniLM's ~22k whole-word vocabulary once, minutes): the 20
                vocabulary words nearest the phrase (not echoing it) as prototypes, the word's mean cosine
                to its 5 nearest prototypes, z-scored against common words

On each category: its first 60 firing windows and 60 random ones of the docstring corpus; every open word
(not a function word or punctuation) and every member counts, members being positives.

    nice -n 10 .venv/bin/python bench/semantic_signals.py [--prototypes]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from judges import CATEGORIES, _docstring_windows, window_words  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from transformers.utils import logging as transformers_logging  # noqa: E402

from explanations.core.embeddings import _model, embed_texts  # noqa: E402
from scoring.core import semantic  # noqa: E402


def contextual_word_states(windows: list[tuple[str, ...]]) -> list[np.ndarray]:
    """Per window, (words, 384) unit vectors: MiniLM's last-layer token states averaged over each word."""
    model = _model()
    tokenizer, transformer = model.tokenizer, model[0].auto_model
    ids = [[tokenizer.cls_token_id, *tokenizer.convert_tokens_to_ids(list(w)), tokenizer.sep_token_id] for w in windows]
    with torch.no_grad():
        states = transformer(input_ids=torch.tensor(ids)).last_hidden_state[:, 1:-1].numpy()
    result = []
    for tokens, state in zip(windows, states, strict=True):
        owners = np.array(semantic.token_words(tokens))
        words = np.stack([state[owners == word].mean(axis=0) for word in range(owners.max() + 1)])
        result.append(words / np.linalg.norm(words, axis=1, keepdims=True))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prototypes", action="store_true", help="also the vocabulary-prototype signal (slow)")
    args = parser.parse_args()
    transformers_logging.set_verbosity_error()
    windows = _docstring_windows(40000)
    similarity = semantic.default_similarity()
    reference = embed_texts(list(semantic.REFERENCE_WORDS))
    vocabulary, vocabulary_vectors = [], None
    if args.prototypes:
        vocabulary = sorted(w for w in _model().tokenizer.vocab if w.isascii() and w.isalpha() and len(w) >= 2)
        vocabulary_vectors = embed_texts(vocabulary)
    rng = np.random.default_rng(0)
    names = ["word", "context", "context-rel", "span", "word+span"] + (["prototypes"] if args.prototypes else [])
    print(f"{'category':>10} " + " ".join(f"{name:>11}" for name in names) + "   positives/words")
    for category, (truth, member) in CATEGORIES.items():
        active = [w for w in windows if any(member(x) for x in window_words(w))]
        sample = active[:60] + [windows[i] for i in rng.choice(len(windows), 60, replace=False)]
        phrase = semantic.read_phrase(truth)
        phrase_vectors = embed_texts(list(phrase.forms))
        reference_cosines = reference @ phrase_vectors.T
        mean, std = reference_cosines.mean(axis=0), reference_cosines.std(axis=0)
        words, labels, context, context_rel, spans = [], [], [], [], []
        for sampled, states in zip(sample, contextual_word_states([w.tokens for w in sample]), strict=True):
            members = [member(word) for word in window_words(sampled)]
            window = [word.text for word in window_words(sampled)]
            cosines = (states @ phrase_vectors.T).max(axis=1)
            for index, word in enumerate(window):
                if semantic.is_open_word(word) or members[index]:
                    words.append(word)
                    labels.append(members[index])
                    context.append(cosines[index])
                    context_rel.append(cosines[index] - np.median(cosines))
                    spans.append(" ".join(window[max(0, index - 1) : index + 2]))
        word_z = similarity.zscores(phrase.forms, words)
        span_z = ((embed_texts(spans) @ phrase_vectors.T - mean) / std).max(axis=1)
        signals = [word_z, np.array(context), np.array(context_rel), span_z, word_z + span_z]
        if vocabulary_vectors is not None:
            nearest = np.argsort(-((vocabulary_vectors @ phrase_vectors.T - mean) / std).max(axis=1))
            chosen = [i for i in nearest if not phrase.echoed(vocabulary[i])][:20]
            prototypes = vocabulary_vectors[chosen]
            closeness = np.sort(embed_texts(words) @ prototypes.T, axis=1)[:, -5:].mean(axis=1)
            baseline = np.sort(reference @ prototypes.T, axis=1)[:, -5:].mean(axis=1)
            signals.append((closeness - baseline.mean()) / baseline.std())
        aucs = [roc_auc_score(labels, signal) for signal in signals]
        print(f"{category:>10} " + " ".join(f"{auc:>11.3f}" for auc in aucs) + f"   {sum(labels)}/{len(labels)}")


if __name__ == "__main__":
    main()
