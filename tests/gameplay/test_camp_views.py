"""The training camp through the views: rungs open in order, Predict with instant reveal and a lesson,
Explain scored at once against hard negatives, and real features unlocking at the camp skill threshold."""

import pytest

from gameplay.core import camp
from gameplay.models import PlayerProfile, Round

from .conftest import answer_url, items_of, login, play_predict_round, round_of

pytestmark = pytest.mark.django_db

FIRST, SECOND = camp.RUNGS[0], camp.RUNGS[1]


def test_the_camp_page_opens_the_first_rung_only(rookie):
    html = login(rookie).get("/play/camp/").content.decode()

    assert FIRST.title in html and SECOND.title in html
    assert f"/play/camp/{FIRST.slug}/predict/" in html
    assert f"/play/camp/{SECOND.slug}/predict/" not in html


def test_a_closed_rung_cannot_be_played(rookie):
    response = login(rookie).post(f"/play/camp/{SECOND.slug}/predict/")

    assert response.status_code == 403
    assert not Round.objects.exists()


def test_a_camp_round_reveals_each_answer_with_the_truth_and_ends_with_the_lesson(rookie):
    client = login(rookie)
    round_obj = round_of(client.post(f"/play/camp/{FIRST.slug}/predict/"))
    items = items_of(round_obj)

    assert round_obj.mode == "camp-predict" and len(items) == 10
    first = client.post(answer_url(round_obj, items[0]), {"guess": 10}, HTTP_HX_REQUEST="true").content.decode()
    assert f"{items[0].truth:.1f}" in first and "Next card" in first
    for item in items[1:]:
        last = client.post(answer_url(round_obj, item), {"guess": item.truth}, HTTP_HX_REQUEST="true")
    assert FIRST.lesson[:40] in last.content.decode()
    summary = client.get(round_obj.get_absolute_url()).content.decode()
    assert "Round over" in summary and FIRST.lesson[:40] in summary


def test_passing_a_rung_opens_the_next(rookie):
    client = login(rookie)
    play_predict_round(client, round_of(client.post(f"/play/camp/{FIRST.slug}/predict/")))

    profile = PlayerProfile.objects.get(user=rookie)
    assert profile.camp_scores[FIRST.slug] == 1.0
    assert client.post(f"/play/camp/{SECOND.slug}/predict/").status_code == 302


def test_a_context_blind_player_fails_the_colour_rung(rookie):
    """Guessing high on every cat (the look-alikes too) fails the rung: context matters. The cards are drawn
    at random; over 40 rounds such a player's skill ran from -1.0 to 0.08 (mean about -0.5), far below the
    rung's pass mark of 0.6, so the test asserts the pass mark, not a sign that one draw in forty crossed."""
    PlayerProfile.objects.filter(user=rookie).update(camp_scores={FIRST.slug: 1.0})
    client = login(rookie)
    round_obj = round_of(client.post(f"/play/camp/{SECOND.slug}/predict/"))

    play_predict_round(client, round_obj, guess=lambda item: 8.0 if item.tokens[item.marked] == "cat" else 0.0)

    round_obj.refresh_from_db()
    assert round_obj.skill < camp.RUNG_PASS
    assert PlayerProfile.objects.get(user=rookie).camp_scores.get(SECOND.slug, 0) < camp.RUNG_PASS
    assert client.post(f"/play/camp/{camp.RUNGS[2].slug}/predict/").status_code == 403  # the next rung stays shut


def test_camp_explain_scores_at_once_and_shows_the_lookalikes_it_got_wrong(rookie):
    PlayerProfile.objects.filter(user=rookie).update(camp_scores={FIRST.slug: 1.0})
    client = login(rookie)
    page = client.get(f"/play/camp/{SECOND.slug}/explain/")
    assert page.status_code == 200 and "background-color" in page.content.decode()  # examples with activations

    response = client.post(f"/play/camp/{SECOND.slug}/explain/", {"text": "the word cat", "token": "t1"}, follow=True)

    html = response.content.decode()
    round_obj = Round.objects.get(user=rookie, mode="camp-explain")
    assert round_obj.skill < 0.85
    assert "What it got wrong" in html and "look-alike" in html
    assert SECOND.explanation in html  # the planted rule, revealed after the answer


def test_the_right_explanation_passes_the_rung_and_a_resubmitted_form_counts_once(rookie):
    PlayerProfile.objects.filter(user=rookie).update(camp_scores={FIRST.slug: 1.0})
    client = login(rookie)
    form = {"text": "the word cat right after a colour word", "token": "same-form"}

    client.post(f"/play/camp/{SECOND.slug}/explain/", form)
    client.post(f"/play/camp/{SECOND.slug}/explain/", form)

    assert Round.objects.filter(user=rookie, mode="camp-explain").count() == 1
    assert PlayerProfile.objects.get(user=rookie).camp_scores[SECOND.slug] == 1.0


def test_an_empty_explanation_is_refused_with_a_message(rookie):
    response = login(rookie).post(f"/play/camp/{FIRST.slug}/explain/", {"text": "  ", "token": "x"})

    assert response.status_code == 400
    assert b"Write the explanation" in response.content


def test_real_features_unlock_when_the_camp_skill_passes_the_threshold(rookie, toy_feature, settings):
    settings.GAME_UNLOCK_CAMP_SKILL = 0.4  # two perfect rungs of five
    client = login(rookie)
    assert client.post("/play/predict/", {"feature": toy_feature.pk}).status_code == 403

    for rung in camp.RUNGS[:2]:
        play_predict_round(client, round_of(client.post(f"/play/camp/{rung.slug}/predict/")))

    assert PlayerProfile.objects.get(user=rookie).camp_graduated
    assert client.post("/play/predict/", {"feature": toy_feature.pk}).status_code == 302
    assert "Graduate" in client.get(f"/u/{rookie.username}/").content.decode()


def test_cats_fails_the_colour_rung_in_explain(rookie):
    """'cats' is the context-blind answer the colour rung's lesson calls wrong: it must not pass."""
    PlayerProfile.objects.filter(user=rookie).update(camp_scores={FIRST.slug: 1.0})
    client = login(rookie)

    client.post(f"/play/camp/{SECOND.slug}/explain/", {"text": "cats", "token": "cats"})

    assert Round.objects.get(user=rookie, mode="camp-explain").details["scores"]["detection"] < 0.8
    assert PlayerProfile.objects.get(user=rookie).camp_scores.get(SECOND.slug, 0) < camp.RUNG_PASS
    assert client.post(f"/play/camp/{camp.RUNGS[2].slug}/predict/").status_code == 403


def test_an_exception_for_negation_is_judged_right_on_the_negation_rung(rookie):
    """'No good came of it' is silent, and the judge reads the exception clause so: the answer passes whole."""
    negation = camp.BY_SLUG["not-negated"]
    PlayerProfile.objects.filter(user=rookie).update(camp_scores={FIRST.slug: 1.0, SECOND.slug: 1.0})
    text = "the word good, except when preceded by not, never or no"

    login(rookie).post(f"/play/camp/{negation.slug}/explain/", {"text": text, "token": "good"})

    round_obj = Round.objects.get(user=rookie, mode="camp-explain")
    assert round_obj.skill == 1.0 and not round_obj.details["misses"]
    assert PlayerProfile.objects.get(user=rookie).camp_scores[negation.slug] == 1.0
