"""Adding an explanation to a feature, through the feature page's form."""

from django.urls import reverse

from accounts.models import Ban
from explanations.models import Explanation, FeatureLock, Watch
from explanations.services import explanations as explanation_services

from .conftest import login


def explain_url(feature) -> str:
    return reverse("explanations:explanation-new", args=["tiny", "0-mlp", feature.index])


def test_a_signed_in_user_adds_an_explanation_with_its_first_revision(feature, alice):
    response = login(alice).post(explain_url(feature), {"text": "  the word   cat ", "rule": "", "message": ""})

    explanation = Explanation.objects.get(feature=feature)
    assert response.status_code == 302
    assert response.url == f"/tiny/0-mlp/3/#explanation-{explanation.pk}"
    assert explanation.author == alice
    assert explanation.text == "the word cat"
    revision = explanation.current_revision
    assert (revision.author, revision.previous, revision.message) == (alice, None, "Created")
    assert explanation.revisions.count() == 1


def test_the_new_explanation_appears_on_the_feature_page_with_its_author(feature, alice, client):
    login(alice).post(explain_url(feature), {"text": "the word cat"})

    html = client.get("/tiny/0-mlp/3/").text
    assert '<p class="explanation-text">the word cat</p>' in html
    assert 'by <a href="/u/alice/">alice</a>' in html


def test_writing_an_explanation_watches_the_feature(feature, alice):
    login(alice).post(explain_url(feature), {"text": "the word cat"})

    assert Watch.objects.filter(user=alice, feature=feature).exists()


def test_a_valid_rule_is_stored_in_its_parsed_form_and_shown(feature, alice, client):
    login(alice).post(explain_url(feature), {"text": "cat after a colour", "rule": "[black|white]  *cat*"})

    revision = Explanation.objects.get().current_revision
    assert revision.rule == {"source": "[black|white] *cat*", "pattern": [["black", "white"], ["cat"]], "target": 1}
    assert "Rule: <code>[black|white] *cat*</code>" in client.get("/tiny/0-mlp/3/").text


def test_an_invalid_rule_is_a_form_error_and_nothing_is_saved(feature, alice):
    response = login(alice).post(explain_url(feature), {"text": "cat after a colour", "rule": "[black|white] cat"})

    assert response.status_code == 200
    assert "Mark the token the feature fires on with stars" in response.text
    assert not Explanation.objects.exists()


def test_an_empty_explanation_is_refused_with_a_form_error(feature, alice):
    response = login(alice).post(explain_url(feature), {"text": "   "})

    assert response.status_code == 200
    assert "This field is required." in response.text or "Write the explanation" in response.text
    assert not Explanation.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in_and_nothing_is_saved(feature, client):
    response = client.post(explain_url(feature), {"text": "the word cat"})

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")
    assert not Explanation.objects.exists()


def test_a_banned_user_is_refused(feature, alice):
    Ban.objects.create(user=alice, reason="spam")

    response = login(alice).post(explain_url(feature), {"text": "buy cheap watches"})

    assert response.status_code == 403
    assert "Your account is banned from writing on the wiki." in response.text
    assert not Explanation.objects.exists()


def test_nobody_but_staff_adds_explanations_to_a_locked_feature(feature, alice, moderator):
    FeatureLock.objects.create(feature=feature, locked_by=moderator, reason="edit war")

    refused = login(alice).post(explain_url(feature), {"text": "the word cat"})
    assert refused.status_code == 403
    assert "A moderator has locked the explanations of tiny/0-mlp/3 (edit war)." in refused.text
    assert not Explanation.objects.exists()

    assert login(moderator).post(explain_url(feature), {"text": "the word cat"}).status_code == 302
    assert Explanation.objects.get().author == moderator


def test_the_page_hides_the_add_form_on_a_locked_feature_and_says_why(feature, alice, moderator):
    FeatureLock.objects.create(feature=feature, locked_by=moderator, reason="edit war")

    html = login(alice).get("/tiny/0-mlp/3/").text

    assert "A moderator has locked these explanations: edit war." in html
    assert "Add an explanation" not in html


def test_an_unknown_feature_is_a_404(feature, alice):
    response = login(alice).post(reverse("explanations:explanation-new", args=["tiny", "0-mlp", 99]), {"text": "x"})

    assert response.status_code == 404


def test_machine_written_explanations_show_their_method_and_model(feature, client):
    explanation_services.explanation_create(
        feature=feature, text="numbers in lists", method="token-stats", explainer_model="gpt-4o-mini", embed=False
    )

    html = client.get("/tiny/0-mlp/3/").text

    assert "by token-stats (gpt-4o-mini)" in html
    assert 'title="Written by an automatic explainer">machine</span>' in html


def test_a_person_who_revises_a_machine_explanation_is_shown_as_the_author_of_its_text(feature, alice, client):
    explanation = explanation_services.explanation_create(
        feature=feature, text="numbers", method="token-stats", embed=False
    )
    explanation_services.explanation_revise(explanation=explanation, author=alice, text="numbers in lists", embed=False)

    html = client.get("/tiny/0-mlp/3/").text

    assert "by token-stats" in html
    assert 'text by <a href="/u/alice/">alice</a> · started by token-stats' in html
