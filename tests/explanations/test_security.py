"""Security: whatever people type is inert wherever it is shown; every form is CSRF-protected; nobody
changes someone else's things by crafting requests."""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from explanations.models import Comment, Explanation, FeatureList, FeatureListItem, Vote
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services
from explanations.services import lists as list_services
from explanations.services import moderation as moderation_services

from .conftest import login
from .test_markup import XSS_PAYLOADS

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href"}


class TagAudit(HTMLParser):
    """Collects what would run in a browser: script elements, event-handler attributes, script URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        source = dict(attrs).get("src") or ""
        # Elements that run or load something: only the site's own files (htmx, the admin's icons) may.
        # Inline SVG and MathML are the site's own drawings; in them, as anywhere, handlers and script
        # URLs are caught below.
        if tag in {"script", "iframe", "object", "embed", "img", "style"}:
            if not source.startswith("/static/"):
                self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name in URL_ATTRIBUTES and value and re.match(r"\s*(javascript|data|vbscript):", value, re.I):
                self.problems.append(f"{tag} {name}={value}")


def audit(html: str) -> list[str]:
    parser = TagAudit()
    parser.feed(html)
    return parser.problems


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payloads_in_explanations_and_comments_are_inert_on_every_page_that_shows_them(
    payload, feature, alice, bob, moderator
):
    explanation = explanation_services.explanation_create(feature=feature, author=alice, text=payload, embed=False)
    explanation_services.explanation_revise(
        explanation=explanation, author=bob, text=f"{payload} v2", message=payload, embed=False
    )
    comment = comment_services.comment_post(author=alice, feature=feature, body=payload, explanation=explanation)
    comment_services.comment_post(author=bob, feature=feature, body=f"re: {payload}", parent=comment)
    feature_list = list_services.list_create(owner=alice, name=payload[:100], description=payload, is_public=True)
    list_services.list_add_feature(feature_list=feature_list, feature=feature, user=alice, note=payload)
    moderation_services.report_create(reporter=bob, comment=comment, reason=payload)
    first, second = explanation.revisions.order_by("pk")

    reader = login(bob)
    pages = [
        "/tiny/0-mlp/3/",
        reverse("explanations:history", args=[explanation.pk]),
        reverse("explanations:revision", args=[explanation.pk, first.pk]),
        reverse("explanations:diff", args=[explanation.pk]) + f"?from={first.pk}&to={second.pk}",
        reverse("explanations:recent"),
        reverse("explanations:lists"),
        feature_list.get_absolute_url(),
        reverse("front:profile", args=["alice"]),
        reverse("front:search") + "?q=alert",
        reverse("explanations:comment-report", args=[comment.pk]),
    ]
    for url in pages:
        response = reader.get(url)
        assert response.status_code == 200, url
        assert audit(response.text) == [], url
    moderator.is_superuser = True
    moderator.save()
    admin = login(moderator)
    for url in ["/admin/explanations/report/", "/admin/explanations/comment/", "/admin/explanations/explanation/"]:
        response = admin.get(url)
        assert response.status_code == 200, url
        # The admin's own scripts and icons are its business; what people wrote is in the results table.
        results = response.text.split('<table id="result_list">', 1)[1].split("</table>", 1)[0]
        assert audit(results) == [], url


def test_the_search_box_echoes_a_query_inert(feature, client):
    response = client.get(reverse("front:search"), {"q": '"><script>alert(1)</script>'})

    assert audit(response.text) == []
    assert "&lt;script&gt;" in response.text


def post_endpoints(feature, comment, explanation, feature_list) -> list[tuple[str, dict]]:
    address = ["tiny", "0-mlp", feature.index]
    revision = explanation.current_revision_id
    return [
        (reverse("explanations:explanation-new", args=address), {"text": "x"}),
        (reverse("explanations:edit", args=[explanation.pk]), {"text": "y"}),
        (reverse("explanations:revert", args=[explanation.pk, revision]), {}),
        (reverse("explanations:vote", args=[explanation.pk]), {"value": 1}),
        (reverse("explanations:explanation-report", args=[explanation.pk]), {"reason": "r"}),
        (reverse("explanations:explanation-hide", args=[explanation.pk]), {}),
        (reverse("explanations:comment-new", args=address), {"body": "b"}),
        (reverse("explanations:comment-reply", args=[comment.pk]), {"body": "b"}),
        (reverse("explanations:comment-edit", args=[comment.pk]), {"body": "b"}),
        (reverse("explanations:comment-delete", args=[comment.pk]), {}),
        (reverse("explanations:comment-report", args=[comment.pk]), {"reason": "r"}),
        (reverse("explanations:comment-hide", args=[comment.pk]), {}),
        (reverse("explanations:watch", args=address), {"watch": "1"}),
        (reverse("explanations:bookmark", args=address), {"bookmark": "1"}),
        (reverse("explanations:add-to-list", args=address), {"feature_list": feature_list.pk}),
        (reverse("explanations:lock", args=address), {"locked": "1"}),
        (reverse("explanations:list-new"), {"name": "n"}),
        (reverse("explanations:list-edit", args=[feature_list.pk]), {"name": "n"}),
        (reverse("explanations:list-delete", args=[feature_list.pk]), {}),
        (reverse("explanations:list-remove", args=[feature_list.pk, feature.pk]), {}),
    ]


def test_every_post_endpoint_refuses_a_request_without_the_csrf_token(feature, moderator):
    explanation = explanation_services.explanation_create(feature=feature, author=moderator, text="cat", embed=False)
    comment = comment_services.comment_post(author=moderator, feature=feature, body="hello")
    feature_list = list_services.list_create(owner=moderator, name="mine")
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)  # staff and owner of everything: only the missing token can refuse it

    for url, data in post_endpoints(feature, comment, explanation, feature_list):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "CSRF" in response.text, url

    assert Explanation.objects.count() == 1 and Comment.objects.count() == 1 and not Vote.objects.exists()
    assert FeatureList.objects.count() == 1 and not FeatureListItem.objects.exists()


def test_every_post_form_on_the_community_pages_carries_the_csrf_token(feature, alice, moderator):
    explanation = explanation_services.explanation_create(feature=feature, author=moderator, text="cat", embed=False)
    explanation_services.explanation_revise(explanation=explanation, author=moderator, text="cat 2", embed=False)
    comment = comment_services.comment_post(author=moderator, feature=feature, body="hello")
    comment_services.comment_post(author=alice, feature=feature, body="hi", parent=comment)
    feature_list = list_services.list_create(owner=moderator, name="mine")
    client = login(moderator)
    pages = [
        "/tiny/0-mlp/3/",
        reverse("explanations:history", args=[explanation.pk]),
        reverse("explanations:revision", args=[explanation.pk, explanation.revisions.order_by("pk")[0].pk]),
        reverse("explanations:edit", args=[explanation.pk]),
        reverse("explanations:comment-reply", args=[comment.pk]),
        reverse("explanations:comment-edit", args=[comment.pk]),
        reverse("explanations:explanation-report", args=[explanation.pk]),
        reverse("explanations:list-new"),
        reverse("explanations:list-edit", args=[feature_list.pk]),
        feature_list.get_absolute_url(),
    ]
    forms_seen = 0
    for url in pages:
        html = client.get(url).text
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, re.S):
            if re.search(r'method="post"', form, re.I) or "hx-post" in form:
                forms_seen += 1
                assert 'name="csrfmiddlewaretoken"' in form, (url, form[:200])
    assert forms_seen >= 20


def test_a_user_cannot_change_or_use_another_users_list_by_crafting_requests(feature, alice, bob):
    feature_list = list_services.list_create(owner=alice, name="alice's", is_public=True)
    list_services.list_add_feature(feature_list=feature_list, feature=feature, user=alice, note="keep")
    mallory = login(bob)
    address = ["tiny", "0-mlp", 4]

    responses = [
        mallory.post(reverse("explanations:list-edit", args=[feature_list.pk]), {"name": "pwned"}),
        mallory.post(reverse("explanations:list-delete", args=[feature_list.pk])),
        mallory.post(reverse("explanations:list-remove", args=[feature_list.pk, feature.pk])),
        mallory.post(reverse("explanations:add-to-list", args=address), {"feature_list": feature_list.pk}),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    feature_list.refresh_from_db()
    assert feature_list.name == "alice's"
    assert list(feature_list.items.values_list("feature_id", "note")) == [(feature.pk, "keep")]


def test_a_private_list_is_not_found_by_anyone_but_its_owner(feature, alice, bob, client):
    feature_list = list_services.list_create(owner=alice, name="secret")

    assert client.get(feature_list.get_absolute_url()).status_code == 404
    assert login(bob).get(feature_list.get_absolute_url()).status_code == 404
    assert login(bob).post(reverse("explanations:list-delete", args=[feature_list.pk])).status_code == 404
    assert login(alice).get(feature_list.get_absolute_url()).status_code == 200
    assert FeatureList.objects.filter(pk=feature_list.pk).exists()
