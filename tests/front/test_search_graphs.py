"""Graphs in the wiki's search page (/search/, front.views.search): found by their title, node labels and
supernode names, alone (kind=graphs) or above the explanations and comments (kind=all), within a model or a
source, and every odd query answered with a page."""

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

from circuits.models import Graph, GraphSearchText
from circuits.services.imports import graph_import
from circuits.services.revisions import graph_annotate
from explanations.services.explanations import explanation_create
from features.models import Feature, LanguageModel
from front import views as front_views
from tests.circuits.conftest import alice, alice_client, fresh_rate_limits, graph_bytes, tc_model  # noqa: F401

SEARCH = "/search/"


@pytest.fixture
def paris(tc_model, alice) -> Graph:  # noqa: F811
    return graph_import(
        model=tc_model, raw=graph_bytes(scan="tc"), author=alice, title="How it says Paris", description="A demo"
    )


@pytest.fixture
def other_model_graph(db, alice) -> Graph:  # noqa: F811
    other = LanguageModel.objects.create(
        slug="other-tc", display_name="Other", path="/tmp/y", architecture="gpt2", n_layers=2, d_model=4, d_mlp=8,
        vocab_size=1000,
    )  # fmt: skip
    return graph_import(model=other, raw=graph_bytes(slug="elsewhere"), author=alice, title="Paris elsewhere")


def search(client, **params) -> str:
    response = client.get(SEARCH, params)
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def graph_titles(text: str) -> list[str]:
    return [part.split(">", 1)[1].split("</a>", 1)[0] for part in text.split('class="graph-ref" href=')[1:]]


def test_search_is_fronts_page_at_the_same_address():
    assert reverse("front:search") == SEARCH
    assert resolve(SEARCH).func is front_views.search
    # The features' one-segment model page is routed before it, and gives way only to reserved slugs.
    assert resolve("/tiny-tc/").url_name == "model" and resolve("/searches/").url_name == "model"


def test_the_header_form_searches_on_front(client, db):
    assert '<form class="header-search" action="/search/"' in search(client)


def test_a_graph_is_found_by_its_title_with_a_link_model_prompt_and_author(client, paris):
    text = search(client, q="says", kind="graphs")
    assert graph_titles(text) == ["How it says Paris"]
    assert 'href="/graphs/tiny-tc/paris-graph/"' in text
    assert 'href="/graphs/tiny-tc/">tiny-tc</a>' in text and 'href="/u/alice/">alice</a>' in text
    assert '<p class="excerpt">The <mark>capital</mark> of</p>' in search(client, q="capital", kind="graphs")


def test_a_graph_is_found_by_a_node_label_and_loses_an_old_one(client, paris, alice):  # noqa: F811
    assert graph_titles(search(client, q="ocelot", kind="graphs")) == []
    graph_annotate(graph=paris, user=alice, labels={"1_3_2": "Ocelot detector"})
    text = search(client, q="ocelot", kind="graphs")
    assert graph_titles(text) == ["How it says Paris"] and "Matches “ocelot detector”" in text
    graph_annotate(graph=paris, user=alice, labels={"1_3_2": "Lynx detector"})
    assert graph_titles(search(client, q="ocelot", kind="graphs")) == []
    assert graph_titles(search(client, q="lynx", kind="graphs")) == ["How it says Paris"]


def test_a_graph_is_found_by_a_supernode_name(client, paris, alice):  # noqa: F811
    graph_annotate(graph=paris, user=alice, supernodes=[["Geography words", "0_2_1", "1_3_2"]])
    text = search(client, q='"geography words"', kind="graphs")
    assert graph_titles(text) == ["How it says Paris"] and "Matches “geography words”" in text


def explain_a_feature(alice, text: str) -> None:  # noqa: F811
    explanation_create(feature=Feature.objects.get(source__slug="1-tc", index=3), author=alice, text=text, embed=False)


def test_kind_graphs_shows_only_graphs_and_all_shows_both(client, paris, alice):  # noqa: F811
    explain_a_feature(alice, "says capital city names")
    only_graphs = search(client, q="says", kind="graphs")
    assert graph_titles(only_graphs) == ["How it says Paris"] and "hit-explanation" not in only_graphs
    both = search(client, q="says", kind="all")
    assert graph_titles(both) == ["How it says Paris"] and both.count('class="search-hit hit-explanation"') == 1
    assert both.index("hit-graph") < both.index("hit-explanation")
    explanations_only = search(client, q="says", kind="explanations")
    assert graph_titles(explanations_only) == [] and "hit-explanation" in explanations_only


