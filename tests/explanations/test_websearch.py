"""The search box's query language (explanations/core/websearch.py), read as PostgreSQL's websearch_to_tsquery
reads it, written out for FTS5 and for PostgreSQL, and honest about what it did not use."""

import sqlite3

import pytest

from explanations.core.websearch import Clause, parse, to_fts5, to_websearch


def test_plain_words_are_all_required():
    query = parse("numbers dates")

    assert query.alternatives == ((Clause(("numbers",)), Clause(("dates",))),)
    assert to_fts5(query) == '("numbers" AND "dates")'
    assert to_websearch(query) == '"numbers" "dates"'
    assert query.notes == ()


def test_a_minus_excludes_the_word_it_touches_and_nothing_is_dropped():
    query = parse("numbers -dates")

    assert query.alternatives == ((Clause(("numbers",)), Clause(("dates",), negated=True)),)
    assert to_fts5(query) == '(("numbers") NOT "dates")'
    assert to_websearch(query) == '"numbers" -"dates"'
    assert query.text() == "numbers -dates"


def test_quotes_make_a_phrase_and_a_minus_can_exclude_one():
    query = parse('"black cat" -"big dog"')

    assert query.alternatives == ((Clause(("black", "cat")), Clause(("big", "dog"), negated=True)),)
    assert to_fts5(query) == '(("black cat") NOT "big dog")'
    assert query.text() == '"black cat" -"big dog"'


def test_or_binds_looser_than_the_spaces_around_it_as_in_postgres():
    # websearch_to_tsquery('english', 'x y or z w') is 'x' & 'y' | 'z' & 'w'.
    query = parse("x y OR z w")

    assert query.alternatives == ((Clause(("x",)), Clause(("y",))), (Clause(("z",)), Clause(("w",))))
    assert to_fts5(query) == '("x" AND "y") OR ("z" AND "w")'
    assert to_websearch(query) == '"x" "y" or "z" "w"'


def test_words_joined_by_punctuation_are_a_phrase_spelled_as_typed_for_postgres():
    query = parse("foo-bar python's 3.14")

    assert [clause.words for clause in query.alternatives[0]] == [("foo", "bar"), ("python", "s"), ("3", "14")]
    assert to_fts5(query) == '("foo bar" AND "python s" AND "3 14")'
    assert to_websearch(query) == '"foo-bar" "python\'s" "3.14"'
    assert query.notes == ()


@pytest.mark.parametrize(
    "text, note",
    [
        ("the cat", "“the” is too common to search for and left out."),
        ("cat AND NOT dog", "To exclude a word, put a “-” before it, as in -dates."),
        ("cat* ^dog (mouse)", "Characters that are not part of a word were ignored: * ^ ( )"),
        ('"black cat', "A quote was not closed; the phrase was read to the end of the query."),
        ("cat or", "“or” needs a word on each side; one without was ignored."),
        ("or cat", "“or” needs a word on each side; one without was ignored."),
        ("cat - dog", "A “-” excludes the word or quoted phrase it touches (as in -dates); a lone one was ignored."),
        ("--cat dog", "Several “-” in a row exclude once."),
    ],
)
def test_what_is_ignored_or_read_differently_is_said(text, note):
    query = parse(text)

    assert note in query.notes
    assert query.searchable


def test_a_lone_minus_does_not_exclude_the_next_word_unannounced():
    query = parse("cat - dog")

    assert query.text() == "cat dog"


def test_a_query_that_only_excludes_is_refused_with_a_reason():
    expected = "“-dates” only excludes: a search needs a word to look for, as in “numbers -dates”."
    assert parse("-dates").problem == expected
    assert "on each side of “or”" in parse("cat or -dog").problem
    assert not parse("the -dates").searchable


@pytest.mark.parametrize("text", ["", "   ", "-", '"', '""', "the", "or", "***", "🙂", "AND NOT"])
def test_a_query_with_no_word_to_search_says_so(text):
    query = parse(text)

    assert not query.searchable
    assert query.problem == "There is no word left to search for."
    with pytest.raises(ValueError):
        to_fts5(query)


def test_a_query_too_long_is_refused_not_cut():
    query = parse("cat " * 2500)

    assert query.problem == "This query is 10,000 characters long; a search takes at most 200."


def test_letters_of_any_script_are_words_with_their_combining_marks():
    query = parse("猫 Kätzchen café हिन्दी")

    assert query.words() == ["猫", "Kätzchen", "café", "हिन्दी"]
    assert query.notes == ()


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(cat dog, 2)",
        "cat AND dog OR NOT mouse",
        "cat* ^dog",
        "col:cat + dog",
        '"cat" "" "dog',
        "{text}: cat",
        'cat -""',
        "' OR 1=1 --",
        "x\x00y",
    ],
)
def test_whatever_is_typed_becomes_a_valid_fts5_expression(text):
    """Every word is quoted, so FTS5 never sees its own syntax in what a user typed."""
    query = parse(text)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 0')")
    db.execute("INSERT INTO t VALUES ('near the cat and the dog or mouse, col text 1 1 x y')")

    assert query.searchable
    db.execute("SELECT count(*) FROM t WHERE t MATCH ?", [to_fts5(query)]).fetchone()


def test_correcting_words_keeps_exclusions_phrases_and_alternatives():
    query = parse('numbrs -dates or "blak cat"')

    corrected = query.with_words_replaced({"numbrs": "numbers", "blak": "black", "dates": "dat"})

    assert corrected.text() == 'numbers -dates or "black cat"'
