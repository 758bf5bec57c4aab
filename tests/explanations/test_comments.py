"""Threaded comments on features and explanations: posting, replying to any depth, editing within the
window, deleting (replies kept), reporting."""

from datetime import timedelta
from html.parser import HTMLParser

from django.urls import reverse
from django.utils import timezone

from accounts.models import Ban
from explanations.models import Comment, Report
from explanations.services import comments as comment_services

from .conftest import explain, login


class CommentDepths(HTMLParser):
    """{comment pk: how many comments it is nested in}, from the page's <li class="comment"> nesting."""

    def __init__(self) -> None:
        super().__init__()
        self.open_li: list[bool] = []
        self.depths: dict[int, int] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "li":
            attrs = dict(attrs)
            is_comment = attrs.get("class") == "comment"
            if is_comment:
                self.depths[int(attrs["id"].removeprefix("comment-"))] = sum(self.open_li)
            self.open_li.append(is_comment)

    def handle_endtag(self, tag):
        if tag == "li":
            self.open_li.pop()


def depths(html: str) -> dict[int, int]:
    parser = CommentDepths()
    parser.feed(html)
    return parser.depths


def post(client, feature, body: str, **extra):
    url = reverse("explanations:comment-new", args=["tiny", "0-mlp", feature.index])
    return client.post(url, {"body": body, **extra})


def reply(client, parent, body: str, *, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("explanations:comment-reply", args=[parent.pk]), {"body": body}, headers=headers)


def test_a_signed_in_user_comments_and_returns_to_the_comment(feature, alice):
    response = post(login(alice), feature, "Fires on **numbers**?")

    comment = Comment.objects.get()
    assert response.status_code == 302
    assert response.url == f"/tiny/0-mlp/3/#comment-{comment.pk}"
    assert (comment.author, comment.feature, comment.parent, comment.explanation) == (alice, feature, None, None)


def test_comment_markdown_is_rendered_on_the_feature_page(feature, alice, client):
    post(login(alice), feature, "Fires on **numbers**, see [the paper](https://example.com/p).")

    html = client.get("/tiny/0-mlp/3/").text

    assert "<strong>numbers</strong>" in html
    assert '<a href="https://example.com/p" rel="nofollow noopener">the paper</a>' in html


def test_replies_nest_to_any_depth(feature, alice, bob, client):
    root = comment_services.comment_post(author=alice, feature=feature, body="root")
    chain = [root]
    for number in range(12):
        author = bob if number % 2 else alice
        chain.append(comment_services.comment_post(author=author, feature=feature, body=f"r{number}", parent=chain[-1]))
    sibling = comment_services.comment_post(author=bob, feature=feature, body="second thread")

    found = depths(client.get("/tiny/0-mlp/3/").text)

    assert found == {**{comment.pk: depth for depth, comment in enumerate(chain)}, sibling.pk: 0}


def test_a_thread_hundreds_of_replies_deep_still_renders(feature, alice, client):
    parent = None
    for number in range(300):
        parent = Comment.objects.create(feature=feature, author=alice, body=f"level {number}", parent=parent)

    response = client.get("/tiny/0-mlp/3/")

    assert response.status_code == 200
    assert max(depths(response.text).values()) == 299


def test_a_reply_through_htmx_comes_back_as_a_fragment_under_its_parent(feature, alice, bob):
    parent = comment_services.comment_post(author=alice, feature=feature, body="Fires on numbers?")

    response = reply(login(bob), parent, "Numbers, I think.", htmx=True)

    child = Comment.objects.get(parent=parent)
    assert child.author == bob
    assert "<html" not in response.text
    assert f'<li class="comment" id="comment-{child.pk}">' in response.text
    assert "<p>Numbers, I think.</p>" in response.text


def test_the_reply_form_loads_as_a_fragment_for_htmx_and_as_a_page_without(feature, alice, bob):
    parent = comment_services.comment_post(author=alice, feature=feature, body="question")
    url = reverse("explanations:comment-reply", args=[parent.pk])

    fragment = login(bob).get(url, headers={"HX-Request": "true"}).text
    page = login(bob).get(url).text

    assert fragment.lstrip().startswith('<form class="reply-form"') and "csrfmiddlewaretoken" in fragment
    assert "<html" in page and "Reply to a comment on" in page


