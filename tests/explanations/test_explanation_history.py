"""Revising an explanation, its history, diffs between revisions, and reverts."""

from django.urls import reverse

from accounts.models import Ban
from explanations.models import Explanation, ExplanationRevision, FeatureLock

from .conftest import explain, login


def edit(client, explanation, text: str, **extra):
    data = {"text": text, "rule": "", "message": "", "base_revision": explanation.current_revision_id, **extra}
    return client.post(reverse("explanations:edit", args=[explanation.pk]), data)


def test_the_edit_form_starts_from_the_current_text_and_rule(feature, alice, bob):
    explanation = explain(feature, alice, "cat", rule_text="[black|white] *cat*")

    html = login(bob).get(reverse("explanations:edit", args=[explanation.pk])).text

    assert ">\ncat</textarea>" in html
    assert 'value="[black|white] *cat*"' in html
    assert f'name="base_revision" value="{explanation.current_revision_id}"' in html


def test_any_signed_in_user_revises_an_explanation_and_the_old_revision_is_kept(feature, alice, bob):
    explanation = explain(feature, alice, "cat")
    first = explanation.current_revision

    response = edit(login(bob), explanation, "cat after a colour word", message="more precise")

    assert response.status_code == 302
    explanation.refresh_from_db()
    current = explanation.current_revision
    assert (current.text, current.author, current.message, current.previous) == (
        "cat after a colour word",
        bob,
        "more precise",
        first,
    )
    first.refresh_from_db()
    assert first.text == "cat"
    assert explanation.author == alice  # creating it, not editing it, makes it someone's


def test_the_history_lists_every_revision_newest_first_with_authors_and_messages(feature, alice, bob, client):
    explanation = explain(feature, alice, "cat")
    edit(login(bob), explanation, "cat after a colour word", message="more precise")

    html = client.get(reverse("explanations:history", args=[explanation.pk])).text

    assert 'Revisions <span class="muted">(2)</span>' in html
    newest, oldest = html.index("cat after a colour word</span>"), html.index('"revision-text">cat</span>')
    assert newest < oldest
    assert '<a href="/u/bob/">bob</a>' in html and "more precise" in html
    assert '<a href="/u/alice/">alice</a>' in html and "Created" in html


def test_the_diff_marks_removed_and_added_words(feature, alice, bob, client):
    explanation = explain(feature, alice, "the cat sat", rule_text="*cat*")
    first = explanation.current_revision
    edit(login(bob), explanation, "the black cat sat", rule="black *cat*")
    second = Explanation.objects.get().current_revision

    html = client.get(reverse("explanations:diff", args=[explanation.pk]), {"from": first.pk, "to": second.pk}).text

    assert '<span class="diff">the<ins> black</ins> cat sat</span>' in html
    assert '<span class="diff"><ins>black </ins>*cat*</span>' in html


def test_a_diff_between_revisions_in_either_order_reads_old_to_new(feature, alice, client):
    explanation = explain(feature, alice, "one")
    first = explanation.current_revision
    edit(login(alice), explanation, "two")
    second = Explanation.objects.get().current_revision

    html = client.get(reverse("explanations:diff", args=[explanation.pk]), {"from": second.pk, "to": first.pk}).text

    assert "<del>one</del><ins>two</ins>" in html


def test_a_diff_with_a_revision_of_another_explanation_is_a_404(feature, alice, client):
    explanation = explain(feature, alice, "one")
    stranger = explain(feature, alice, "two").current_revision

    url = reverse("explanations:diff", args=[explanation.pk])
    assert client.get(url, {"from": explanation.current_revision_id, "to": stranger.pk}).status_code == 404


def test_revert_makes_an_old_text_current_as_a_new_revision(feature, alice, bob):
    explanation = explain(feature, alice, "cat", rule_text="*cat*")
    first = explanation.current_revision
    edit(login(bob), explanation, "vandalism")

    response = login(alice).post(reverse("explanations:revert", args=[explanation.pk, first.pk]), {"message": "spam"})

    assert response.status_code == 302
    explanation.refresh_from_db()
    assert explanation.revisions.count() == 3
    current = explanation.current_revision
    assert (current.text, current.rule, current.author) == ("cat", first.rule, alice)
    assert current.message == f"Reverted to revision {first.pk}: spam"
    assert current.previous.text == "vandalism"


