"""Rate limits on posting, voting and signing up, with a friendly message when one is hit."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.rate_limits import RateLimited, rate_limit_consume
from explanations.models import Comment, Explanation, Vote

from .conftest import explain, login, make_user


def comment(client, body: str, *, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("explanations:comment-new", args=["tiny", "0-mlp", 3]), {"body": body}, headers=headers)


def test_posting_past_the_comment_limit_gets_a_friendly_429(feature, alice, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "comment": "2/m"}
    client = login(alice)

    assert [comment(client, f"c{n}").status_code for n in range(2)] == [302, 302]
    response = comment(client, "one too many")

    assert response.status_code == 429
    assert "Slow down a little: you can make 2 comments a minute." in response.text
    assert "Try again in" in response.text
    assert int(response["Retry-After"]) in range(1, 121)  # at most two periods with a sliding window
    assert Comment.objects.count() == 2


def test_an_htmx_request_past_the_limit_gets_a_notice_for_the_page(feature, alice, bob, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "vote": "1/h"}
    explanation = explain(feature, bob, "cat", embed=False)  # alice votes on someone else's explanation
    client = login(alice)
    url = reverse("explanations:vote", args=[explanation.pk])

    client.post(url, {"value": 1}, headers={"HX-Request": "true"})
    response = client.post(url, {"value": -1}, headers={"HX-Request": "true"})

    assert response.status_code == 429
    assert response["HX-Retarget"] == "#wiki-notice"
    assert response.text.startswith('<p class="notice" role="alert">Slow down a little: you can make 1 vote an hour.')
    assert Vote.objects.get().value == 1


def test_limits_count_per_user(feature, alice, bob, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "comment": "1/m"}

    assert comment(login(alice), "a").status_code == 302
    assert comment(login(bob), "b").status_code == 302
    assert comment(login(alice), "a again").status_code == 429


def test_explanations_have_their_own_limit(feature, alice, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "explanation": "1/h"}
    client = login(alice)
    url = reverse("explanations:explanation-new", args=["tiny", "0-mlp", 3])

    assert client.post(url, {"text": "one"}).status_code == 302
    assert client.post(url, {"text": "two"}).status_code == 429
    assert Explanation.objects.count() == 1
    # Reading is never limited.
    assert client.get("/tiny/0-mlp/3/").status_code == 200


def test_an_action_without_a_limit_is_not_limited(db, settings):
    settings.WIKI_RATE_LIMITS = {}

    assert all(rate_limit_consume(action="comment", key="1") is None for _ in range(100))


def test_a_refused_request_is_not_counted_and_the_limit_lifts_when_it_said(db, settings, monkeypatch):
    settings.WIKI_RATE_LIMITS = {"vote": "2/m"}
    clock = [1_000_050.0]  # 50 seconds into a minute
    monkeypatch.setattr("accounts.rate_limits.time.time", lambda: clock[0])

    rate_limit_consume(action="vote", key="7")
    rate_limit_consume(action="vote", key="7")
    with pytest.raises(RateLimited) as limited:
        rate_limit_consume(action="vote", key="7")
    # Just past the minute's edge the two votes still count (a fixed window would let a third through).
    clock[0] += 15
    with pytest.raises(RateLimited):
        rate_limit_consume(action="vote", key="7")

    clock[0] = 1_000_050.0 + limited.value.retry_after
    rate_limit_consume(action="vote", key="7")
    with pytest.raises(RateLimited):
        rate_limit_consume(action="vote", key="7")


def test_signups_are_limited_by_allauth_with_the_same_friendly_page(db, client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"signup": "1/h/ip"}
    form = {
        "email": "a@example.com",
        "username": "first",
        "password1": "a long passphrase 1",
        "password2": "a long passphrase 1",
    }

    assert client.post(reverse("account_signup"), form).status_code == 302
    client.logout()
    second = client.post(reverse("account_signup"), {**form, "email": "b@example.com", "username": "second"})

    assert second.status_code == 429
    assert "Slow down a little" in second.text
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["first"]


def test_the_default_limits_let_a_busy_person_work(feature, alice):
    explanation = explain(feature, alice, "cat", embed=False)
    voters = [make_user(f"v{n}") for n in range(3)]
    for voter in voters:
        assert login(voter).post(reverse("explanations:vote", args=[explanation.pk]), {"value": 1}).status_code == 302
    client = login(alice)

    assert [comment(client, f"thought {n}").status_code for n in range(10)] == [302] * 10
