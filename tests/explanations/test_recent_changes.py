"""The wiki's recent changes, filterable, and a user's watchlist of changes on the features they follow."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from explanations.models import Comment, Explanation, ExplanationRevision, Watch
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services

from .conftest import explain, login


def change_kinds(html: str) -> list[str]:
    return [
        line.split("change-", 1)[1].split('"', 1)[0] for line in html.splitlines() if 'class="change change-' in line
    ]


def age(obj, minutes: int) -> None:
    """Move something written into the past, so tests can order changes."""
    type(obj).objects.filter(pk=obj.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_recent_changes_lists_new_explanations_revisions_and_comments_newest_first(feature, alice, bob, client):
    explanation = explain(feature, alice, "cat", embed=False)
    age(explanation.current_revision, 30)
    revision = explanation_services.explanation_revise(
        explanation=explanation, author=bob, text="black cat", embed=False
    )
    age(revision, 20)
    comment_services.comment_post(author=bob, feature=feature, body="why black?")

    html = client.get(reverse("explanations:recent")).text

    assert change_kinds(html) == ["comment", "revision", "explanation"]
    assert "why black?" in html
    assert f'?from={revision.previous_id}&amp;to={revision.pk}">diff</a>' in html


def test_recent_changes_filter_by_kind_model_and_people(feature, other_feature, alice, client):
    explain(feature, alice, "tiny one", embed=False)
    explain(other_feature, alice, "other one", embed=False)
    explanation_services.explanation_create(feature=feature, text="machine one", method="token-stats", embed=False)
    comment_services.comment_post(author=alice, feature=other_feature, body="a comment")
    url = reverse("explanations:recent")

    assert change_kinds(client.get(url, {"kind": "comment"}).text) == ["comment"]
    by_model = client.get(url, {"model": "other"}).text
    assert "other one" in by_model and "a comment" in by_model and "tiny one" not in by_model
    people = client.get(url, {"kind": "explanation", "by": "people"}).text
    assert "machine one" not in people and "tiny one" in people
    assert "by token-stats" in client.get(url).text


def test_hidden_explanations_and_deleted_comments_stay_out_of_recent_changes(feature, alice, client):
    hidden = explain(feature, alice, "spam explanation", embed=False)
    Explanation.objects.filter(pk=hidden.pk).update(hidden=True)
    comment = comment_services.comment_post(author=alice, feature=feature, body="regrettable comment")
    comment_services.comment_delete(comment=comment, user=alice)

    html = client.get(reverse("explanations:recent")).text

    assert "spam explanation" not in html and "regrettable comment" not in html


def test_recent_changes_page_back_in_time(feature, alice, client):
    for number in range(60):
        revision = explain(feature, alice, f"explanation {number}", embed=False).current_revision
        age(revision, 100 - number)

    first_page = client.get(reverse("explanations:recent")).text
    older_link = first_page.split('<a href="?', 1)[1].split('">Older changes', 1)[0].replace("&amp;", "&")
    second_page = client.get(reverse("explanations:recent") + "?" + older_link).text

    assert first_page.count('class="change change-') == 50
    assert "explanation 59<" in first_page and "explanation 10<" in first_page and "explanation 9<" not in first_page
    assert second_page.count('class="change change-') == 10
    assert "explanation 9<" in second_page and "explanation 0<" in second_page and "explanation 10<" not in second_page


def test_the_watchlist_shows_changes_on_watched_features_only(feature, other_feature, alice, bob):
    Watch.objects.create(user=bob, feature=feature)
    explain(feature, alice, "on the watched feature", embed=False)
    explain(other_feature, alice, "on another feature", embed=False)
    comment_services.comment_post(author=alice, feature=feature, body="a watched discussion")

    html = login(bob).get(reverse("explanations:watchlist")).text

    assert "on the watched feature" in html and "a watched discussion" in html
    assert "on another feature" not in html
    assert '<a class="feature-ref" href="/tiny/0-mlp/3/">tiny/0-mlp/3</a></li>' in html


def test_writing_on_a_feature_adds_it_to_the_writers_watchlist(feature, other_feature, alice, bob):
    comment_services.comment_post(author=alice, feature=other_feature, body="I wrote here")
    explain(other_feature, bob, "someone else's explanation", embed=False)

    html = login(alice).get(reverse("explanations:watchlist")).text

    assert "someone else&#x27;s explanation" in html


def test_unwatching_takes_a_feature_off_the_watchlist(feature, alice, bob):
    explain(feature, bob, "news", embed=False)
    client = login(alice)
    client.post(reverse("explanations:watch", args=["tiny", "0-mlp", 3]), {"watch": "1"})
    assert "news" in client.get(reverse("explanations:watchlist")).text

    client.post(reverse("explanations:watch", args=["tiny", "0-mlp", 3]), {"watch": "0"})

    assert "news" not in client.get(reverse("explanations:watchlist")).text


def test_the_watchlist_needs_an_account(db, client):
    response = client.get(reverse("explanations:watchlist"))

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_recent_changes_cost_the_same_queries_however_many_changes(
    feature, alice, client, django_assert_max_num_queries
):
    explain(feature, alice, "one", embed=False)
    comment_services.comment_post(author=alice, feature=feature, body="one")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as baseline:
        client.get(reverse("explanations:recent"))
    for number in range(20):
        explanation = explain(feature, alice, f"more {number}", embed=False)
        explanation_services.explanation_revise(
            explanation=explanation, author=alice, text=f"more {number}!", embed=False
        )
        comment_services.comment_post(author=alice, feature=feature, body=f"more {number}")

    with django_assert_max_num_queries(len(baseline)):
        client.get(reverse("explanations:recent"))
    assert ExplanationRevision.objects.count() == 41 and Comment.objects.count() == 21