def test_a_reply_belongs_to_its_parents_explanation(feature, alice, bob):
    explanation = explain(feature, alice, "cat", embed=False)
    parent = comment_services.comment_post(author=alice, feature=feature, body="why cat?", explanation=explanation)

    reply(login(bob), parent, "because")

    assert Comment.objects.get(parent=parent).explanation == explanation


def test_a_comment_about_an_explanation_says_which_one(feature, alice, client):
    explanation = explain(feature, alice, "cat after a colour", embed=False)

    post(login(alice), feature, "Too narrow?", explanation=explanation.pk)

    assert Comment.objects.get().explanation == explanation
    assert "on “cat after a colour”" in client.get("/tiny/0-mlp/3/").text


def test_the_author_edits_within_the_window_and_the_comment_says_edited(feature, alice, client):
    comment = comment_services.comment_post(author=alice, feature=feature, body="Fires on nubmers")

    response = login(alice).post(reverse("explanations:comment-edit", args=[comment.pk]), {"body": "Fires on numbers"})

    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.body == "Fires on numbers" and comment.edited_at is not None
    html = client.get("/tiny/0-mlp/3/").text
    assert "edited</span>" in html and "nubmers" not in html


def test_an_htmx_edit_returns_the_updated_comment(feature, alice):
    comment = comment_services.comment_post(author=alice, feature=feature, body="old")
    client = login(alice)

    form = client.get(reverse("explanations:comment-edit", args=[comment.pk]), headers={"HX-Request": "true"})
    saved = client.post(
        reverse("explanations:comment-edit", args=[comment.pk]), {"body": "new"}, headers={"HX-Request": "true"}
    )

    assert 'class="comment-main comment-edit-form"' in form.text and ">old</textarea>" in form.text
    assert f'<div class="comment-main" id="comment-main-{comment.pk}">' in saved.text
    assert "<p>new</p>" in saved.text


def test_editing_after_the_window_is_refused(feature, alice, settings):
    settings.WIKI_COMMENT_EDIT_MINUTES = 30
    comment = comment_services.comment_post(author=alice, feature=feature, body="old")
    Comment.objects.filter(pk=comment.pk).update(created_at=timezone.now() - timedelta(minutes=31))

    response = login(alice).post(reverse("explanations:comment-edit", args=[comment.pk]), {"body": "new"})

    assert response.status_code == 403
    assert "Comments can be edited for 30 minutes after posting" in response.text
    comment.refresh_from_db()
    assert comment.body == "old"