def test_the_model_filter_keeps_that_models_graphs_only(client, paris, other_model_graph):
    assert sorted(graph_titles(search(client, q="paris", kind="graphs"))) == ["How it says Paris", "Paris elsewhere"]
    assert graph_titles(search(client, q="paris", kind="graphs", model="other-tc")) == ["Paris elsewhere"]
    assert graph_titles(search(client, q="paris", kind="all", model="tiny-tc")) == ["How it says Paris"]


def test_the_source_filter_keeps_graphs_with_a_node_of_that_source(client, paris, other_model_graph):
    # The other model's graph has no node linked to a feature of ours (its sources are not there).
    assert graph_titles(search(client, q="paris", kind="graphs", source="1-tc")) == ["How it says Paris"]
    assert graph_titles(search(client, q="paris", kind="graphs", source="7-mlp")) == []


def test_a_deleted_graph_is_gone_from_search(client, paris):
    paris.delete()
    assert not GraphSearchText.objects.exists()
    assert "Nothing found" in search(client, q="says", kind="graphs")


def test_a_title_match_ranks_above_a_label_match(client, paris, alice, tc_model):  # noqa: F811
    later = graph_import(model=tc_model, raw=graph_bytes(slug="later"), author=alice, title="Something else")
    graph_annotate(graph=later, user=alice, labels={"1_3_2": "says things"})
    # The newer graph matches only in a label: the older one, matching in its title, comes first.
    assert graph_titles(search(client, q="says", kind="graphs")) == ["How it says Paris", "Something else"]


def test_a_unicode_query_matches_in_any_case(client, tc_model, alice):  # noqa: F811
    graph_import(model=tc_model, raw=graph_bytes(slug="u"), author=alice, title="Über Städte: 東京")
    assert graph_titles(search(client, q="ÜBER städte", kind="graphs")) == ["Über Städte: 東京"]
    assert graph_titles(search(client, q="東京", kind="graphs")) == ["Über Städte: 東京"]


@pytest.mark.parametrize("kind", ["all", "graphs"])
@pytest.mark.parametrize(
    "params, says",
    [
        ({"q": ""}, ""),
        ({"q": "   "}, ""),
        ({"q": "!!! ((("}, "no word left to search for"),
        ({"q": "x" * 5000}, "at most 200"),
        ({"q": "-paris"}, "only excludes"),
        ({"q": "the"}, "too common"),
        ({"q": "a\x00b"}, "not part of a word"),
        ({"q": '"unclosed'}, "not closed"),
        ({"q": "paris", "page": "abc"}, ""),
        ({"q": "paris", "page": "-5"}, ""),
        ({"q": "paris", "page": "99999999999999999999"}, ""),
        ({"q": "paris", "model": "no-such-model", "source": "💥"}, "Nothing found"),
    ],
)
def test_odd_queries_get_a_page_never_an_error(client, paris, kind, params, says):
    text = search(client, kind=kind, **params)
    assert says.lower() in text.lower()


def test_a_query_with_only_exclusions_says_why_nothing_is_searched(client, paris):
    text = search(client, q="-paris", kind="graphs")
    assert 'class="empty-state search-problem"' in text and graph_titles(text) == []


def test_unknown_kind_and_mode_fall_back_and_meaning_mode_says_graphs_go_by_words(client, paris):
    assert graph_titles(search(client, q="says", kind="bogus")) == ["How it says Paris"]
    text = search(client, q="says", kind="graphs", mode="semantic")
    assert graph_titles(text) == ["How it says Paris"] and "Graphs are searched by their words" in text


def test_all_lists_a_few_graphs_and_links_to_the_rest(client, tc_model, alice, monkeypatch):  # noqa: F811
    monkeypatch.setattr(front_views, "GRAPHS_IN_ALL", 2)
    for number in range(3):
        graph_import(model=tc_model, raw=graph_bytes(slug=f"g{number}"), author=alice, title=f"Paris {number}")
    text = search(client, q="paris")
    assert len(graph_titles(text)) == 2 and "All 3 matching graphs" in text
    assert len(graph_titles(search(client, q="paris", kind="graphs"))) == 3


def test_the_page_reads_a_constant_number_of_queries(client, tc_model, alice):  # noqa: F811
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            search(client, q="paris", kind="graphs")
        return len(captured)

    graph_import(model=tc_model, raw=graph_bytes(slug="g0"), author=alice, title="Paris 0")
    one = queries()
    for number in range(1, 5):
        graph_import(model=tc_model, raw=graph_bytes(slug=f"g{number}"), author=alice, title=f"Paris {number}")
    assert queries() == one
