"""Graph search's reading of a graph and a query, without the database (circuits/core/graph_search.py)."""

from circuits.core.graph_search import (
    clause_needle,
    graph_rank,
    graph_search_text,
    marked_excerpt,
    matched_line,
    search_line,
)
from explanations.core.websearch import parse


def text_of(**fields) -> str:
    defaults = {"title": "", "description": "", "prompt": "", "target": "", "labels": [], "supernode_names": []}
    return graph_search_text(**{**defaults, **fields})


def matches(query: str, text: str) -> bool:
    """What the database's LIKE does with the needles, said in Python."""
    parsed = parse(query)
    return any(all((clause_needle(c) in text) != c.negated for c in alternative) for alternative in parsed.alternatives)


def test_a_line_is_its_words_casefolded_each_after_a_space():
    assert search_line("Says “Paris”, (p=0.61)!") == " says paris p 0 61"
    assert search_line("Straße ÜBER") == " strasse über"
    assert search_line("!!!") == ""


def test_the_title_comes_first_and_a_repeated_line_once():
    text = text_of(title="Capitals", prompt="The capital of", labels=["capital", "capital"], supernode_names=["geo"])
    assert text.split("\n") == [" capitals", " the capital of", " capital", " geo"]


def test_a_word_matches_at_the_start_of_a_word_in_any_case_and_alphabet():
    text = text_of(title="Bobcats and Über-Städte")
    assert matches("CATS", text) is False  # inside "bobcats"
    assert matches("bob", text) and matches("über", text) and matches("ÜBER", text) and matches("städte", text)


def test_a_phrase_needs_its_words_together_and_on_one_line():
    text = text_of(title="black cat", description="white dog")
    assert matches('"black cat"', text)
    assert not matches('"cat white"', text)  # the end of one line and the start of the next


def test_or_and_exclusion_read_as_the_search_box_reads_them():
    text = text_of(title="rivers", labels=["seas"])
    assert matches("lakes or seas", text)
    assert not matches("rivers -seas", text)
    assert matches("rivers -lakes", text)


def test_a_title_match_ranks_above_a_match_elsewhere():
    query = parse("paris")
    assert graph_rank(query, text_of(title="Paris")) == 2 * graph_rank(query, text_of(title="x", labels=["paris"]))
    assert graph_rank(parse("paris -x"), text_of(title="Paris")) == graph_rank(query, text_of(title="Paris"))


def test_the_matched_line_says_where_a_graph_matched_when_its_title_and_prompt_do_not_show_it():
    text = text_of(title="Capitals", prompt="The capital of", labels=["paris detector"], supernode_names=["geo"])
    assert matched_line(parse("paris"), text, shown=["The capital of"]) == "paris detector"
    assert matched_line(parse("geo -x"), text, shown=["The capital of"]) == "geo"
    assert matched_line(parse("capital"), text, shown=["The capital of"]) == ""  # the prompt shows it
    assert matched_line(parse("capitals or paris"), text) == ""  # the title shows it
    assert matched_line(parse("london"), text) == ""


def test_an_excerpt_marks_the_words_and_keeps_the_first_match_in_a_long_prompt():
    assert marked_excerpt("The capital of", parse("capital"), start="[", stop="]") == "The [capital] of"
    long = "fill, " * 60 + "Paris is a capital " + "fill, " * 60
    excerpt = marked_excerpt(long, parse("paris"), width=80, start="[", stop="]")
    assert "[Paris]" in excerpt and excerpt.startswith("…fill,") and excerpt.endswith("…")
    assert len(excerpt.replace("[", "").replace("]", "")) <= 82
