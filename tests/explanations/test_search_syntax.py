"""The search page on either database: ranked results, the websearch syntax (phrases, `or`, `-word`),
any script, and whatever a user types answered with results or a reason, never an error. The same tests
run on SQLite (FTS5, bm25) and PostgreSQL (tsvector, ts_rank)."""

import re

import pytest
from django.urls import reverse

from explanations.services import comments as comment_services

from .conftest import explain


def search(client, **params):
    response = client.get(reverse("front:search"), params)
    assert response.status_code == 200
    return response.text


def hit_links(html: str) -> list[str]:
    return re.findall(r'<a class="feature-ref" href="([^"]+)">', html)


def links_to(*explanations) -> list[str]:
    return [
        f"/{e.feature.source.model.slug}/{e.feature.source.slug}/{e.feature.index}/#explanation-{e.pk}"
        for e in explanations
    ]


@pytest.fixture
def fillers(feature, bob):
    """Texts without the words searched for, so that those words are rare, as in a real wiki (bm25 gives a
    word found in most texts almost no weight)."""
    for text in ("python keywords such as def", "objects in a kitchen", "tokens at the start of a line"):
        explain(feature, bob, text, embed=False)


def test_a_text_that_matches_more_of_the_words_ranks_first(feature, alice, fillers, client):
    # Written in neither rank order nor its reverse, so that an unranked list (by id either way) fails.
    some = explain(feature, alice, "a cat and a dog", embed=False)
    every = explain(feature, alice, "a cat, a dog and a mouse", embed=False)
    one = explain(feature, alice, "a cat on the sofa", embed=False)

    assert hit_links(search(client, q="cat or dog or mouse")) == links_to(every, some, one)


def test_a_text_that_uses_the_word_more_ranks_first(feature, alice, fillers, client):
    once = explain(feature, alice, "numbers, listed once among many other words about something else", embed=False)
    often = explain(feature, alice, "numbers and numbers: more numbers", embed=False)
    twice = explain(feature, alice, "numbers next to numbers in a longer sentence about other things", embed=False)

    assert hit_links(search(client, q="numbers")) == links_to(often, twice, once)


def test_explanations_and_comments_are_ranked_on_one_scale(feature, alice, bob, fillers, client):
    comment = comment_services.comment_post(author=bob, feature=feature, body="cat dog mouse")
    explanation = explain(feature, alice, "a cat", embed=False)

    links = hit_links(search(client, q="cat or dog or mouse"))

    assert links == [f"/tiny/0-mlp/3/#comment-{comment.pk}", *links_to(explanation)]


def test_a_minus_excludes_a_word_and_its_forms_and_the_query_stays_as_typed(feature, alice, fillers, client):
    listed = explain(feature, alice, "numbers in lists", embed=False)
    seven = explain(feature, alice, "the number seven", embed=False)
    explain(feature, alice, "numbers and dates", embed=False)
    explain(feature, alice, "a date written with numbers", embed=False)

    html = search(client, q="numbers -dates")

    assert sorted(hit_links(html)) == sorted(links_to(listed, seven))
    assert 'value="numbers -dates"' in html
    assert "showing results for" not in html and "search-query-note" not in html


def test_quotes_match_a_phrase_in_any_form_of_its_words(feature, alice, fillers, client):
    phrase = explain(feature, alice, "a black cat on a mat", embed=False)
    plural = explain(feature, alice, "two black cats", embed=False)
    explain(feature, alice, "the cat is black", embed=False)

    assert sorted(hit_links(search(client, q='"black cat"'))) == sorted(links_to(phrase, plural))
    assert hit_links(search(client, q='"black cat" -"cat on a mat"')) == links_to(plural)


def test_or_finds_either_side_and_binds_looser_than_spaces(feature, alice, fillers, client):
    both = explain(feature, alice, "black dogs", embed=False)
    mouse = explain(feature, alice, "a grey mouse", embed=False)
    explain(feature, alice, "black cats", embed=False)

    assert sorted(hit_links(search(client, q="black dog OR mouse"))) == sorted(links_to(both, mouse))


def test_words_in_any_script_are_found_without_a_note(feature, alice, fillers, client):
    german = explain(feature, alice, "Kätzchen und 猫 im café, हिन्दी भाषा", embed=False)

    for query in ("Kätzchen", "kätzchen", "猫", "café", "KÄTZCHEN 猫", "हिन्दी", '"हिन्दी भाषा"'):
        html = search(client, q=query)
        assert hit_links(html) == links_to(german), query
        assert "search-query-note" not in html, query
    # Accents count, on both databases alike; the typo fallback offers the word with its accent.
    assert "Nothing matches “cafe”; showing results for “café”." in search(client, q="cafe")


def test_what_the_search_ignored_is_said_and_the_query_is_shown_as_typed(feature, alice, client):
    cat = explain(feature, alice, "a black cat", embed=False)

    html = search(client, q="  the  cat*  ")

    assert hit_links(html) == links_to(cat)
    assert 'value="  the  cat*  "' in html
    assert "“the” is too common to search for and left out." in html
    assert "Characters that are not part of a word were ignored: *" in html


def test_a_query_that_only_excludes_says_what_to_do(feature, alice, client):
    explain(feature, alice, "numbers and dates", embed=False)

    html = search(client, q="-dates")

    assert "“-dates” only excludes: a search needs a word to look for, as in “numbers -dates”." in html
    assert hit_links(html) == [] and "Nothing found" not in html


def test_a_query_too_long_is_refused_with_its_length(feature, alice, client):
    html = search(client, q="cat " * 2500)

    assert "This query is 10,000 characters long; a search takes at most 200." in html
    assert "This query is 10,000 characters long" in search(client, q="cat " * 2500, mode="semantic")


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"black cat',
        "-",
        "--",
        " - ",
        "or",
        "the",
        "***",
        "NEAR(cat dog)",
        "NEAR/2 cat dog",
        "cat AND dog",
        "cat NOT dog",
        "cat*",
        "^cat",
        "text:cat",
        "{text}: cat",
        '"" OR ""',
        "cat or -dog",
        "'; DROP TABLE explanations_explanation; --",
        "x\x00y",
        "🙂",
        "(((",
        "🙂 cat 🙂",
        "ẞ ǅ ﬁ",
        "a" * 200,
    ],
)
def test_whatever_is_typed_is_answered_with_results_or_a_reason(feature, alice, client, query):
    explain(feature, alice, "near the black cat and the dog", embed=False)

    html = search(client, q=query)

    answered = ("search-results" in html) + ("Nothing found" in html) + ("search-problem" in html)
    assert answered == 1, query
