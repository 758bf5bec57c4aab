"""How long a graph page takes to render and how many bytes it sends, against the graph's size: synthetic graphs
in circuit-tracer's schema (random layers, positions and links, like a pruned graph of a 16- to 64-token prompt)
imported into a throwaway SQLite database, then the page, its node panel and its subgraph through Django's test
client. Run it with its own var directory:

    NEURONPEDIA_VAR_DIR=/tmp/bench-graphs python bench/graph_pages.py [--sizes 200,1000,5000] [--repeats 5]

Prints a table (median and slowest of --repeats, after one warm-up) and one JSON line.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("NEURONPEDIA_WARM", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")  # Django's test client


def synthetic_graph(n_nodes: int, *, n_layers: int = 12, links_per_node: int = 10, seed: int = 0) -> dict:
    rng = random.Random(seed)
    n_tokens = 16 if n_nodes <= 1000 else 64
    tokens = [f" t{i}" for i in range(n_tokens)]
    nodes = [
        {"node_id": f"E_{100 + p}_{p}", "feature": p, "layer": "E", "ctx_idx": p, "feature_type": "embedding",
         "jsNodeId": f"E_{100 + p}-{p}", "influence": 0.9}
        for p in range(n_tokens)
    ]  # fmt: skip
    seen = set()
    while len(nodes) < n_nodes - 1:
        layer, pos, index = rng.randrange(n_layers), rng.randrange(n_tokens), rng.randrange(16384)
        if (layer, pos, index) in seen:
            continue
        seen.add((layer, pos, index))
        nodes.append(
            {"node_id": f"{layer}_{index}_{pos}", "feature": 0, "layer": str(layer), "ctx_idx": pos,
             "feature_type": "cross layer transcoder", "jsNodeId": f"{layer}_{index}-0",
             "influence": rng.random() * 0.8, "activation": rng.random() * 5}
        )  # fmt: skip
    target = {"node_id": f"{n_layers + 1}_500_{n_tokens - 1}", "feature": 500, "layer": str(n_layers + 1),
              "ctx_idx": n_tokens - 1, "feature_type": "logit", "jsNodeId": "L_500-0", "is_target_logit": True,
              "clerp": "Output", "influence": None}  # fmt: skip
    nodes.append(target)

    def rank(node: dict) -> int:
        return -1 if node["layer"] == "E" else int(node["layer"])

    links = []
    for node in nodes[n_tokens:]:
        below = [other for other in rng.sample(nodes, min(len(nodes), 4 * links_per_node)) if rank(other) < rank(node)]
        for source in below[:links_per_node]:
            links.append({"source": source["node_id"], "target": node["node_id"], "weight": rng.gauss(0, 1)})
    metadata = {"slug": f"bench-{n_nodes}", "scan": "bench", "transcoder_list": [], "prompt_tokens": tokens,
                "prompt": "".join(tokens), "schema_version": 1}  # fmt: skip
    qparams = {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""}
    return {"metadata": metadata, "qParams": qparams, "nodes": nodes, "links": links}


def timed(client, url: str, repeats: int, **headers) -> tuple[float, float, int]:
    response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url, **headers)
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,1000,5000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from circuits.models import Graph
    from circuits.services.imports import graph_import
    from features.models import LanguageModel

    call_command("migrate", verbosity=0)
    model, _ = LanguageModel.objects.get_or_create(
        slug="bench-graphs",
        defaults={"display_name": "bench", "path": "/nonexistent", "architecture": "gpt2", "n_layers": 12,
                  "d_model": 8, "d_mlp": 8, "vocab_size": 1000},
    )  # fmt: skip
    client = Client()
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        Graph.objects.filter(model=model, slug=f"bench-{size}").delete()
        data = synthetic_graph(size)
        raw = json.dumps(data)
        start = time.perf_counter()
        graph = graph_import(model=model, raw=raw, require_author=False)
        import_s = time.perf_counter() - start
        url = graph.get_absolute_url()
        some = [n["node_id"] for n in data["nodes"] if n["feature_type"] == "cross layer transcoder"][:6]
        page = timed(client, url, args.repeats)
        clicked = timed(client, f"{url}?clickedId={some[0]}&pinnedIds={','.join(some)}", args.repeats)
        panel = timed(client, f"{url}node/{some[0]}/", args.repeats, HTTP_HX_REQUEST="true")
        sub = timed(client, f"{url}?pinnedIds={','.join(some)}&subgraph=1", args.repeats)
        rows.append(
            {"nodes": len(data["nodes"]), "links": len(data["links"]), "json_mib": round(len(raw) / 2**20, 2),
             "import_s": round(import_s, 3),
             "page_s": round(page[0], 3), "page_max_s": round(page[1], 3), "page_kib": round(page[2] / 1024),
             "clicked_s": round(clicked[0], 3), "panel_s": round(panel[0], 4), "subgraph_s": round(sub[0], 3)}
        )  # fmt: skip
    header = ["nodes", "links", "json_mib", "import_s", "page_s", "page_max_s", "page_kib", "clicked_s", "panel_s",
              "subgraph_s"]  # fmt: skip
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[key]) for key in header))
    print(json.dumps({"graph_pages": rows}))


if __name__ == "__main__":
    main()
