"""The whole feature page is cached for anonymous readers (front/page_cache.py): an anonymous reader who
saw the page before a write sees the write on the next view, whatever wrote it; each reader gets their own
CSRF token; signed-in readers are never served the cached page; a cached view costs one query."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from explanations.models import Comment, Explanation, FeatureLock
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services
from explanations.services import moderation as moderation_services
from explanations.services import votes as vote_services
from features.models import Feature
from front import page_cache
from gameplay.services.human_scores import human_scores_update
from scoring.models import ExplanationScore
from tests.features.wiki_data import add_comment, add_explanation, get_feature, make_user


@pytest.fixture
def feature(computed_run) -> Feature:
    return get_feature("0-mlp", 3)


@pytest.fixture
def staff(db):
    user = make_user("moderator")
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def reader(computed_run) -> Client:
    return Client()


def page(client: Client, feature: Feature) -> str:
    response = client.get(feature.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def cached_view(client: Client, feature: Feature) -> str:
    """View the page twice, the second from the cache (one query)."""
    page(client, feature)
    with CaptureQueriesContext(connection) as queries:
        content = page(client, feature)
    assert len(queries.captured_queries) == 1
    return content


def csrf_tokens(content: str) -> set[str]:
    return set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]*)"', content))


def test_a_cached_view_costs_one_query_and_shows_the_same_page(feature, reader):
    first = page(reader, feature)
    with CaptureQueriesContext(connection) as queries:
        second = page(reader, feature)
    assert len(queries.captured_queries) == 1
    assert "features_feature" in queries.captured_queries[0]["sql"]
    assert re.sub(r'value="[A-Za-z0-9]{64}"', "", first) == re.sub(r'value="[A-Za-z0-9]{64}"', "", second)


def test_each_reader_gets_their_own_csrf_token_and_it_works(feature):
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    cached_view(first, feature)
    content = cached_view(second, feature)
    token = csrf_tokens(content)
    assert len(token) == 1 and page_cache.CSRF_PLACEHOLDER not in content
    assert token != csrf_tokens(page(first, feature))
    url = f"/{feature.source.model.slug}/{feature.source.slug}/{feature.index}/test/"
    assert second.post(url, {"text": "", "csrfmiddlewaretoken": token.pop()}).status_code == 400
    refused = Client(enforce_csrf_checks=True)
    assert refused.post(url, {"text": "", "csrfmiddlewaretoken": csrf_tokens(content).pop()}).status_code == 403


def test_signed_in_readers_never_get_the_cached_page(feature, reader):
    alice = make_user("alice")
    cached_view(reader, feature)
    as_alice = Client()
    as_alice.force_login(alice)
    with CaptureQueriesContext(connection) as queries:
        content = page(as_alice, feature)
    assert len(queries.captured_queries) > 1
    assert "alice" in content and "Log out" in content and "Add an explanation" in content
    # ... nor is what they are served cached for anyone.
    assert "alice" not in cached_view(reader, feature)


def test_a_query_string_or_a_message_is_never_cached(feature, reader):
    cached_view(reader, feature)
    content = reader.get(feature.get_absolute_url() + "?from=search").content.decode()
    assert "from%3Dsearch" in content and "from%3Dsearch" not in cached_view(Client(), feature)

    leaving = Client()
    leaving.force_login(make_user("alice"))
    leaving.post("/accounts/logout/")  # allauth says goodbye with a message, shown on the next page
    content = page(leaving, feature)
    assert "signed out" in content and "signed out" not in cached_view(Client(), feature)


# --- Every write that changes the page ---------------------------------------------------------------------


def test_explanations_created_revised_reverted_hidden_and_deleted_show(feature, reader, staff):
    bob = make_user("bob")
    cached_view(reader, feature)
    explanation = explanation_services.explanation_create(feature=feature, text="cats on mats", author=bob, embed=False)
    assert "cats on mats" in cached_view(reader, feature)

    first = explanation.current_revision
    explanation_services.explanation_revise(explanation=explanation, author=bob, text="dogs on logs", embed=False)
    content = cached_view(reader, feature)
    assert "dogs on logs" in content and "cats on mats" not in content

    explanation_services.explanation_revert(explanation=explanation, revision=first, author=staff)
    content = cached_view(reader, feature)
    assert "cats on mats" in content and "text by" in content

    explanation_services.explanation_set_hidden(explanation=explanation, moderator=staff, hidden=True)
    assert "cats on mats" not in cached_view(reader, feature)
    explanation_services.explanation_set_hidden(explanation=explanation, moderator=staff, hidden=False)
    assert "cats on mats" in cached_view(reader, feature)

    explanation.delete()
    assert "cats on mats" not in cached_view(reader, feature)


def test_locks_show(feature, reader, staff):
    cached_view(reader, feature)
    moderation_services.feature_lock(feature=feature, moderator=staff, reason="edit war")
    assert "edit war" in cached_view(reader, feature)
    moderation_services.feature_unlock(feature=feature, moderator=staff)
    assert "edit war" not in cached_view(reader, feature)


def test_votes_show(feature, reader):
    explanation = add_explanation(feature, "cats", author=make_user("bob"))
    cached_view(reader, feature)
    vote_services.vote_cast(user=make_user("alice"), explanation=explanation, value=1)
    assert "1 vote<" in cached_view(reader, feature)
    vote_services.vote_cast(user=make_user("carol"), explanation=explanation, value=-1)
    assert "0 votes<" in cached_view(reader, feature)


def test_comments_posted_edited_deleted_and_hidden_show(feature, reader, staff):
    alice = make_user("alice")
    cached_view(reader, feature)
    comment = comment_services.comment_post(author=alice, feature=feature, body="first thoughts")
    assert "first thoughts" in cached_view(reader, feature)
    comment_services.comment_edit(comment=comment, user=alice, body="second thoughts")
    assert "second thoughts" in cached_view(reader, feature)
    comment_services.comment_set_hidden(comment=comment, moderator=staff, hidden=True)
    content = cached_view(reader, feature)
    assert "second thoughts" not in content and "hidden by a moderator" in content
    comment_services.comment_set_hidden(comment=comment, moderator=staff, hidden=False)
    assert "second thoughts" in cached_view(reader, feature)
    comment_services.comment_delete(comment=comment, user=alice)
    content = cached_view(reader, feature)
    assert "second thoughts" not in content and "[deleted]" in content


def test_reports_resolved_by_hiding_show(feature, reader, staff):
    comment = add_comment(feature, make_user("alice"), "rude words")
    explanation = add_explanation(feature, "spam spam", author=make_user("bob"))
    reporter = make_user("carol")
    cached_view(reader, feature)
    for target in ({"comment": comment}, {"explanation": explanation}):
        report = moderation_services.report_create(reporter=reporter, reason="rude", **target)
        moderation_services.report_resolve(report=report, moderator=staff, hide=True)
    content = cached_view(reader, feature)
    assert "rude words" not in content and "spam spam" not in content


def test_scores_created_replaced_and_removed_show(feature, reader):
    explanation = add_explanation(feature, "cats", author=make_user("bob"))
    revision = explanation.current_revision
    cached_view(reader, feature)
    ExplanationScore.objects.create(explanation=explanation, revision=revision, scorer="human", value=0.777)
    assert "human 0.777" in cached_view(reader, feature)
    # Verify's human scores: with no verdicts left to weigh, the human score is removed (in bulk).
    human_scores_update(explanations=Explanation.objects.filter(pk=explanation.pk).select_related("current_revision"))
    assert "human 0.777" not in cached_view(reader, feature)
    score = ExplanationScore.objects.create(explanation=explanation, revision=revision, scorer="detection", value=0.5)
    assert "detection 0.500" in cached_view(reader, feature)
    score.delete()
    assert "detection 0.500" not in cached_view(reader, feature)


def test_authors_renamed_or_deleted_show(feature, reader):
    bob, alice = make_user("bob"), make_user("alice")
    add_explanation(feature, "cats", author=bob)
    add_comment(feature, alice, "nice")
    cached_view(reader, feature)
    bob.username = "robert"
    bob.save()
    alice.username = "alicia"
    alice.save()
    content = cached_view(reader, feature)
    assert ">robert<" in content and ">alicia<" in content
    get_user_model().objects.filter(pk=bob.pk).get().delete()
    alice.delete()
    content = cached_view(reader, feature)
    assert ">robert<" not in content and ">alicia<" not in content and "[deleted user]" in content
    # Signing in writes last_login, which no page shows: the cached page stays.
    carol = make_user("carol")
    carol.save(update_fields=["last_login"])


def test_neighbouring_features_appearing_and_disappearing_show(feature, reader):
    Feature.objects.filter(source=feature.source, index__gt=feature.index).delete()
    cached_view(reader, feature)
    assert 'rel="next"' not in cached_view(reader, feature)
    Feature.objects.bulk_create([Feature(source=feature.source, index=feature.index + 1)])
    assert 'rel="next"' in cached_view(reader, feature)
    Feature.objects.filter(source=feature.source, index=feature.index - 1).delete()
    assert 'rel="prev"' not in cached_view(reader, feature)


def test_the_source_edited_shows(feature, reader):
    cached_view(reader, feature)
    feature.source.hook_name = "blocks.0.hook_mlp_out"
    feature.source.save()
    assert "blocks.0.hook_mlp_out" in cached_view(reader, feature)


def test_admin_edits_and_actions_show(feature, reader, staff):
    admin = Client()
    admin.force_login(staff)
    explanation = add_explanation(feature, "cats in the admin", author=make_user("bob"))
    comment = add_comment(feature, make_user("alice"), "said in the admin")
    cached_view(reader, feature)

    response = admin.post("/admin/explanations/explanation/", {"action": "hide", "_selected_action": [explanation.pk]})
    assert response.status_code == 302
    assert "cats in the admin" not in cached_view(reader, feature)
    admin.post("/admin/explanations/comment/", {"action": "hide", "_selected_action": [comment.pk]})
    assert "said in the admin" not in cached_view(reader, feature)
    admin.post("/admin/explanations/explanation/", {"action": "lock_features", "_selected_action": [explanation.pk]})
    assert "Locked from the admin" in cached_view(reader, feature)

    # What ModelAdmin.save_model and delete_model do: save and delete the row.
    comment = Comment.objects.get(pk=comment.pk)
    comment.hidden, comment.body = False, "edited in the admin"
    comment.save()
    assert "edited in the admin" in cached_view(reader, feature)
    FeatureLock.objects.get(feature=feature).delete()
    assert "Locked from the admin" not in cached_view(reader, feature)
    response = admin.post(f"/admin/explanations/comment/{comment.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert "edited in the admin" not in cached_view(reader, feature)
