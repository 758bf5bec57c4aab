"""Search over explanations and comments: ranked full text on PostgreSQL and SQLite alike with a fallback for
typos, semantic search with local MiniLM embeddings on both. The query language and the ranking through the
views: test_search_syntax.py; SQLite's FTS5 index: test_search_sqlite.py."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from explanations import search_results
from explanations.core.websearch import parse
from explanations.models import Comment, Explanation
from explanations.services import comments as comment_services
from explanations.services import explanations as explanation_services

from .conftest import explain

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN indexes are PostgreSQL's")


def search(client, **params):
    return client.get(reverse("front:search"), params)


def hit_links(html: str) -> list[str]:
    return re.findall(r'<a class="feature-ref" href="([^"]+)">', html)


@pytest.fixture
def wiki(feature, other_feature, alice, bob):
    """Explanations and comments on tiny/0-mlp/3 and other/1-mlp/5."""
    return {
        "cat": explain(feature, alice, "the word cat after a colour word like black or white", embed=False),
        "python": explain(other_feature, bob, "python keywords such as def and class", embed=False),
        "kitchen": explain(other_feature, alice, "objects found in a kitchen: pans, knives, spoons", embed=False),
        "comment": comment_services.comment_post(author=bob, feature=feature, body="Does it also fire on black dogs?"),
    }


def test_every_page_has_a_search_box_in_the_header(db, client):
    html = client.get("/").text

    assert '<form class="header-search" action="/search/" method="get" role="search">' in html


def test_an_empty_query_shows_just_the_form(db, client):
    html = search(client, q="  ").text

    assert 'name="q"' in html
    assert "search-results" not in html and "Nothing found" not in html


def test_results_link_to_the_explanation_or_comment_on_its_feature(wiki, client):
    html = search(client, q="black").text

    links = hit_links(html)
    assert f"/tiny/0-mlp/3/#explanation-{wiki['cat'].pk}" in links
    assert f"/tiny/0-mlp/3/#comment-{wiki['comment'].pk}" in links


def test_filters_by_model_source_and_kind(wiki, client):
    assert hit_links(search(client, q="kitchen", model="tiny").text) == []
    assert hit_links(search(client, q="kitchen", model="other").text) == [
        f"/other/1-mlp/5/#explanation-{wiki['kitchen'].pk}"
    ]
    assert hit_links(search(client, q="kitchen", source="0-mlp").text) == []
    only_comments = hit_links(search(client, q="black", kind="comments").text)
    assert only_comments == [f"/tiny/0-mlp/3/#comment-{wiki['comment'].pk}"]


def test_hidden_explanations_and_deleted_or_hidden_comments_are_not_found(wiki, client, bob):
    Explanation.objects.filter(pk=wiki["cat"].pk).update(hidden=True)
    Comment.objects.filter(pk=wiki["comment"].pk).update(deleted=True)
    hidden = comment_services.comment_post(author=bob, feature=wiki["cat"].feature, body="black magic")
    Comment.objects.filter(pk=hidden.pk).update(hidden=True)

    assert "Nothing found for “black”" in search(client, q="black").text


def test_what_people_wrote_stays_inert_in_the_excerpts(feature, alice, client):
    explain(feature, alice, "cat <script>alert(1)</script> tokens", embed=False)

    html = search(client, q="cat").text

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_matches_are_ranked_and_marked_in_a_headline(wiki, client):
    html = search(client, q="colour").text

    assert "Full-text search, best matches first" in html
    assert "<mark>colour</mark>" in html
    assert "no full-text index" not in html


def test_words_are_stemmed_so_plurals_match(wiki, client):
    links = hit_links(search(client, q="keyword").text)

    assert links == [f"/other/1-mlp/5/#explanation-{wiki['python'].pk}"]


def test_websearch_syntax_is_understood(feature, alice, client):
    phrase = explain(feature, alice, "a black cat on a mat", embed=False)
    explain(feature, alice, "the cat is black", embed=False)
    dogs = explain(feature, alice, "cats and dogs", embed=False)

    assert hit_links(search(client, q='"black cat"').text) == [f"/tiny/0-mlp/3/#explanation-{phrase.pk}"]
    assert f"#explanation-{dogs.pk}" not in " ".join(hit_links(search(client, q="cat -dog").text))
    assert len(hit_links(search(client, q="mat or dogs").text)) == 2


def test_an_explanation_weighs_more_than_a_comment_with_the_same_words(feature, alice, bob, client):
    comment = comment_services.comment_post(author=bob, feature=feature, body="numbers in lists")
    explanation = explain(feature, alice, "numbers in lists", embed=False)

    assert hit_links(search(client, q="numbers lists").text) == [
        f"/tiny/0-mlp/3/#explanation-{explanation.pk}",
        f"/tiny/0-mlp/3/#comment-{comment.pk}",
    ]


def count_queries(**params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        results = search_results.search_wiki(**params)
    return len(queries), len(results.hits)


def count_page_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        search(client, **params)
    return len(queries)


def test_a_search_runs_one_query_per_kind_however_many_texts_match(feature, other_feature, alice, bob, client):
    explain(feature, alice, "a black cat", embed=False)
    explanation_services.explanation_revise(
        explanation=explain(feature, alice, "black", embed=False), author=bob, text="black!"
    )
    comment_services.comment_post(author=bob, feature=feature, body="black too?")
    few = count_queries(query="black"), count_queries(query="black", kind="comments")
    page_with_few = count_page_queries(client, q="black")
    for number in range(30):
        explain(other_feature, bob, f"black dog {number}", embed=False)
        comment_services.comment_post(author=alice, feature=other_feature, body=f"a black dog {number}?")

    many = count_queries(query="black"), count_queries(query="black", kind="comments")
    page_with_many = count_page_queries(client, q="black")

    assert few == ((2, 3), (1, 1))
    assert many == ((2, search_results.SEARCH_PAGE_SIZE), (1, search_results.SEARCH_PAGE_SIZE))
    assert page_with_many == page_with_few


def test_a_hit_names_its_author_its_last_editor_or_the_machine_that_wrote_it(feature, alice, bob, client):
    edited = explain(feature, alice, "a black cat", embed=False)
    explanation_services.explanation_revise(explanation=edited, author=bob, text="a black cat on a mat", embed=False)
    explanation_services.explanation_create(
        feature=feature, text="black tokens", method="token-stats", explainer_model="tiny-llm", embed=False
    )
    comment_services.comment_post(author=bob, feature=feature, body="black too?")

    html = search(client, q="black").text

    assert 'by <a href="/u/alice/">alice</a>' in html
    assert 'text by <a href="/u/bob/">bob</a> · started by <a href="/u/alice/">alice</a>' in html
    assert "token-stats (tiny-llm)" in html and ">machine</span>" in html
    assert "by bob</p>" in html


def test_a_typo_is_corrected_against_the_words_the_wiki_uses(wiki, client):
    html = search(client, q="kitchn").text

    assert "Nothing matches “kitchn”; showing results for “kitchen”." in html
    assert hit_links(html) == [f"/other/1-mlp/5/#explanation-{wiki['kitchen'].pk}"]


def test_only_unknown_words_are_corrected(wiki):
    from explanations.models import SearchTerm

    assert SearchTerm.objects.correct(parse("black kitchn")).text() == "black kitchen"
    assert SearchTerm.objects.correct(parse("black kitchen")) is None
    assert SearchTerm.objects.correct(parse("zzzzqqq")) is None


def test_a_corrected_query_keeps_its_exclusions_and_says_what_it_searched(feature, other_feature, alice, client):
    listed = explain(feature, alice, "numbers in a list", embed=False)
    explain(other_feature, alice, "numbers in dates", embed=False)

    html = search(client, q="numbrs -dates").text

    assert "Nothing matches “numbrs -dates”; showing results for “numbers -dates”." in html
    assert hit_links(html) == [f"/tiny/0-mlp/3/#explanation-{listed.pk}"]


def test_saving_texts_adds_their_words_to_the_dictionary(feature, alice):
    from explanations.models import SearchTerm

    explanation = explain(feature, alice, "Felines, 42 cats!", embed=False)
    explanation_services.explanation_revise(explanation=explanation, author=alice, text="tabby cats", embed=False)
    comment_services.comment_post(author=alice, feature=feature, body="what about lions")

    assert set(SearchTerm.objects.values_list("term", flat=True)) == {
        "felines",
        "cats",
        "tabby",
        "what",
        "about",
        "lions",
    }


def test_only_the_first_candidates_of_a_very_common_word_are_ranked_and_the_page_says_so(
    feature, alice, client, monkeypatch
):
    monkeypatch.setattr("explanations.querysets.SEARCH_RANK_CANDIDATES", 3)
    monkeypatch.setattr("explanations.search_results.SEARCH_RANK_CANDIDATES", 3)
    for number in range(5):
        explain(feature, alice, f"common word {number}", embed=False)

    html = search(client, q="common").text

    assert len(hit_links(html)) == 3
    assert "only the first 3 of each kind were ranked; add a word to narrow the search." in html
    assert "were ranked" not in search(client, q="common 4").text


@on_postgres
def test_postgres_answers_the_search_from_the_gin_index(wiki):
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a table this small would be scanned otherwise
    try:
        plan = Explanation.objects.visible().matching("cat").explain()
        comment_plan = Comment.objects.visible().matching("cat").explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = on")
    assert "explanation_revision_search" in plan
    assert "comment_search" in comment_plan
    # The typo fallback's index: a tiny table's plan would not use it, so check it is there and trigram.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'search_term_trgm'")
        assert "USING gin (term gin_trgm_ops)" in cursor.fetchone()[0]


def test_a_word_nobody_used_finds_nothing_and_says_so(wiki, client):
    assert "Nothing found for “zzzzqqq”" in search(client, q="zzzzqqq").text


def test_semantic_search_finds_explanations_by_meaning_with_local_embeddings(feature, other_feature, alice, client):
    cats = explain(feature, alice, "cats, kittens and other small felines")
    code = explain(other_feature, alice, "python function definitions and return statements")

    html = search(client, q="pet animals that meow", mode="semantic").text

    assert "closest in meaning" in html
    assert hit_links(html) == [f"/tiny/0-mlp/3/#explanation-{cats.pk}", f"/other/1-mlp/5/#explanation-{code.pk}"]
    filtered = hit_links(search(client, q="pet animals that meow", mode="semantic", model="other").text)
    assert filtered == [f"/other/1-mlp/5/#explanation-{code.pk}"]


def test_semantic_search_uses_the_current_revision_and_says_when_embeddings_are_missing(feature, alice, client):
    explanation = explain(feature, alice, "python code")
    explanation_services.explanation_revise(explanation=explanation, author=alice, text="kittens and cats")
    explain(feature, alice, "written without an embedding", embed=False)

    html = search(client, q="felines", mode="semantic").text

    assert hit_links(html)[0] == f"/tiny/0-mlp/3/#explanation-{explanation.pk}"
    assert "Some explanations have no embedding yet" in html
