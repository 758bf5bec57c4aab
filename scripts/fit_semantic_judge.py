"""Fit the semantic judge's calibration (scoring/core/semantic.py CALIBRATION): a logistic regression of
"this word is one the phrase describes" on the word's z-score against the phrase and whether the phrase
names it, over word categories that bench/judges.py does not evaluate on (animals, fruit, countries...).

    DJANGO_DEBUG=1 .venv/bin/python scripts/fit_semantic_judge.py

Prints the CALIBRATION line to paste into semantic.py, and the fitted model's accuracy on these words.
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from scoring.core.semantic import default_similarity, read_phrase  # noqa: E402
from scoring.core.synthetic import FILLER  # noqa: E402

CATEGORIES = {
    "animals": "dog horse cow sheep goat lion tiger bear wolf fox rabbit mouse rat deer elephant monkey snake frog",
    "fruit": "apple banana orange pear grape cherry peach plum lemon lime mango melon strawberry apricot fig",
    "countries": "france germany spain italy china japan india brazil canada mexico russia egypt kenya peru norway",
    "parts of the body": "arm leg hand foot head neck shoulder knee elbow finger toe ear nose mouth chest",
    "vehicles": "car bus truck train bicycle motorcycle boat ship plane van tram taxi lorry scooter tractor",
    "days of the week": "monday tuesday wednesday thursday friday saturday sunday",
    "emotions": "happy sad angry afraid joy fear anger sorrow glad upset calm anxious proud jealous lonely",
    "family members": "mother father sister brother aunt uncle cousin son daughter grandmother grandfather wife",
    "professions": "doctor teacher lawyer nurse farmer baker pilot engineer soldier judge writer painter chef",
    "furniture": "chair table sofa bed desk shelf cupboard wardrobe stool bench couch dresser",
    "weather": "rain snow wind storm sunny cloudy fog thunder hail drizzle frost breeze",
    "musical instruments": "piano guitar violin drum flute trumpet cello harp saxophone clarinet organ",
}
PHRASINGS = ("{}", "words for {}", "names of {}")


def main() -> None:
    rng = random.Random(0)
    similarity = default_similarity()
    members = {name: words.split() for name, words in CATEGORIES.items()}
    everything = sorted({w for words in members.values() for w in words})
    filler = sorted({w for w in FILLER if w.isalpha()})
    rows, labels = [], []
    for name, words in members.items():
        others = [w for w in everything if w not in words]
        negatives = rng.sample(filler, 40) + rng.sample(others, 30)
        candidates = words + negatives
        for phrasing in PHRASINGS:
            phrase = read_phrase(phrasing.format(name))
            z = similarity.zscores(phrase.forms, candidates)
            for word, score in zip(candidates, z, strict=True):
                rows.append([score, 1.0 if phrase.named(word) else 0.0])
                labels.append(word in words)
    x, y = np.array(rows), np.array(labels)
    # Unweighted: in text, described words are rarer still than here, so a false alarm costs more than a miss.
    # The `named` column is rare here (category names seldom spell their members): fit it on z alone and
    # give naming a fixed weight that makes a named word near-certain.
    model = LogisticRegression(C=10.0).fit(x[:, :1], y)
    z_weight, bias = float(model.coef_[0][0]), float(model.intercept_[0])
    accuracy = float(((model.predict_proba(x[:, :1])[:, 1] >= 0.5) == y).mean())
    print(f"{len(y)} words, {int(y.sum())} in their category; accuracy {accuracy:.3f}")
    print(f'CALIBRATION = {{"z_weight": {z_weight:.3f}, "named_weight": 8.0, "bias": {bias:.3f}}}')


if __name__ == "__main__":
    main()