def test_reverting_to_the_current_text_changes_nothing_and_says_so(feature, alice, client):
    explanation = explain(feature, alice, "cat")
    alice_client = login(alice)

    response = alice_client.post(
        reverse("explanations:revert", args=[explanation.pk, explanation.current_revision_id]), follow=True
    )

    assert "That is the current version already" in response.text
    assert explanation.revisions.count() == 1


def test_saving_over_someone_elses_newer_revision_is_an_edit_conflict(feature, alice, bob):
    explanation = explain(feature, alice, "cat")
    stale_base = explanation.current_revision_id
    edit(login(alice), explanation, "cat after colours")

    response = edit(login(bob), explanation, "a feline", base_revision=stale_base)

    assert response.status_code == 200
    assert "Someone else saved a new version while you were editing." in response.text
    assert "cat after colours" in response.text  # their version is shown to compare
    assert explanation.revisions.count() == 2
    # The form now carries the newer base, so saving again goes through.
    newest = Explanation.objects.get().current_revision_id
    assert f'name="base_revision" value="{newest}"' in response.text
    assert edit(login(bob), Explanation.objects.get(), "a feline").status_code == 302


def test_saving_the_same_text_is_refused_as_no_change(feature, alice):
    explanation = explain(feature, alice, "cat")

    response = edit(login(alice), explanation, "cat")

    assert "That is the current version already" in response.text
    assert explanation.revisions.count() == 1


def test_anonymous_visitors_cannot_edit_or_revert(feature, alice, client):
    explanation = explain(feature, alice, "cat")

    assert edit(client, explanation, "dog").status_code == 302
    revert = client.post(reverse("explanations:revert", args=[explanation.pk, explanation.current_revision_id]))
    assert revert.status_code == 302 and "/accounts/login/" in revert.url
    assert ExplanationRevision.objects.count() == 1


def test_banned_users_cannot_edit(feature, alice, bob):
    explanation = explain(feature, alice, "cat")
    Ban.objects.create(user=bob)

    assert edit(login(bob), explanation, "dog").status_code == 403
    assert ExplanationRevision.objects.count() == 1


def test_only_staff_edit_or_revert_on_a_locked_feature(feature, alice, bob, moderator):
    explanation = explain(feature, alice, "cat")
    first = explanation.current_revision
    edit(login(alice), explanation, "cat again")
    FeatureLock.objects.create(feature=feature, locked_by=moderator)

    assert edit(login(bob), explanation, "dog").status_code == 403
    assert login(bob).post(reverse("explanations:revert", args=[explanation.pk, first.pk])).status_code == 403
    assert ExplanationRevision.objects.count() == 2

    assert edit(login(moderator), Explanation.objects.get(), "dog").status_code == 302
    assert ExplanationRevision.objects.count() == 3


def test_a_hidden_explanation_has_no_public_history_and_cannot_be_edited(feature, alice, bob, moderator, client):
    explanation = explain(feature, alice, "spam")
    Explanation.objects.filter(pk=explanation.pk).update(hidden=True)

    assert client.get(reverse("explanations:history", args=[explanation.pk])).status_code == 404
    assert edit(login(bob), explanation, "more spam").status_code == 404
    assert login(moderator).get(reverse("explanations:history", args=[explanation.pk])).status_code == 200


def test_a_revision_page_shows_that_revisions_text_and_rule(feature, alice, client):
    explanation = explain(feature, alice, "cat", rule_text="*cat*")
    first = explanation.current_revision
    edit(login(alice), explanation, "dog")

    html = client.get(reverse("explanations:revision", args=[explanation.pk, first.pk])).text

    assert '<p class="explanation-text">cat</p>' in html
    assert "Rule: <code>*cat*</code>" in html
