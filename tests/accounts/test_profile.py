from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from explanations.models import Comment, Explanation, ExplanationRevision


def write_explanation(feature, author, text: str) -> Explanation:
    explanation = Explanation.objects.create(feature=feature, author=author)
    revision = ExplanationRevision.objects.create(explanation=explanation, text=text, author=author)
    explanation.current_revision = revision
    explanation.save(update_fields=["current_revision"])
    return explanation


def test_profile_shows_the_username_and_join_date(client, alice):
    response = client.get(reverse("front:profile", args=["alice"]))

    assert response.status_code == 200
    html = response.text
    assert "<h1>alice</h1>" in html
    assert f'datetime="{alice.date_joined.isoformat()}"' in html
    assert alice.date_joined.strftime("%B %Y") in html


def test_profile_lists_explanations_with_links_to_their_features(client, alice, feature):
    write_explanation(feature, alice, "fires on the word cat after a colour")

    html = client.get(reverse("front:profile", args=["alice"])).text

    assert feature.get_absolute_url() == "/m/0-mlp/3/"
    assert '<a class="feature-ref" href="/m/0-mlp/3/">m/0-mlp/3</a>' in html
    assert "fires on the word cat after a colour" in html
    assert "<dt>Explanations</dt><dd>1</dd>" in html


def test_profile_counts_every_revision_the_user_wrote(client, alice, bob, feature):
    explanation = write_explanation(feature, bob, "cats")
    for text in ("cats and dogs", "cats after colour words"):
        ExplanationRevision.objects.create(explanation=explanation, text=text, author=alice)

    html = client.get(reverse("front:profile", args=["alice"])).text

    assert "<dt>Revisions</dt><dd>2</dd>" in html
    # Editing bob's explanation does not make it alice's.
    assert "<dt>Explanations</dt><dd>0</dd>" in html
    assert "No explanations yet." in html


def test_profile_lists_comments_but_not_deleted_or_hidden_ones(client, alice, feature):
    kept = Comment.objects.create(feature=feature, author=alice, body="Also fires on kittens.")
    Comment.objects.create(feature=feature, author=alice, body="A deleted thought.", deleted=True)
    Comment.objects.create(feature=feature, author=alice, body="A moderated remark.", hidden=True)

    html = client.get(reverse("front:profile", args=["alice"])).text

    assert "Also fires on kittens." in html
    assert "A deleted thought." not in html
    assert "A moderated remark." not in html
    assert "<dt>Comments</dt><dd>1</dd>" in html
    # The link goes to the comment on its feature's page.
    assert f'<a class="feature-ref" href="/m/0-mlp/3/#comment-{kept.pk}">m/0-mlp/3</a>' in html
    assert html.count('class="feature-ref"') == 1


def test_profile_shows_only_that_users_contributions(client, alice, bob, feature):
    write_explanation(feature, bob, "bob's idea")
    Comment.objects.create(feature=feature, author=bob, body="bob's comment")

    html = client.get(reverse("front:profile", args=["alice"])).text

    assert "bob&#x27;s idea" not in html
    assert "bob&#x27;s comment" not in html
    assert "No comments yet." in html


def test_hidden_explanations_are_left_off_the_profile(client, alice, feature):
    explanation = write_explanation(feature, alice, "a hidden explanation")
    Explanation.objects.filter(pk=explanation.pk).update(hidden=True)

    html = client.get(reverse("front:profile", args=["alice"])).text

    assert "a hidden explanation" not in html


def test_profile_queries_do_not_grow_with_its_rows(client, alice, feature):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("front:profile", args=["alice"]))
        return len(queries)

    write_explanation(feature, alice, "first")
    Comment.objects.create(feature=feature, author=alice, body="first comment")
    one_each = count_queries()

    for i in range(5):
        write_explanation(feature, alice, f"more {i}")
        Comment.objects.create(feature=feature, author=alice, body=f"more comment {i}")

    assert count_queries() == one_each


def test_owner_sees_links_to_manage_email_and_password(client, alice):
    client.force_login(alice)

    html = client.get(reverse("front:profile", args=["alice"])).text

    assert f'<a href="{reverse("account_email")}">Manage email addresses</a>' in html
    assert f'<a href="{reverse("account_change_password")}">Change password</a>' in html


def test_other_visitors_do_not_see_the_account_links(client, alice, bob):
    client.force_login(bob)
    assert reverse("account_email") not in client.get(reverse("front:profile", args=["alice"])).text

    client.logout()
    assert reverse("account_email") not in client.get(reverse("front:profile", args=["alice"])).text


def test_unknown_username_is_a_404(client, db):
    response = client.get("/u/nobody-by-this-name/")

    assert response.status_code == 404
    assert "There is no user called nobody-by-this-name." in response.text
    assert '<header class="site-header">' in response.text


def test_profile_lists_revisions_with_links_to_their_changes(client, alice, bob, feature):
    from explanations.services import explanations as explanation_services

    explanation = explanation_services.explanation_create(feature=feature, author=bob, text="cats", embed=False)
    revision = explanation_services.explanation_revise(
        explanation=explanation, author=alice, text="cats after colours", message="narrower", embed=False
    )

    html = client.get(reverse("front:profile", args=["alice"])).text

    section = html.split('<section class="profile-revisions">', 1)[1].split("</section>", 1)[0]
    assert (
        f'<a href="/explanations/{explanation.pk}/diff/?from={revision.previous_id}&amp;to={revision.pk}">revised</a>'
        in section
    )
    assert "cats after colours" in section and "narrower" in section


def test_profile_shows_public_lists_to_everyone_and_private_ones_to_the_owner(client, alice, feature):
    from explanations.services import lists as list_services

    list_services.list_create(owner=alice, name="Open list", is_public=True)
    list_services.list_create(owner=alice, name="Secret list")

    public_view = client.get(reverse("front:profile", args=["alice"])).text
    client.force_login(alice)
    owner_view = client.get(reverse("front:profile", args=["alice"])).text

    assert "Open list" in public_view and "Secret list" not in public_view
    assert "<dt>Lists</dt><dd>1</dd>" in public_view
    assert "Open list" in owner_view and "Secret list" in owner_view
    assert "<dt>Lists</dt><dd>2</dd>" in owner_view


def test_the_owner_gets_links_to_their_watchlist_and_bookmarks(client, alice, bob):
    client.force_login(alice)
    own = client.get(reverse("front:profile", args=["alice"])).text
    other = client.get(reverse("front:profile", args=["bob"])).text

    assert '<a href="/watchlist/">Your watchlist</a>' in own
    assert '<a href="/bookmarks/">Your bookmarks</a>' in own
    assert "/watchlist/" not in other.split("<main>", 1)[1]
