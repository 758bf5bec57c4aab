"""The feature page cached for anonymous readers (front/page_cache.py) shows scores written by the scoring
service and by Explain mode, which write with querysets (bulk_create, update) as well as saves."""

import pytest
from django.test import Client

from explanations.services import explanations as explanation_services
from scoring.services.scores import explanation_score
from scoring.stored_examples import FeatureExamples

from .conftest import login

pytestmark = pytest.mark.django_db


def cached_view(client: Client, feature) -> str:
    client.get(feature.get_absolute_url())
    response = client.get(feature.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_the_scoring_service_shows_its_scores_and_best_score(alice_explanation, toy_feature):
    reader = Client()
    assert "detection" not in cached_view(reader, toy_feature)
    written = explanation_score(
        explanation=alice_explanation, scorers=["detection"], examples=FeatureExamples(toy_feature.source)
    )
    assert f"detection {written[0].value:.3f}" in cached_view(reader, toy_feature)


def test_explain_mode_shows_its_explanation_and_scores(player, toy_feature):
    reader = Client()
    assert "colour word" not in cached_view(reader, toy_feature)
    login(player).post(
        f"/play/explain/{toy_feature.pk}/", {"text": "the word cat right after a colour word", "token": "t"}
    )
    content = cached_view(reader, toy_feature)
    assert "the word cat right after a colour word" in content and "detection " in content and "fuzzing " in content


def test_a_revision_in_the_game_shows(alice_explanation, toy_feature):
    reader = Client()
    cached_view(reader, toy_feature)
    explanation_services.explanation_revise(
        explanation=alice_explanation, author=alice_explanation.author, text="felines", embed=False
    )
    assert "felines" in cached_view(reader, toy_feature)
