"""The graph page's pure layout (circuits/core/graph_layout.py): rows and columns, sizes, drawn links, and the
subgraph's merged supernodes, against values worked out by hand."""

import pytest

from circuits.core.graph_layout import MAX_RADIUS, MIN_RADIUS, graph_layout, node_weight, subgraph

from .graph_json import circuit_tracer_graph


@pytest.fixture
def data() -> dict:
    return circuit_tracer_graph()


def test_rows_run_from_the_tokens_up_to_the_output_and_columns_follow_the_prompt(data):
    layout = graph_layout(data["nodes"], data["links"], data["metadata"]["prompt_tokens"])
    assert [label for label, _ in layout.rows] == ["Emb", "L0", "L1", "Out"]
    ys = [y for _, y in layout.rows]
    assert ys == sorted(ys, reverse=True)  # SVG's y grows downwards
    assert [token for token, _ in layout.columns] == ["The", " capital", " of"]
    xs = {n.node_id: n.x for n in layout.nodes}
    assert xs["E_10_0"] < xs["E_11_1"] < xs["E_12_2"]
    # Two nodes in one cell (layer 1, position 2: a feature and an error node) sit side by side in its column.
    assert xs["1_3_2"] != xs["0_1_2"]
    assert abs(xs["1_3_2"] - xs["E_12_2"]) < 30


def test_size_grows_with_influence_and_links_with_weight(data):
    layout = graph_layout(data["nodes"], data["links"], ["a", "b", "c"])
    r = {n.node_id: n.r for n in layout.nodes}
    assert r["0_2_1"] > r["1_3_2"] > r["1_5_1"]  # cumulative influence 0.1 < 0.2 < 0.3
    assert all(MIN_RADIUS <= n.r <= MAX_RADIUS for n in layout.nodes)
    assert node_weight({"influence": None}) == 0.5
    widths = {(link.source, link.target): link.width for link in layout.links}
    assert widths[("1_3_2", "3_500_2")] == 4.4  # the strongest: 0.4 + 4.0
    assert widths[("0_2_1", "1_3_2")] == pytest.approx(0.4 + 4.0 * 1.25 / 2.0, abs=0.01)
    signs = {(link.source, link.target): link.sign for link in layout.links}
    assert signs[("1_5_1", "1_3_2")] == "neg" and signs[("0_2_1", "1_3_2")] == "pos"


def test_only_the_strongest_links_are_drawn_and_the_rest_counted(data):
    layout = graph_layout(data["nodes"], data["links"], ["a", "b", "c"], max_links=3)
    assert len(layout.links) == 3 and layout.hidden_links == len(data["links"]) - 3
    assert {abs(link.weight) for link in layout.links} == {2.0, 1.25, 0.75}


def test_the_subgraph_keeps_pinned_nodes_and_sums_a_supernodes_links(data):
    nodes, links = subgraph(
        data["nodes"], data["links"], pinned=["1_3_2", "0_2_1"], supernodes=[["early", "0_2_1", "1_5_1"]]
    )
    assert sorted(n["node_id"] for n in nodes) == ["1_3_2", "supernode:0"]
    group = next(n for n in nodes if n["node_id"] == "supernode:0")
    assert (group["layer"], group["ctx_idx"], group["clerp"]) == ("0", 1, "early")  # mean of layers 0 and 1 rounds to 0
    assert links == [{"source": "supernode:0", "target": "1_3_2", "weight": 0.5}]
    # With nothing pinned, the subgraph is the supernodes alone.
    nodes, _ = subgraph(data["nodes"], data["links"], pinned=[], supernodes=[["early", "0_2_1", "1_5_1"]])
    assert [n["node_id"] for n in nodes] == ["supernode:0"]


def test_the_svg_escapes_labels_tokens_and_ids(data):
    from circuits.core.graph_layout import layout_svg

    data["nodes"][3]["clerp"] = '<script>alert("x")</script>'
    layout = graph_layout(data["nodes"], data["links"], ["<b>", "b", "c"])
    svg = layout_svg(layout, hrefs={"0_2_1": "?a=1&b=2"}, pinned={"0_2_1"}, clicked="1_3_2", node_url="/n/NODE/")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg
    assert 'class="gnode kind-feature pinned" href="?a=1&amp;b=2" data-node="0_2_1"' in svg
    assert 'class="gnode kind-feature clicked"' in svg
    assert svg.count("<circle") == len(data["nodes"]) and svg.count('<line class="link') == len(data["links"])
