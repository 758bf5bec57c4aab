"""Does Verify find the right explanation? A simulation with players of known skill.

Each trial takes the training camp's planted-rule features (a plain word, a word after a colour, a word
unless negated, a word at the start, a two-token phrase). Every feature gets its true explanation (the
planted rule in words) and three false ones: the context-blind reading ("the word cat"), an unrelated one
and a decoy that names only the context ("a colour word"). Simulated verifiers judge Verify cards (a window,
a marked token and an explanation) as the game deals them, with gold cards (the true explanation of a
planted feature, so the answer is certain; the game plants its rules on real windows, see
gameplay/core/gold.py, but a reader of a planted rule faces the same certain answer) mixed in:

    honest       reads the explanation literally and answers right with probability p (p ~ U(0.7, 0.95))
    careless     flips a coin
    adversarial  answers the opposite of what the explanation says, every time

A reader's literal reading of an explanation is the offline judge's (scoring.core.judges.parse_explanation).
Each explanation's human score is computed by the game's own rule (gameplay.core.reliability.human_score,
through the scoring core's `human` scorer): the weighted balanced accuracy of the readings against the truth,
once with every verifier weighted by their gold reliability (2 x Beta-posterior accuracy - 1, clipped at 0)
and once with equal weights. The benchmark reports how often the true explanation comes out strictly on top.

    python bench/game_quality.py                     # the table below, then one JSON line
    python bench/game_quality.py --trials 500 --verifiers 3,5,9,15 --adversarial 0,0.2,0.4,0.5

No database and no Django: the rules are plain Python.
"""

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gameplay.core import camp  # noqa: E402
from gameplay.core.reliability import Verdict, human_score, verifier_weight  # noqa: E402
from scoring.core.errors import ScoringInputError  # noqa: E402
from scoring.core.judges import parse_explanation  # noqa: E402
from scoring.core.synthetic import RANDOM_EXPLANATION  # noqa: E402

# A false explanation per feature that names only its context, not the word it fires on.
DECOYS = {
    "plain-word": "the word barked",
    "colour-cat": "a colour word",
    "not-negated": "negation words like not and never",
    "position": "the first word of the text",
    "phrase": "the word cream",
}
NEGATIVE_KINDS = ("lookalike", "lookalike", "context", "filler")


def reads_as_fitting(explanation: str, tokens, marked: int) -> bool:
    """What a careful reader takes the explanation to say about the marked token."""
    return parse_explanation(explanation).matches(list(tokens))[marked]


@dataclass
class Card:
    tokens: tuple[str, ...]
    marked: int
    label: bool


