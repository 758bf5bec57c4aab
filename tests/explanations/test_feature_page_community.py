"""The feature page's community parts cost a constant number of queries, for readers and writers alike,
however many explanations, revisions, votes, comments, lists and watches there are."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from explanations.models import Explanation
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services
from explanations.services import lists as list_services
from explanations.services import votes as vote_services

from .conftest import explain, login, make_user


def queries_for(client, url: str) -> int:
    # The feature's dashboard is rendered once and cached (features/dashboard_html.py): the first view renders
    # it, one query more; the count is of a view after that. A query string keeps an anonymous reader from
    # being served the whole page from its cache (front/page_cache.py), so the page is rendered for all.
    url += "?rendered"
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def fill(feature, *, n: int) -> None:
    reader = make_user(f"reader{n}")
    up, down = make_user(f"up{n}"), make_user(f"down{n}")  # authors do not vote on their own explanations
    for number in range(n):
        writer = make_user(f"writer{n}-{number}")
        explanation = explain(feature, writer, f"explanation {n}-{number}", embed=False, rule_text="*cat*")
        explanation_services.explanation_revise(
            explanation=explanation, author=reader, text=f"revised {n}-{number}", embed=False
        )
        vote_services.vote_cast(user=up, explanation=explanation, value=1)
        vote_services.vote_cast(user=down, explanation=explanation, value=-1)
        comment = comment_services.comment_post(
            author=writer, feature=feature, body=f"comment {n}-{number}", explanation=explanation
        )
        reply = comment_services.comment_post(
            author=reader, feature=feature, body=f"reply {n}-{number}", parent=comment
        )
        comment_services.comment_post(author=writer, feature=feature, body=f"deeper {n}-{number}", parent=reply)
        feature_list = list_services.list_create(owner=writer, name=f"list {number}")
        list_services.list_add_feature(feature_list=feature_list, feature=feature, user=writer)


def test_the_query_count_stays_constant_as_the_community_grows(feature, alice, moderator, client):
    list_services.list_create(owner=alice, name="mine")
    fill(feature, n=1)
    readers = {"anonymous": client, "alice": login(alice), "moderator": login(moderator)}
    baseline = {name: queries_for(c, "/tiny/0-mlp/3/") for name, c in readers.items()}

    fill(feature, n=15)
    for number in range(10):
        list_services.list_create(owner=alice, name=f"more {number}")
    list_services.watch_set(user=alice, feature=feature, watching=True)
    list_services.bookmark_set(user=alice, feature=feature, bookmarked=True)

    assert {name: queries_for(c, "/tiny/0-mlp/3/") for name, c in readers.items()} == baseline
    assert Explanation.objects.count() == 16
    html = readers["alice"].get("/tiny/0-mlp/3/").text
    assert "revised 15-14" in html and "deeper 15-14" in html and "Watching ✓" in html


def test_a_signed_in_reader_costs_a_few_queries_more_than_an_anonymous_one(feature, alice, client):
    fill(feature, n=3)

    anonymous, signed_in = queries_for(client, "/tiny/0-mlp/3/"), queries_for(login(alice), "/tiny/0-mlp/3/")

    # Session and user, then the reader's watch/bookmark/ban state, their votes and their lists.
    assert signed_in - anonymous <= 5
