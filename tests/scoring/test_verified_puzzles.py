"""Set (c) of bench/judges.py: the game's verified data read from the database as judge puzzles."""

import pytest

from explanations.services import explanations as explanation_services
from scoring.core.judges import LiteralJudge
from scoring.core.scorers import get_scorer
from scoring.models import ExplanationScore
from scoring.verified_puzzles import verified_puzzles
from tests.gameplay.conftest import build_toy_feature, make_user

TRUE_TEXT = "the word cat right after a colour word"


def explain(feature, author, text: str, human: float | None):
    explanation = explanation_services.explanation_create(feature=feature, author=author, text=text, embed=False)
    if human is not None:
        ExplanationScore.objects.create(
            explanation=explanation, revision=explanation.current_revision, scorer="human", value=human
        )
    return explanation


@pytest.fixture
def author(db):
    return make_user("verifier-author")


def test_there_are_no_puzzles_without_verified_data(db):
    assert verified_puzzles() == []


def test_the_explanation_players_rated_highest_is_the_true_one(author):
    feature = build_toy_feature()
    explain(feature, author, "the word cat", 0.3)
    explain(feature, author, TRUE_TEXT, 0.8)
    explain(feature, author, "dogs barking at night", 0.1)
    explain(feature, author, "never verified", None)
    [puzzle] = verified_puzzles()
    assert puzzle.explanations == [TRUE_TEXT, "the word cat", "dogs barking at night"]
    assert puzzle.human_scores == [0.8, 0.3, 0.1]
    assert puzzle.examples.top and max(r.max_activation for r in puzzle.examples.top) == pytest.approx(1.7)
    # The literal judge reads the true explanation's context clause: it wins the puzzle strictly.
    simulation = get_scorer("simulation")
    values = [simulation.score(t, puzzle.examples, judge=LiteralJudge()).value for t in puzzle.explanations]
    assert values[0] > max(values[1:])


def test_a_feature_without_a_single_verified_best_is_left_out(author):
    tied = build_toy_feature(slug="tied")
    explain(tied, author, TRUE_TEXT, 0.6)
    explain(tied, author, "the word cat", 0.6)
    unverified = build_toy_feature(slug="unverified")
    explain(unverified, author, TRUE_TEXT, 0.4)  # under half of the players agree
    explain(unverified, author, "the word cat", 0.2)
    alone = build_toy_feature(slug="alone")
    explain(alone, author, TRUE_TEXT, 0.9)
    assert verified_puzzles() == []
