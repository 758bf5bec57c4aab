"""Our attribution graphs against circuit-tracer 0.5.0's on the same weights and prompt: a tiny GPT-2, a tiny Llama
and a tiny Gemma 2 (RMSNorm, rotary attention, gated MLP; Gemma 2's norms after attention and MLP and its
softcapping) with a ReLU transcoder per layer, written to disk, read by both. circuit-tracer runs in its own venv
(`make reference-venv`, part of `make install-dev`), through tests/circuits/circuit_tracer_reference.py."""

import json
import subprocess
from pathlib import Path

import pytest
import torch

from circuits.core.attribution import LayerReplacement, LogitTarget, compute_attribution
from circuits.core.attribution_graph import graph_scores, influence, normalized_abs, prune
from features.pipeline.dictionaries import load_dictionary
from features.pipeline.loading import load_language_model
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders
from tests.circuits.tiny_families import save_tiny_decoder

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON = ROOT / ".venv-circuit-tracer" / "bin" / "python"
SCRIPT = Path(__file__).with_name("circuit_tracer_reference.py")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not REFERENCE_PYTHON.exists(), reason="no reference venv: run `make reference-venv` (part of make test)"
    ),
]


BUDGETS = [None, 12]
FAMILIES = ["llama", "gemma2"]  # beside GPT-2: circuit-tracer's own two families, unbudgeted


def _reference(tmp_path: Path, requests: list[dict]) -> list[dict]:
    request_path, output_path = tmp_path / "requests.json", tmp_path / "reference.json"
    request_path.write_text(json.dumps(requests))
    completed = subprocess.run(
        [str(REFERENCE_PYTHON), str(SCRIPT), str(request_path), str(output_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(output_path.read_text())


def _request(model_dir, transcoder_dirs, ids, token, max_feature_nodes, family="gpt2") -> dict:
    return {
        "family": family,
        "model_dir": str(model_dir),
        "transcoders": [str(path) for path in transcoder_dirs],
        "feature_input_hook": "ln2.hook_normalized",
        "input_ids": ids,
        "target_token_id": token,
        "max_feature_nodes": max_feature_nodes,
        "batch_size": 4,
        "node_threshold": 0.8,
        "edge_threshold": 0.98,
    }


def _top_token(loaded, ids) -> int:
    with torch.no_grad():
        return int(loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_gpt2_dir):
    """The transcoders, and per model (GPT-2, each family): the loaded model, the prompt, the target, and
    circuit-tracer's graphs (one process for all: importing circuit-tracer takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("reference")
    transcoder_dirs = save_tiny_transcoders(tmp_path)
    models = {"gpt2": tiny_gpt2_dir} | {name: save_tiny_decoder(tmp_path / name, name) for name in FAMILIES}
    cases, requests = {}, []
    for family, model_dir in models.items():
        loaded = load_language_model(model_dir)
        ids = loaded.tokenizer(PROMPT)["input_ids"]  # [CLS] first: circuit-tracer keeps a special first token
        token = _top_token(loaded, ids)
        for max_feature_nodes in BUDGETS if family == "gpt2" else [None]:
            cases[family, max_feature_nodes] = (loaded, ids, token)
            requests.append(_request(model_dir, transcoder_dirs, ids, token, max_feature_nodes, family))
    references = dict(zip(cases, _reference(tmp_path, requests), strict=True))
    return transcoder_dirs, cases, references


@pytest.mark.parametrize(
    ("family", "max_feature_nodes"), [("gpt2", budget) for budget in BUDGETS] + [(name, None) for name in FAMILIES]
)
def test_edges_influences_and_scores_equal_circuit_tracers(setup, family, max_feature_nodes):
    transcoder_dirs, cases, references = setup
    loaded, ids, token = cases[family, max_feature_nodes]
    reference = references[family, max_feature_nodes]
    replacements = [
        LayerReplacement(layer, f"{layer}-tc", load_dictionary(path)) for layer, path in enumerate(transcoder_dirs)
    ]
    ours = compute_attribution(
        loaded, ids, replacements, LogitTarget(token), max_feature_nodes=max_feature_nodes, batch_size=4
    )

    assert ours.n_active_features == reference["n_active_features"]
    assert [list(feature) for feature in ours.features] == reference["features"]
    torch.testing.assert_close(torch.tensor(ours.feature_activations), torch.tensor(reference["activations"]))
    assert ours.target_probability == pytest.approx(reference["target_probability"], rel=1e-5)
    adjacency = torch.tensor(reference["adjacency"])
    assert adjacency.abs().max() > 1  # a graph with real edges, not an empty one agreeing with another
    torch.testing.assert_close(ours.adjacency, adjacency, atol=1e-6 * adjacency.abs().max(), rtol=1e-4)

    weights = torch.zeros(adjacency.shape[0])
    weights[-1] = ours.target_weight
    torch.testing.assert_close(
        influence(normalized_abs(ours.adjacency), weights), torch.tensor(reference["influence"]), atol=1e-6, rtol=1e-4
    )
    pruned = prune(
        ours.adjacency, n_features=ours.n_features, n_tokens=ours.n_pos, target_weights=torch.tensor([weights[-1]])
    )
    assert pruned.node_mask.tolist() == reference["node_mask"]
    assert pruned.edge_mask.nonzero().tolist() == reference["edge_mask"]
    torch.testing.assert_close(pruned.cumulative, torch.tensor(reference["cumulative"]), atol=1e-6, rtol=1e-4)
    replacement, completeness = graph_scores(
        ours.adjacency,
        n_features=ours.n_features,
        n_errors=ours.n_layers * ours.n_pos,
        n_tokens=ours.n_pos,
        target_weights=torch.tensor([weights[-1]]),
    )
    assert replacement == pytest.approx(reference["replacement_score"], abs=1e-5)
    assert completeness == pytest.approx(reference["completeness_score"], abs=1e-5)
