"""Moderation: staff hide comments and explanations and lock features from the page; the admin has the
reports queue and bans. Everyone else is refused."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Ban
from explanations.models import Comment, Explanation, FeatureLock, Report
from explanations.services import comments as comment_services
from explanations.services import moderation as moderation_services

from .conftest import explain, login


@pytest.fixture
def admin_client(moderator):
    moderator.is_superuser = True
    moderator.save()
    return login(moderator)


def test_staff_hide_a_comment_from_the_page_and_its_replies_stay(feature, alice, bob, moderator, client):
    comment = comment_services.comment_post(author=alice, feature=feature, body="rude words")
    comment_services.comment_post(author=bob, feature=feature, body="polite reply", parent=comment)

    response = login(moderator).post(reverse("explanations:comment-hide", args=[comment.pk]), {"hidden": "1"})

    assert response.status_code == 302
    html = client.get("/tiny/0-mlp/3/").text
    assert "[hidden by a moderator]" in html and "rude words" not in html and "polite reply" in html


def test_staff_hide_an_explanation_from_the_page(feature, alice, moderator, client):
    explanation = explain(feature, alice, "spam link", embed=False)

    login(moderator).post(reverse("explanations:explanation-hide", args=[explanation.pk]), {"hidden": "1"})

    assert Explanation.objects.get().hidden
    assert "spam link" not in client.get("/tiny/0-mlp/3/").text


def test_other_users_cannot_hide_anything(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="fine")
    explanation = explain(feature, alice, "fine", embed=False)
    client = login(bob)

    hide_comment = client.post(reverse("explanations:comment-hide", args=[comment.pk]))
    hide_explanation = client.post(reverse("explanations:explanation-hide", args=[explanation.pk]))

    assert hide_comment.status_code == hide_explanation.status_code == 403
    assert "Only moderators can do that." in hide_comment.text
    assert not Comment.objects.get().hidden and not Explanation.objects.get().hidden


def test_staff_see_moderation_controls_and_others_do_not(feature, alice, moderator):
    comment_services.comment_post(author=alice, feature=feature, body="hello")
    explain(feature, alice, "cat", embed=False)

    as_staff = login(moderator).get("/tiny/0-mlp/3/").text
    as_user = login(alice).get("/tiny/0-mlp/3/").text

    assert "Lock explanations" in as_staff and "/hide/" in as_staff
    assert "Lock explanations" not in as_user and "/hide/" not in as_user


def test_staff_lock_and_unlock_a_features_explanations(feature, alice, moderator):
    url = reverse("explanations:lock", args=["tiny", "0-mlp", 3])

    login(moderator).post(url, {"locked": "1", "reason": "edit war"})
    lock = FeatureLock.objects.get()
    assert (lock.feature, lock.locked_by, lock.reason) == (feature, moderator, "edit war")
    assert (
        login(alice).post(reverse("explanations:explanation-new", args=["tiny", "0-mlp", 3]), {"text": "x"}).status_code
        == 403
    )

    login(moderator).post(url, {"locked": "0"})
    assert not FeatureLock.objects.exists()


def test_only_staff_lock_features(feature, alice):
    response = login(alice).post(reverse("explanations:lock", args=["tiny", "0-mlp", 3]), {"locked": "1"})

    assert response.status_code == 403
    assert not FeatureLock.objects.exists()


def test_comments_stay_open_on_a_locked_feature(feature, alice, moderator):
    moderation_services.feature_lock(feature=feature, moderator=moderator)

    comment_services.comment_post(author=alice, feature=feature, body="why locked?")

    assert Comment.objects.count() == 1


def test_the_reports_queue_lists_open_reports_with_what_they_report(feature, alice, bob, admin_client):
    comment = comment_services.comment_post(author=alice, feature=feature, body="offensive remark")
    moderation_services.report_create(reporter=bob, comment=comment, reason="offensive")
    explanation = explain(feature, alice, "wrong", embed=False)
    moderation_services.report_create(reporter=bob, explanation=explanation, reason="wrong")

    html = admin_client.get("/admin/explanations/report/?status__exact=open").text
    comments_only = admin_client.get("/admin/explanations/report/?kind=comment").text

    assert "offensive remark" in html and "wrong" in html
    assert "offensive remark" in comments_only and ">wrong<" not in comments_only


def test_hiding_from_the_queue_hides_the_comment_and_closes_every_open_report_on_it(
    feature, alice, bob, moderator, admin_client
):
    comment = comment_services.comment_post(author=alice, feature=feature, body="offensive remark")
    first = moderation_services.report_create(reporter=bob, comment=comment, reason="offensive")
    second = moderation_services.report_create(reporter=moderator, comment=comment, reason="agreed")

    admin_client.post("/admin/explanations/report/", {"action": "hide_reported", "_selected_action": [first.pk]})

    assert Comment.objects.get().hidden
    assert set(Report.objects.values_list("pk", "status")) == {(first.pk, "hidden"), (second.pk, "hidden")}
    assert Report.objects.get(pk=first.pk).resolved_by == moderator


def test_dismissing_a_report_leaves_the_content_alone(feature, alice, bob, admin_client):
    explanation = explain(feature, alice, "fine actually", embed=False)
    report = moderation_services.report_create(reporter=bob, explanation=explanation, reason="meh")

    admin_client.post("/admin/explanations/report/", {"action": "dismiss", "_selected_action": [report.pk]})

    assert Report.objects.get().status == "dismissed"
    assert not Explanation.objects.get().hidden


def test_admin_actions_hide_comments_and_explanations_and_lock_features(feature, alice, admin_client):
    comment = comment_services.comment_post(author=alice, feature=feature, body="x")
    explanation = explain(feature, alice, "y", embed=False)

    admin_client.post("/admin/explanations/comment/", {"action": "hide", "_selected_action": [comment.pk]})
    admin_client.post("/admin/explanations/explanation/", {"action": "hide", "_selected_action": [explanation.pk]})
    admin_client.post(
        "/admin/explanations/explanation/", {"action": "lock_features", "_selected_action": [explanation.pk]}
    )

    assert Comment.objects.get().hidden and Explanation.objects.get().hidden
    assert FeatureLock.objects.get().feature == feature


def test_banning_from_the_user_admin_stops_a_user_writing(feature, alice, admin_client, moderator):
    response = admin_client.post(
        "/admin/auth/user/", {"action": "ban", "_selected_action": [alice.pk, moderator.pk]}, follow=True
    )

    assert Ban.objects.filter(user=alice).exists()
    assert not Ban.objects.filter(user=moderator).exists()  # staff are never banned
    assert "Staff accounts cannot be banned" in response.text
    refused = login(alice).post(reverse("explanations:comment-new", args=["tiny", "0-mlp", 3]), {"body": "hi"})
    assert refused.status_code == 403
    assert "banned" in login(alice).get("/tiny/0-mlp/3/").text

    admin_client.post("/admin/auth/user/", {"action": "unban", "_selected_action": [alice.pk]})
    assert (
        login(alice).post(reverse("explanations:comment-new", args=["tiny", "0-mlp", 3]), {"body": "hi"}).status_code
        == 302
    )


def test_an_expired_ban_no_longer_applies(feature, alice):
    Ban.objects.create(user=alice, expires_at=timezone.now() - timedelta(hours=1))

    response = login(alice).post(reverse("explanations:comment-new", args=["tiny", "0-mlp", 3]), {"body": "back"})

    assert response.status_code == 302
    assert Comment.objects.count() == 1


def test_a_banned_user_may_still_delete_their_own_comments(feature, alice):
    comment = comment_services.comment_post(author=alice, feature=feature, body="something I regret")
    Ban.objects.create(user=alice)

    # Taking one's words back is not writing; the ban does not stand in the way.
    comment_services.comment_delete(comment=comment, user=alice)

    assert Comment.objects.get().deleted


def test_the_profile_of_a_banned_user_says_so(alice, client):
    Ban.objects.create(user=alice)

    assert "This account is banned from writing on the wiki." in client.get("/u/alice/").text
