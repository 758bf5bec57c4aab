"""Explain mode through the views: scored at once by the offline scorers with hard negatives, shown with
what it got wrong, and published on the wiki as the player's own explanation with its scores."""

import pytest

from explanations.models import Explanation
from gameplay.models import Round
from scoring.models import ExplanationScore

from .conftest import login

pytestmark = pytest.mark.django_db


def explain(client, feature, text: str, token: str = "form-1", **extra):
    return client.post(f"/play/explain/{feature.pk}/", {"text": text, "token": token, **extra})


def test_the_explain_page_shows_the_features_examples(player, toy_feature):
    html = login(player).get(f"/play/explain/{toy_feature.pk}/").content.decode()

    assert "black" in html and "background-color" in html
    assert 'name="text"' in html and 'name="token"' in html


def test_an_explanation_is_scored_at_once_and_published_under_the_players_name(player, toy_feature):
    client = login(player)

    response = explain(client, toy_feature, "the word cat right after a colour word")

    round_obj = Round.objects.get(user=player, mode="explain")
    assert response.status_code == 302 and response["Location"] == round_obj.get_absolute_url()
    explanation = Explanation.objects.get(feature=toy_feature)
    assert explanation.author == player and explanation.text == "the word cat right after a colour word"
    assert round_obj.explanation == explanation
    scores = {s.scorer: s for s in ExplanationScore.objects.filter(explanation=explanation)}
    assert set(scores) == {"detection", "fuzzing"}
    assert all(s.revision_id == explanation.current_revision_id for s in scores.values())
    assert scores["detection"].example_mix["hard_negatives"] > 0  # the silent cats
    headline = (scores["detection"].value + scores["fuzzing"].value) / 2
    assert round_obj.skill == pytest.approx(headline) and explanation.best_score == pytest.approx(headline)
    result = client.get(round_obj.get_absolute_url()).content.decode()
    assert f"{headline:.2f}" in result and "on the wiki now" in result
    feature_page = client.get(toy_feature.get_absolute_url()).content.decode()
    assert "the word cat right after a colour word" in feature_page and player.username in feature_page


def test_a_context_blind_explanation_loses_points_on_the_lookalikes_and_is_shown_them(player, toy_feature):
    client = login(player)
    explain(client, toy_feature, "the word cat right after a colour word", token="a")
    explain(client, toy_feature, "the word cat", token="b")

    right, blind = Round.objects.filter(user=player, mode="explain").order_by("pk")
    assert blind.skill < right.skill
    misses = blind.details["misses"]
    assert misses and any(m["kind"] == "hard_negative" and not m["label"] for m in misses)
    html = client.get(blind.get_absolute_url()).content.decode()
    assert "What it got wrong" in html and "A look-alike" in html


def test_a_rule_adds_the_rule_score(player, toy_feature):
    rule = "[black|white|grey|ginger|brown|red|tabby|golden] *cat*"
    explain(login(player), toy_feature, "cat after a colour", rule=rule)

    scorers = set(ExplanationScore.objects.values_list("scorer", flat=True))
    assert scorers == {"detection", "fuzzing", "rule"}
    assert ExplanationScore.objects.get(scorer="rule").value == 1.0


def test_a_bad_rule_or_an_empty_text_is_refused_and_nothing_is_published(player, toy_feature):
    client = login(player)

    bad_rule = explain(client, toy_feature, "cats", rule="[black *cat*")
    empty = explain(client, toy_feature, "   ", token="other")

    assert bad_rule.status_code == 400 and b"list tokens separated by |" in bad_rule.content
    assert empty.status_code == 400 and b"Write the explanation" in empty.content
    assert not Explanation.objects.exists() and not Round.objects.exists()


def test_a_resubmitted_form_publishes_and_pays_once(player, toy_feature):
    client = login(player)

    explain(client, toy_feature, "the word cat right after a colour word", token="twice")
    explain(client, toy_feature, "the word cat right after a colour word", token="twice")

    assert Explanation.objects.count() == 1 and Round.objects.filter(mode="explain").count() == 1


def test_explain_is_locked_before_the_camp(rookie, toy_feature):
    response = explain(login(rookie), toy_feature, "cats")

    assert response.status_code == 403 and not Explanation.objects.exists()


def test_the_pick_page_sends_the_player_to_a_feature(player, toy_feature):
    response = login(player).get("/play/explain/")

    assert response.status_code == 302 and response["Location"].startswith("/play/explain/")
