"""Fit the semantic judge's calibration (scoring/core/semantic.py CALIBRATION): a logistic regression of
"this word is one the phrase describes" on the word's z-score against the phrase and whether the phrase
names it, over word categories that bench/judges.py does not evaluate on (animals, fruit, countries...).

    DJANGO_DEBUG=1 .venv/bin/python scripts/fit_semantic_judge.py

Prints the CALIBRATION line to paste into semantic.py, and the fitted model's accuracy on these words.
"""

import math
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
# Words a category's name brings to mind that are not its members: the judge must not fire on a topic's
# vocabulary ("juice" is not a fruit, "value" is not a number), so these are negatives too.
ASSOCIATES = {
    "animals": "zoo farm pet wild fur tail meat hunt cage milk nature",
    "fruit": "juice tree sweet eat food salad seed ripe market garden",
    "countries": "city capital border nation flag language travel map government",
    "parts of the body": "skin blood health pain doctor muscle bone body",
    "vehicles": "road drive driver wheel engine fuel travel traffic speed",
    "days of the week": "week weekend date calendar morning today schedule",
    "emotions": "feeling mood heart face smile tears mind",
    "family members": "home house child baby marriage wedding family",
    "professions": "job work office salary hospital school career",
    "furniture": "room house wood kitchen home living",
    "weather": "sky cold hot temperature climate season forecast",
    "musical instruments": "music song band concert sound note play",
}
PHRASINGS = ("{}", "words for {}", "names of {}")
# How often a word of text is one an explanation describes (a category feature fires on a few words in 100).
PRIOR_IN_TEXT = 0.03


def main() -> None:
    rng = random.Random(0)
    similarity = default_similarity()
    members = {name: words.split() for name, words in CATEGORIES.items()}
    everything = sorted({w for words in members.values() for w in words})
    filler = sorted({w for w in FILLER if w.isalpha()})
    rows, labels = [], []
    for name, words in members.items():
        others = [w for w in everything if w not in words]
        negatives = rng.sample(filler, 40) + rng.sample(others, 30) + ASSOCIATES[name].split()
        for phrasing in PHRASINGS:
            phrase = read_phrase(phrasing.format(name))
            if phrase.sequences is not None:  # a bare singular ("fruit") names its word; nothing to fit
                continue
            # The words that echo the category's name never fire (the judge silences them): not fitted.
            candidates = [word for word in words + negatives if not phrase.echoed(word)]
            z = similarity.zscores(phrase.forms, candidates)
            for word, score in zip(candidates, z, strict=True):
                rows.append([score, 1.0 if phrase.named(word) else 0.0])
                labels.append(word in words)
    x, y = np.array(rows), np.array(labels)
    # Unweighted: in text, described words are rarer still than here, so a false alarm costs more than a miss.
    # The `named` column is rare here (category names seldom spell their members): fit it on z alone and
    # give naming a fixed weight that makes a named word near-certain (p 0.99 after the prior shift).
    model = LogisticRegression(C=10.0).fit(x[:, :1], y)
    z_weight, bias = float(model.coef_[0][0]), float(model.intercept_[0])
    # Here a sixth of the words are members; in text a described word is rarer (PRIOR_IN_TEXT): shift the
    # bias by the difference of the log-odds, so that a word merely near the phrase stays near 0 (the
    # simulation scorer's correlation suffers from every small false alarm on a long window).
    fitted_prior = float(y.mean())
    bias += math.log(PRIOR_IN_TEXT / (1 - PRIOR_IN_TEXT)) - math.log(fitted_prior / (1 - fitted_prior))
    accuracy = float(((model.predict_proba(x[:, :1])[:, 1] >= 0.5) == y).mean())
    print(f"{len(y)} words, {int(y.sum())} in their category; accuracy {accuracy:.3f} (before the prior shift)")
    print(f'CALIBRATION = {{"z_weight": {z_weight:.3f}, "named_weight": 10.0, "bias": {bias:.3f}}}')


if __name__ == "__main__":
    main()
