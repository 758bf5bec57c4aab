"""Up- and down-votes on explanations: one per user and explanation, changeable and withdrawable."""

import re

from django.urls import reverse

from accounts.models import Ban
from explanations.models import Explanation, FeatureLock, Vote
from explanations.services import explanations as explanation_services
from explanations.services import votes as vote_services

from .conftest import explain, login, make_user


def vote(client, explanation, value: int, *, htmx: bool = True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("explanations:vote", args=[explanation.pk]), {"value": value}, headers=headers)


def score(explanation) -> int:
    return Explanation.objects.get(pk=explanation.pk).vote_score


def test_an_up_vote_counts_and_the_widget_comes_back_pressed(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)

    response = vote(login(bob), explanation, 1)

    assert response.status_code == 200
    html = response.text
    assert "<html" not in html  # an htmx fragment, not a page
    assert '<span class="vote-score" title="Up-votes minus down-votes">1 vote</span>' in html
    assert re.search(r'name="value" value="0"\s+class="vote-button up" aria-pressed="true"', html)
    assert score(explanation) == 1
    assert Vote.objects.get().value == 1


def test_changing_a_vote_moves_the_total_by_two_and_keeps_one_row(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    client = login(bob)

    vote(client, explanation, 1)
    vote(client, explanation, -1)

    assert score(explanation) == -1
    assert Vote.objects.filter(user=bob, explanation=explanation).count() == 1
    assert Vote.objects.get().value == -1


def test_withdrawing_a_vote_removes_it(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    client = login(bob)
    vote(client, explanation, -1)

    response = vote(client, explanation, 0)

    assert score(explanation) == 0
    assert not Vote.objects.exists()
    assert "0 votes" in response.text


def test_voting_the_same_way_twice_counts_once(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    client = login(bob)

    vote(client, explanation, 1)
    vote(client, explanation, 1)

    assert score(explanation) == 1


def test_the_total_is_the_sum_of_everyones_votes(feature, alice):
    explanation = explain(feature, alice, "cat", embed=False)
    for number in range(5):
        vote(login(make_user(f"up{number}")), explanation, 1)
    for number in range(2):
        vote(login(make_user(f"down{number}")), explanation, -1)

    assert score(explanation) == 3 == sum(Vote.objects.values_list("value", flat=True))


def test_without_htmx_a_vote_returns_to_the_explanation_on_the_feature_page(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)

    response = vote(login(bob), explanation, 1, htmx=False)

    assert response.status_code == 302
    assert response.url == f"/tiny/0-mlp/3/#explanation-{explanation.pk}"


def test_the_feature_page_shows_the_readers_own_vote(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    vote_services.vote_cast(user=bob, explanation=explanation, value=-1)

    html = login(bob).get("/tiny/0-mlp/3/").text

    assert re.search(r'name="value" value="0"\s+class="vote-button down" aria-pressed="true"', html)
    assert re.search(r'name="value" value="1"\s+class="vote-button up" aria-pressed="false"', html)


def test_a_vote_that_is_not_one_of_up_down_or_none_is_refused(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)

    assert vote(login(bob), explanation, 5).status_code == 400
    assert vote(login(bob), explanation, "up").status_code == 400
    assert score(explanation) == 0


def test_anonymous_visitors_are_sent_to_log_in(feature, alice, client):
    explanation = explain(feature, alice, "cat", embed=False)

    plain = vote(client, explanation, 1, htmx=False)
    assert plain.status_code == 302 and plain.url.startswith("/accounts/login/")
    htmx = vote(client, explanation, 1)
    assert htmx.status_code == 401 and htmx["HX-Redirect"].startswith("/accounts/login/")
    assert not Vote.objects.exists()


def test_anonymous_visitors_see_the_score_without_buttons(feature, alice, bob, client):
    explanation = explain(feature, alice, "cat", embed=False)
    vote_services.vote_cast(user=bob, explanation=explanation, value=1)

    html = client.get("/tiny/0-mlp/3/").text

    assert "1 vote</span>" in html
    assert "vote-button" not in html


def test_banned_users_cannot_vote(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    Ban.objects.create(user=bob)

    response = vote(login(bob), explanation, 1)

    assert response.status_code == 403
    assert response["HX-Retarget"] == "#wiki-notice"
    assert "banned" in response.text
    assert score(explanation) == 0


def test_hidden_explanations_cannot_be_voted_on(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    Explanation.objects.filter(pk=explanation.pk).update(hidden=True)

    assert vote(login(bob), explanation, 1).status_code == 404
    assert not Vote.objects.exists()


def test_votes_stay_open_on_a_locked_feature(feature, alice, bob, moderator):
    explanation = explain(feature, alice, "cat", embed=False)
    FeatureLock.objects.create(feature=feature, locked_by=moderator)

    assert vote(login(bob), explanation, 1).status_code == 200
    assert score(explanation) == 1


def test_a_get_request_changes_nothing(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)

    assert login(bob).get(reverse("explanations:vote", args=[explanation.pk]), {"value": 1}).status_code == 405
    assert score(explanation) == 0


def test_nobody_votes_on_their_own_explanation(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)

    refused = vote(login(alice), explanation, 1)

    assert refused.status_code == 403 and "You wrote this explanation" in refused.text
    assert score(explanation) == 0 and not Vote.objects.exists()
    # Nor does the author of its current text, and the page offers them no buttons.
    explanation_services.explanation_revise(explanation=explanation, author=bob, text="cat on a mat", embed=False)
    assert vote(login(bob), explanation, 1).status_code == 403
    html = login(bob).get("/tiny/0-mlp/3/").text
    assert f'id="vote-{explanation.pk}"' in html and "vote-button" not in html
    assert score(explanation) == 0


def test_a_substantive_edit_by_someone_else_sets_the_votes_apart_until_voters_confirm(feature, alice, bob):
    carol = make_user("carol")
    explanation = explain(feature, alice, "the word cat after a colour word such as black", embed=False)
    vote_services.vote_cast(user=bob, explanation=explanation, value=1)
    vote_services.vote_cast(user=carol, explanation=explanation, value=1)
    assert score(explanation) == 2

    vandal = make_user("vandal")
    explanation_services.explanation_revise(explanation=explanation, author=vandal, text="VANDALISM lol", embed=False)

    assert score(explanation) == 0, "votes on the old text do not count for the new one"
    html = login(bob).get("/tiny/0-mlp/3/").text
    assert "0 votes</span>" in html and "2 on earlier versions" in html
    assert re.search(r'value="1"\s+class="vote-button up" aria-pressed="false"', html), "bob's vote is not on this text"

    vote_services.vote_cast(user=bob, explanation=explanation, value=-1)  # bob confirms, as a down-vote
    assert score(explanation) == -1
    assert "1 on earlier versions" in login(carol).get("/tiny/0-mlp/3/").text


def test_a_typo_fix_keeps_the_votes_and_a_revert_brings_them_back(feature, alice, bob):
    carol = make_user("carol")
    explanation = explain(feature, alice, "the word cat after a colour word such as black", embed=False)
    original = explanation.current_revision
    vote_services.vote_cast(user=bob, explanation=explanation, value=1)

    explanation_services.explanation_revise(
        explanation=explanation, author=carol, text="the word cat after a color word such as black", embed=False
    )
    assert score(explanation) == 1, "a small correction does not change what was voted on"

    explanation_services.explanation_revise(explanation=explanation, author=carol, text="dogs", embed=False)
    assert score(explanation) == 0
    explanation_services.explanation_revert(explanation=explanation, revision=original, author=alice)
    assert score(explanation) == 1, "restoring the text restores the votes cast on it"
