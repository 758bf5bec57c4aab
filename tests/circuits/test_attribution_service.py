"""Graphs as stored pages: `manage.py trace` and graph_compute on the task queue (sync here), the defaults of the
issue (the top next token of a causal LM; the most active feature of an encoder's deepest dictionary), and every
limit refused with a message before any work (nothing half-written)."""

import json

import pytest
from django.core.management import CommandError, call_command

from circuits.models import Graph
from circuits.services import graphs
from features.models import PipelineRun
from features.services.registration import dictionary_register, model_register
from tests.circuits.tiny_circuits import PROMPT, save_tiny_transcoders
from tests.conftest import save_tiny_dictionary

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpt2_with_transcoders(tiny_gpt2_dir, tmp_path):
    model = model_register(slug="tiny-gpt2", path=str(tiny_gpt2_dir))
    for layer, path in enumerate(save_tiny_transcoders(tmp_path)):
        dictionary_register(model=model, path=str(path), slug=f"{layer}-tc")
    return model


@pytest.fixture
def bert_with_sae(tiny_bert_dir, tmp_path):
    model = model_register(slug="tiny-bert", path=str(tiny_bert_dir))
    directory = save_tiny_dictionary(
        tmp_path / "sae", "standard", d_in=32, d_sae=16, hook_name="blocks.1.hook_resid_pre"
    )
    dictionary_register(model=model, path=str(directory), slug="1-res")
    return model


def test_trace_stores_a_graph_of_the_top_next_token_and_writes_its_json(gpt2_with_transcoders, tmp_path):
    output = tmp_path / "graph.json"
    call_command("trace", "tiny-gpt2", PROMPT, "--sync", "--slug", "cat", "--output", str(output))
    graph = Graph.objects.get(model=gpt2_with_transcoders, slug="cat")
    assert graph.run.kind == PipelineRun.Kind.ATTRIBUTION and graph.run.status == PipelineRun.Status.SUCCEEDED
    assert graph.params["sources"] == ["0-tc", "1-tc"]  # each layer's registered transcoder by default
    assert 0 < graph.replacement_score <= 1 and 0 < graph.completeness_score <= 1
    written = json.loads(output.read_text())
    assert written["metadata"]["slug"] == "cat"
    logits = [node for node in written["nodes"] if node["feature_type"] == "logit"]
    assert len(logits) == 1 and logits[0]["is_target_logit"] and logits[0]["layer"] == "3"
    assert graph.target.startswith("the top next token")
    assert any(
        node["source"] == "1-tc" for node in written["nodes"] if node["feature_type"] == "cross layer transcoder"
    )


def test_an_encoder_graph_ends_at_its_deepest_dictionarys_most_active_feature(bert_with_sae):
    run = graphs.graph_run_create(model=bert_with_sae, prompt="the cat sat", max_nodes=30, sync=True)
    graph = graphs.graph_compute(run_id=run.pk)
    assert graph is not None, PipelineRun.objects.get(pk=run.pk).error
    assert graph.params["sources"] == ["0-mlp"]  # the SAE reads before block 1: only layer 0's MLP is upstream
    target = next(node for node in graph.data["nodes"] if node["is_target_logit"])
    assert target["source"] == "1-res" and target["node_kind"] == "feature target"
    n_tokens = len(graph.params["input_ids"])
    assert target["ctx_idx"] == n_tokens - 2  # the last content token, before [SEP]
    assert graph.data["metadata"]["n_selected_features"] == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": ""}, "empty"),
        ({"prompt": "word " * 80}, "graphs take at most 64"),
        ({"prompt": PROMPT, "max_nodes": 0}, "node budget"),
        ({"prompt": PROMPT, "max_nodes": 10**6}, "node budget"),
        ({"prompt": PROMPT, "node_threshold": 1.5}, "share of influence"),
        ({"prompt": PROMPT, "target": "the cat"}, "give one token"),
        ({"prompt": PROMPT, "target": "nope:1@2"}, "no dictionary source 'nope'"),
        ({"prompt": PROMPT, "sources": ["7-sae"]}, "no source '7-sae'"),
    ],
)
def test_bad_requests_are_refused_before_any_run_is_recorded(gpt2_with_transcoders, kwargs, message):
    with pytest.raises(graphs.GraphInputError, match=message):
        graphs.graph_run_create(model=gpt2_with_transcoders, **kwargs)
    assert not PipelineRun.objects.filter(kind=PipelineRun.Kind.ATTRIBUTION).exists()


def test_a_graph_past_the_edge_limit_fails_its_run_with_the_reason(gpt2_with_transcoders, monkeypatch):
    monkeypatch.setattr(graphs, "MAX_EDGE_ENTRIES", 100)
    run = graphs.graph_run_create(model=gpt2_with_transcoders, prompt=PROMPT, sync=True)
    assert graphs.graph_compute(run_id=run.pk) is None
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED and "lower the node budget" in run.error
    assert not Graph.objects.exists()


def test_trace_names_an_unknown_model(db):
    with pytest.raises(CommandError, match="No model 'nope'"):
        call_command("trace", "nope", PROMPT, "--sync")