def deal_cards(rung: camp.Rung, rng: random.Random, count: int) -> list[Card]:
    """Half active, half silent (look-alikes first, then context-only and filler), as Verify deals them."""
    cards = []
    for number in range(count):
        kind = "positive" if number % 2 == 0 else NEGATIVE_KINDS[(number // 2) % len(NEGATIVE_KINDS)]
        item = camp.make_item(rung, kind, rng)
        cards.append(Card(item.tokens, item.marked, item.label))
    return cards


@dataclass
class Verifier:
    name: str
    kind: str  # honest, careless or adversarial
    accuracy: float = 1.0

    def says_fits(self, explanation: str, card: Card, rng: random.Random) -> bool:
        literal = reads_as_fitting(explanation, card.tokens, card.marked)
        if self.kind == "careless":
            return rng.random() < 0.5
        if self.kind == "adversarial":
            return not literal
        return literal if rng.random() < self.accuracy else not literal


def population(rng: random.Random, n: int, *, adversarial: float, careless: float) -> list[Verifier]:
    verifiers = []
    for number in range(n):
        roll = rng.random()
        if roll < adversarial:
            verifiers.append(Verifier(f"v{number}", "adversarial"))
        elif roll < adversarial + careless:
            verifiers.append(Verifier(f"v{number}", "careless"))
        else:
            verifiers.append(Verifier(f"v{number}", "honest", rng.uniform(0.7, 0.95)))
    return verifiers


def true_ranks_first(scores: dict[str, float | None], true_text: str) -> float:
    """1 when the true explanation has the strictly highest score, 1/k when it ties with k-1 others, else 0."""
    valid = {text: value for text, value in scores.items() if value is not None}
    if true_text not in valid:
        return 0.0
    best = max(valid.values())
    if valid[true_text] < best - 1e-12:
        return 0.0
    return 1.0 / sum(1 for value in valid.values() if value >= best - 1e-12)


def trial(rng: random.Random, *, n_verifiers: int, adversarial: float, careless: float, cards: int, gold: int) -> dict:
    """One round of the simulation over every planted feature; returns the rank-first rate each way."""
    outcome = {"weighted": 0.0, "unweighted": 0.0}
    for rung in camp.RUNGS:
        explanations = [rung.explanation, rung.rule.blind_explanation, RANDOM_EXPLANATION, DECOYS[rung.slug]]
        verifiers = population(rng, n_verifiers, adversarial=adversarial, careless=careless)
        verdicts: dict[str, list[tuple[str, bool, bool]]] = {text: [] for text in explanations}
        weights = {}
        for verifier in verifiers:
            correct = 0
            for _ in range(gold):
                gold_rung = rng.choice(camp.RUNGS)
                card = deal_cards(gold_rung, rng, 2)[rng.randrange(2)]
                correct += verifier.says_fits(gold_rung.explanation, card, rng) == card.label
            weights[verifier.name] = verifier_weight(correct, gold)
            for text in explanations:
                for card in deal_cards(rung, rng, cards):
                    verdicts[text].append((verifier.name, verifier.says_fits(text, card, rng), card.label))
        for mode in outcome:
            scores = {}
            for text, rows in verdicts.items():
                weighted = [
                    Verdict(name, says, label, weights[name] if mode == "weighted" else 1.0)
                    for name, says, label in rows
                ]
                try:
                    scores[text] = human_score(text, weighted).value
                except ScoringInputError:  # every verifier weighted 0: no score
                    scores[text] = None
            outcome[mode] += true_ranks_first(scores, rung.explanation) / len(camp.RUNGS)
    return outcome


def check_literal_readings(rng: random.Random) -> None:
    """The true explanations must read exactly as the planted rules, or the simulation measures nothing."""
    for rung in camp.RUNGS:
        for card in deal_cards(rung, rng, 40):
            assert reads_as_fitting(rung.explanation, card.tokens, card.marked) == card.label, rung.slug


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--verifiers", default="3,5,9", help="verifiers per feature, comma-separated")
    parser.add_argument("--adversarial", default="0,0.2,0.4", help="shares of adversarial verifiers")
    parser.add_argument("--careless", type=float, default=0.2, help="share of careless verifiers")
    parser.add_argument("--cards", type=int, default=8, help="cards per explanation and verifier")
    parser.add_argument("--gold", type=int, default=4, help="gold cards per verifier")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    check_literal_readings(random.Random(args.seed))
    started = time.perf_counter()
    rows = []
    print(
        f"Verify on {len(camp.RUNGS)} planted features x 4 explanations (1 true, 3 false); {args.trials} trials, "
        f"{args.cards} cards per explanation and verifier, {args.gold} gold cards per verifier, "
        f"{args.careless:.0%} careless verifiers."
    )
    print("How often the human score ranks the true explanation first:")
    print(f"{'verifiers':>9}  {'adversarial':>11}  {'gold-weighted':>13}  {'unweighted':>10}")
    for n_verifiers in (int(v) for v in args.verifiers.split(",")):
        for adversarial in (float(a) for a in args.adversarial.split(",")):
            rng = random.Random(f"{args.seed}:{n_verifiers}:{adversarial}")
            totals = {"weighted": 0.0, "unweighted": 0.0}
            for _ in range(args.trials):
                result = trial(
                    rng, n_verifiers=n_verifiers, adversarial=adversarial, careless=args.careless,
                    cards=args.cards, gold=args.gold,
                )  # fmt: skip
                for mode in totals:
                    totals[mode] += result[mode] / args.trials
            rows.append(
                {
                    "verifiers": n_verifiers,
                    "adversarial": adversarial,
                    "weighted": round(totals["weighted"], 4),
                    "unweighted": round(totals["unweighted"], 4),
                }  # fmt: skip
            )
            print(f"{n_verifiers:>9}  {adversarial:>11.0%}  {totals['weighted']:>13.1%}  {totals['unweighted']:>10.1%}")
    summary = {
        "benchmark": "game_quality",
        "trials": args.trials,
        "careless": args.careless,
        "cards": args.cards,
        "gold": args.gold,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
