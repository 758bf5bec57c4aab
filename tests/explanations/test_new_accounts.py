"""New accounts cannot replace someone else's explanation (explanations/services/permissions.py): a brand-new
account that turns another person's explanation into "VANDALISM lol" is refused, while it may still add its own
explanation or comment; an established account may edit; the author reverts vandalism in one click."""

from datetime import timedelta

import pytest
from django.utils import timezone

from explanations.models import Comment, Explanation
from explanations.services import explanations as explanation_services
from explanations.services import votes as vote_services

from .conftest import explain, login, make_user

URL = "/tiny/0-mlp/3/"


@pytest.fixture(autouse=True)
def new_account_rule(settings):
    settings.WIKI_NEW_ACCOUNT_DAYS = 3
    settings.WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION = True


def edit(client, explanation, text: str):
    return client.post(
        f"/explanations/{explanation.pk}/edit/", {"text": text, "base_revision": explanation.current_revision_id}
    )


def established(username: str):
    """An account a week old, with an explanation of its own that someone else voted up."""
    user = make_user(username, date_joined=timezone.now() - timedelta(days=7))
    own = explain(Explanation.objects.first().feature, user, f"numbers, says {username}", embed=False)
    vote_services.vote_cast(user=make_user(f"fan-of-{username}"), explanation=own, value=1)
    return user


def test_a_new_account_cannot_replace_someone_elses_explanation(feature, alice):
    explanation = explain(feature, alice, "the word cat after a colour word", embed=False)
    vandal = make_user("vandal")

    response = edit(login(vandal), explanation, "VANDALISM lol")

    assert response.status_code == 403 and "New accounts cannot replace" in response.text
    explanation.refresh_from_db()
    assert explanation.text == "the word cat after a colour word" and explanation.revisions.count() == 1


def test_a_new_account_may_still_add_its_own_explanation_and_comment(feature, alice):
    explain(feature, alice, "the word cat after a colour word", embed=False)
    client = login(make_user("newcomer"))

    added = client.post(f"{URL}explain/", {"text": "cats, and only cats"})
    commented = client.post(f"{URL}comment/", {"body": "I think it is about colours first."})

    assert added.status_code == 302 and commented.status_code == 302
    assert Explanation.objects.filter(current_revision__text="cats, and only cats").exists()
    assert Comment.objects.filter(body="I think it is about colours first.").exists()


def test_an_old_account_with_nothing_accepted_is_still_new(feature, alice):
    explanation = explain(feature, alice, "the word cat after a colour word", embed=False)
    old_but_unproven = make_user("lurker", date_joined=timezone.now() - timedelta(days=30))

    assert edit(login(old_but_unproven), explanation, "cats").status_code == 403


def test_an_established_account_and_the_author_may_edit(feature, alice):
    explanation = explain(feature, alice, "the word cat after a colour word", embed=False)
    editor = established("editor")

    assert edit(login(editor), explanation, "the word cat after black or white").status_code == 302
    explanation.refresh_from_db()
    assert explanation.text == "the word cat after black or white"
    assert edit(login(alice), explanation, "cat after black, white or grey").status_code == 302


def test_the_author_reverts_vandalism_in_one_click(feature, alice, settings):
    explanation = explain(feature, alice, "the word cat after a colour word", embed=False)
    original = explanation.current_revision
    settings.WIKI_NEW_ACCOUNT_DAYS, settings.WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION = 0, False  # a vandal got in
    explanation_services.explanation_revise(
        explanation=explanation, author=make_user("vandal"), text="VANDALISM lol", embed=False
    )
    settings.WIKI_NEW_ACCOUNT_DAYS, settings.WIKI_EDITORS_NEED_ACCEPTED_CONTRIBUTION = 3, True

    response = login(alice).post(f"/explanations/{explanation.pk}/revert/{original.pk}/")

    assert response.status_code == 302
    explanation.refresh_from_db()
    assert explanation.text == "the word cat after a colour word"
