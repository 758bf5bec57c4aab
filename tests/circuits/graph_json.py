"""Graph JSON files laid out as circuit-tracer 0.5.0 writes them (circuit_tracer/utils/create_graph_files.py
and frontend/graph_models.py: Node.feature_node/error_node/token_node/logit_node, Model.model_dump), built by
hand from a list of features so that the tests need no circuit-tracer install."""


def cantor(x: int, y: int) -> int:
    return (x + y) * (x + y + 1) // 2 + y


def feature_node(layer: int, pos: int, feat_idx: int, influence: float, activation: float) -> dict:
    return {
        "node_id": f"{layer}_{feat_idx}_{pos}",
        "feature": cantor(layer, feat_idx),
        "layer": str(layer),
        "ctx_idx": pos,
        "feature_type": "cross layer transcoder",
        "token_prob": 0.0,
        "is_target_logit": False,
        "run_idx": 0,
        "reverse_ctx_idx": 0,
        "jsNodeId": f"{layer}_{feat_idx}-0",
        "clerp": "",
        "influence": influence,
        "activation": activation,
    }


def error_node(layer: int, pos: int, influence: float) -> dict:
    return {
        "node_id": f"0_{layer}_{pos}",
        "feature": -1,
        "layer": str(layer),
        "ctx_idx": pos,
        "feature_type": "mlp reconstruction error",
        "token_prob": 0.0,
        "is_target_logit": False,
        "run_idx": 0,
        "reverse_ctx_idx": 0,
        "jsNodeId": f"{layer}_{pos}-0",
        "clerp": "",
        "influence": influence,
        "activation": None,
    }


def token_node(pos: int, vocab_idx: int, influence: float) -> dict:
    return {
        "node_id": f"E_{vocab_idx}_{pos}",
        "feature": pos,
        "layer": "E",
        "ctx_idx": pos,
        "feature_type": "embedding",
        "token_prob": 0.0,
        "is_target_logit": False,
        "run_idx": 0,
        "reverse_ctx_idx": 0,
        "jsNodeId": f"E_{vocab_idx}-{pos}",
        "clerp": "",
        "influence": influence,
        "activation": None,
    }


def logit_node(pos: int, vocab_idx: int, token: str, num_layers: int, target: bool, prob: float) -> dict:
    layer = str(num_layers + 1)
    return {
        "node_id": f"{layer}_{vocab_idx}_{pos}",
        "feature": vocab_idx,
        "layer": layer,
        "ctx_idx": pos,
        "feature_type": "logit",
        "token_prob": prob,
        "is_target_logit": target,
        "run_idx": 0,
        "reverse_ctx_idx": 0,
        "jsNodeId": f"L_{vocab_idx}-{pos}",
        "clerp": f'Output "{token}" (p={prob:.3f})',
        "influence": None,
        "activation": None,
    }


def circuit_tracer_graph(
    *, scan: str | list[str] = "tc", slug: str = "paris-graph", features=((0, 1, 2), (1, 2, 3), (1, 1, 5))
) -> dict:
    """A 2-layer graph over the prompt "The capital of" (token ids 10, 11, 12): the given (layer, pos, feat_idx)
    features, an error node, the tokens and two logits, with links from tokens up to the target; `scan` a list
    is a transcoder_list (scan becomes "custom-<hash>", as build_model writes it)."""
    tokens = ["The", " capital", " of"]
    nodes = [token_node(pos, 10 + pos, 0.9 - 0.1 * pos) for pos in range(3)]
    feature_nodes = [
        feature_node(layer, pos, idx, 0.1 * (k + 1), 1.0 + k) for k, (layer, pos, idx) in enumerate(features)
    ]
    nodes += feature_nodes
    nodes.append(error_node(1, 2, 0.7))
    nodes.append(logit_node(2, 500, " Paris", 2, True, 0.61))
    nodes.append(logit_node(2, 501, " France", 2, False, 0.12))
    target = nodes[-2]["node_id"]
    links = [
        {"source": nodes[pos]["node_id"], "target": feature_nodes[0]["node_id"], "weight": 0.5 - pos * 0.4}
        for pos in range(3)
    ]
    links += [
        {"source": feature_nodes[0]["node_id"], "target": feature_nodes[1]["node_id"], "weight": 1.25},
        {"source": feature_nodes[2]["node_id"], "target": feature_nodes[1]["node_id"], "weight": -0.75},
        {"source": feature_nodes[1]["node_id"], "target": target, "weight": 2.0},
        {"source": "0_1_2", "target": target, "weight": 0.3},
        {"source": feature_nodes[2]["node_id"], "target": nodes[-1]["node_id"], "weight": -0.2},
    ]
    transcoder_list = scan if isinstance(scan, list) else []
    return {
        "metadata": {
            "slug": slug,
            "scan": f"custom-{hash('-'.join(scan))}" if isinstance(scan, list) else scan,
            "transcoder_list": transcoder_list,
            "prompt_tokens": tokens,
            "prompt": "The capital of",
            "node_threshold": 0.8,
            "schema_version": 1,
        },
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": nodes,
        "links": links,
    }


def make_tc_model():
    """`tiny-tc` with sources 0-tc and 1-tc (set `tc`, 8 features each, dictionaries layer0.safetensors and
    layer1.safetensors); features 0-5 of each exist."""
    from features.models import Feature, LanguageModel, Source

    model = LanguageModel.objects.create(
        slug="tiny-tc", display_name="Tiny TC", path="/tmp/x", architecture="gpt2", n_layers=2, d_model=4, d_mlp=8,
        vocab_size=1000,
    )  # fmt: skip
    for layer in (0, 1):
        source = Source.objects.create(
            model=model, slug=f"{layer}-tc", kind="transcoder", hook_name=f"blocks.{layer}.hook_mlp_in", layer=layer,
            set_name="tc", n_features=8, dictionary_path=f"/data/tc/layer{layer}.safetensors",
        )  # fmt: skip
        Feature.objects.bulk_create(Feature(source=source, index=i) for i in range(6))
    return model