def test_the_edit_link_shows_only_to_the_author_within_the_window(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="mine")
    edit_url = reverse("explanations:comment-edit", args=[comment.pk])

    assert edit_url in login(alice).get("/tiny/0-mlp/3/").text
    assert edit_url not in login(bob).get("/tiny/0-mlp/3/").text
    Comment.objects.filter(pk=comment.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert edit_url not in login(alice).get("/tiny/0-mlp/3/").text


def test_deleting_leaves_a_placeholder_and_keeps_the_replies(feature, alice, bob, client):
    parent = comment_services.comment_post(author=alice, feature=feature, body="regrettable")
    child = comment_services.comment_post(author=bob, feature=feature, body="a reply that stays", parent=parent)

    response = login(alice).post(reverse("explanations:comment-delete", args=[parent.pk]))

    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.deleted
    html = client.get("/tiny/0-mlp/3/").text
    assert "[deleted]" in html and "regrettable" not in html
    assert "a reply that stays" in html
    assert depths(html) == {parent.pk: 0, child.pk: 1}


def test_an_htmx_delete_returns_the_placeholder(feature, alice):
    comment = comment_services.comment_post(author=alice, feature=feature, body="gone")

    response = login(alice).post(
        reverse("explanations:comment-delete", args=[comment.pk]), headers={"HX-Request": "true"}
    )

    assert '<p class="comment-body muted">[deleted]</p>' in response.text


def test_a_deleted_comment_cannot_be_replied_to_or_edited(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="gone")
    comment_services.comment_delete(comment=comment, user=alice)

    response = reply(login(bob), comment, "hello?")
    assert response.status_code == 200
    assert "That comment was deleted or hidden; it cannot be replied to." in response.text
    assert login(alice).post(reverse("explanations:comment-edit", args=[comment.pk]), {"body": "x"}).status_code == 403
    assert Comment.objects.count() == 1


def test_another_user_cannot_edit_or_delete_a_comment_by_crafting_a_request(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="alice's words")
    mallory = login(bob)

    edit = mallory.post(reverse("explanations:comment-edit", args=[comment.pk]), {"body": "bob's words"})
    edit_form = mallory.get(reverse("explanations:comment-edit", args=[comment.pk]))
    delete = mallory.post(reverse("explanations:comment-delete", args=[comment.pk]))
    htmx_delete = mallory.post(
        reverse("explanations:comment-delete", args=[comment.pk]), headers={"HX-Request": "true"}
    )

    assert (edit.status_code, edit_form.status_code, delete.status_code, htmx_delete.status_code) == (403,) * 4
    assert "You can only edit your own comments." in edit.text
    assert "You can only delete your own comments." in delete.text
    comment.refresh_from_db()
    assert (comment.body, comment.deleted) == ("alice's words", False)


def test_anonymous_visitors_cannot_post_reply_edit_or_delete(feature, alice, client):
    comment = comment_services.comment_post(author=alice, feature=feature, body="hi")

    responses = [
        post(client, feature, "anon"),
        reply(client, comment, "anon"),
        client.post(reverse("explanations:comment-edit", args=[comment.pk]), {"body": "anon"}),
        client.post(reverse("explanations:comment-delete", args=[comment.pk])),
    ]

    assert all(r.status_code == 302 and r.url.startswith("/accounts/login/") for r in responses)
    comment.refresh_from_db()
    assert Comment.objects.count() == 1 and comment.body == "hi" and not comment.deleted


def test_banned_users_cannot_comment_or_reply(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="hi")
    Ban.objects.create(user=bob, reason="abuse")

    assert post(login(bob), feature, "abuse").status_code == 403
    assert reply(login(bob), comment, "abuse").status_code == 403
    assert Comment.objects.count() == 1


def test_an_empty_comment_is_refused(feature, alice):
    response = post(login(alice), feature, "   ")

    assert response.status_code == 200
    assert not Comment.objects.exists()


def test_a_reader_reports_a_comment_once_for_the_moderators(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="spam spam")
    url = reverse("explanations:comment-report", args=[comment.pk])

    form = login(bob).get(url)
    first = login(bob).post(url, {"reason": "spam"})
    again = login(bob).post(url, {"reason": "still spam"})

    assert form.status_code == 200 and "Report a comment to the moderators" in form.text
    assert first.status_code == again.status_code == 302
    report = Report.objects.get()
    assert (report.reporter, report.comment, report.reason, report.status) == (bob, comment, "spam", "open")


def test_a_report_needs_a_reason(feature, alice, bob):
    comment = comment_services.comment_post(author=alice, feature=feature, body="meh")

    response = login(bob).post(reverse("explanations:comment-report", args=[comment.pk]), {"reason": " "})

    assert response.status_code == 200
    assert not Report.objects.exists()


def test_explanations_can_be_reported_too(feature, alice, bob):
    explanation = explain(feature, alice, "buy watches", embed=False)

    login(bob).post(reverse("explanations:explanation-report", args=[explanation.pk]), {"reason": "spam"})

    assert Report.objects.get().explanation == explanation


def test_the_explanations_history_page_lists_its_discussion(feature, alice, bob, client):
    explanation = explain(feature, alice, "cat", embed=False)
    about = comment_services.comment_post(author=bob, feature=feature, body="Too narrow?", explanation=explanation)
    comment_services.comment_post(author=alice, feature=feature, body="Maybe.", parent=about)
    comment_services.comment_post(author=bob, feature=feature, body="Unrelated to it")

    html = client.get(reverse("explanations:history", args=[explanation.pk])).text

    assert 'Discussion of this explanation <span class="muted">(2)</span>' in html
    assert f'<a href="/tiny/0-mlp/3/#comment-{about.pk}">Too narrow?</a>' in html
    assert "Maybe." in html and "Unrelated to it" not in html
