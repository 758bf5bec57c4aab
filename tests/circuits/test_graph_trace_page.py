"""The page that traces a graph, /graphs/<model>/new/: it queues an ATTRIBUTION run under the activation run
page's rules (signed in, not banned, the "run" rate limit), the run once computed links to its graph, and every
bad request is shown again with the service's message and records nothing."""

import html

import pytest
from django.core.exceptions import ValidationError
from django_q.models import OrmQ

from accounts.models import Ban
from circuits import tasks
from circuits.models import Graph
from circuits.services import graphs
from circuits.services.imports import graph_import
from features.models import PipelineRun
from tests.circuits.conftest import graph_bytes
from tests.circuits.tiny_circuits import PROMPT

pytestmark = pytest.mark.django_db

URL = "/graphs/tiny-gpt2/new/"
GOOD = {"prompt": PROMPT, "target": "", "max_nodes": 40}


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def nothing_recorded() -> bool:
    return not PipelineRun.objects.exists() and not OrmQ.objects.exists() and not Graph.objects.exists()


def test_the_form_offers_the_sources_that_can_stand_in_a_graph_and_states_the_limits(alice_client, traceable_gpt2):
    response = alice_client.get(URL)
    assert response.status_code == 200
    text = page_text(response)
    offered = set(response.context["form"].fields["sources"].choices)
    assert {slug for slug, _ in offered} == {"0-mlp", "1-mlp", "0-tc", "1-tc", "1-res"}  # not the MLP-output SAE
    assert "1-res: residual SAE at blocks.1.hook_resid_pre, spliced mid-graph" in text
    assert "at most 64 tokens" in text and "1 to 5,000 feature nodes (default 500)" in text
    assert "Left empty: the top next token after the prompt." in text
    assert response.context["form"].fields["max_nodes"].initial == graphs.DEFAULT_FEATURE_NODES


def test_the_form_queues_a_run_whose_page_links_to_the_graph_it_computed(alice_client, alice, traceable_gpt2):
    form = {**GOOD, "sources": ["0-tc", "1-tc", "1-res"], "title": "Cat on a mat"}
    response = alice_client.post(URL, form)
    run = PipelineRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    assert (run.kind, run.status, run.model, run.created_by) == ("attribution", "queued", traceable_gpt2, alice)
    assert run.params["sources"] == ["0-tc", "1-tc", "1-res"] and run.params["max_nodes"] == 40
    queued = OrmQ.objects.get()
    assert (queued.func(), queued.args()) == ("circuits.tasks.compute_graph", (run.pk,))
    waiting = page_text(alice_client.get(run.get_absolute_url()))
    assert "Queued" in waiting and "What it computed" not in waiting and PROMPT in waiting

    tasks.compute_graph(run.pk)  # what the worker runs
    graph = Graph.objects.get(run=run)
    assert graph.title == "Cat on a mat" and graph.author == alice
    assert any(n.get("node_kind") == "sae feature" for n in graph.data["nodes"])  # the chosen SAE was spliced in
    done = page_text(alice_client.get(run.get_absolute_url()))
    assert f'href="{graph.get_absolute_url()}"' in done and "What it computed" in done
    assert graph.target in done  # "the top next token ..."
    run.refresh_from_db()
    assert run.started_at is not None and run.started_at <= run.finished_at
    assert alice_client.get(graph.get_absolute_url()).status_code == 200


def test_the_pruning_thresholds_are_the_defaults_unless_given(alice_client, traceable_gpt2):
    alice_client.post(URL, GOOD)
    alice_client.post(URL, {**GOOD, "node_threshold": "0.5", "edge_threshold": "0.9"})
    first, second = PipelineRun.objects.order_by("pk")
    assert (first.params["node_threshold"], first.params["edge_threshold"]) == (0.8, 0.98)
    assert (second.params["node_threshold"], second.params["edge_threshold"]) == (0.5, 0.9)


def test_a_unicode_prompt_within_the_limits_is_traced(alice_client, traceable_gpt2):
    response = alice_client.post(URL, {**GOOD, "prompt": "café ☕ naïve — the cat"})
    assert response.status_code == 302
    run = PipelineRun.objects.get()
    assert tasks.compute_graph(run.pk).startswith(f"run {run.pk}: graph ")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompt": ""}, "Enter a prompt: it is empty."),
        ({"prompt": "   "}, "Enter a prompt: it is empty."),
        ({"prompt": "word " * 80}, "graphs take at most 64"),
        ({"prompt": "x" * 100_000}, "The prompt is 100,000 characters long; the limit is 1,000."),
        ({"prompt": "é " * 70}, "The prompt is 72 tokens long"),  # 140 characters, within the 1,000
        ({"prompt": "\u200b\u200b"}, "The prompt gives no tokens"),  # zero-width spaces: nothing to read
        ({"prompt": "猫猫 🐈"}, "The prompt gives no tokens"),  # all unknown to this vocabulary
        ({"target": "nope:1@2"}, "tiny-gpt2 has no dictionary source 'nope'"),
        ({"target": "the cat"}, "The target 'the cat' is 2 tokens; give one token."),
        ({"target": "1-res:abc@2"}, "A feature target is SOURCE:INDEX@POSITION"),
        ({"sources": ["0-mlpout"]}, "0-mlpout cannot stand in a graph of tiny-gpt2"),
        ({"sources": ["7-sae"]}, "7-sae cannot stand in a graph of tiny-gpt2"),
        ({"sources": ["0-tc", "0-mlp"]}, "Two sources for layer 0: choose one per layer."),
        ({"max_nodes": 0}, "The node budget must be between 1 and 5000, not 0."),
        ({"max_nodes": 10**12}, "The node budget must be between 1 and 5000"),
        ({"max_nodes": "lots"}, "Enter a whole number."),
        ({"node_threshold": 0}, "The node threshold is a share of influence, between 0 and 1 (not 0.0)."),
        ({"edge_threshold": 1.5}, "The edge threshold is a share of influence, between 0 and 1 (not 1.5)."),
        ({"edge_threshold": "nan"}, "Enter a number."),
        ({"slug": "new"}, "'new' is the name of a page; choose another slug."),
        ({"slug": "Not A Slug"}, "Use lowercase letters"),
    ],
)
def test_a_bad_request_is_shown_again_with_the_reason_and_records_nothing(
    alice_client, traceable_gpt2, changes, message
):
    response = alice_client.post(URL, {**GOOD, **changes})
    assert response.status_code == 400
    assert message in page_text(response)
    assert nothing_recorded()


def test_anonymous_visitors_are_sent_to_log_in_as_on_the_run_page(client, traceable_gpt2):
    for response in (client.get(URL), client.post(URL, GOOD)):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert nothing_recorded()


def test_a_banned_user_is_refused(alice_client, alice, traceable_gpt2):
    Ban.objects.create(user=alice)
    response = alice_client.post(URL, GOOD)
    assert response.status_code == 403 and "banned" in page_text(response)
    assert nothing_recorded()


def test_the_run_rate_limit_counts_only_requests_that_start_a_run(alice_client, traceable_gpt2, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "run": "1/h"}
    assert alice_client.post(URL, {**GOOD, "prompt": ""}).status_code == 400  # a typo costs no run
    assert alice_client.post(URL, GOOD).status_code == 302
    refused = alice_client.post(URL, GOOD)
    assert refused.status_code == 429 and "you can make 1 run an hour. Try again in" in page_text(refused)
    assert PipelineRun.objects.count() == 1 and OrmQ.objects.count() == 1  # the refused run was rolled back


def test_an_unknown_model_is_a_404(alice_client, db):
    assert alice_client.get("/graphs/nope/new/").status_code == 404


def test_the_graph_lists_and_the_model_page_link_to_the_form_for_those_who_may(alice_client, traceable_gpt2, client):
    for address in ("/graphs/", "/graphs/tiny-gpt2/", traceable_gpt2.get_absolute_url()):
        assert f'href="{URL}"' in alice_client.get(address).content.decode(), address
        assert f'href="{URL}"' not in client.get(address).content.decode(), address


def test_new_and_trace_cannot_be_graph_slugs(traceable_gpt2, alice):
    for slug in ("new", "trace", "import"):
        with pytest.raises(graphs.GraphInputError, match="is the name of a page"):
            graphs.graph_run_create(model=traceable_gpt2, prompt=PROMPT, slug=slug)
        with pytest.raises(ValidationError, match="is the name of a page"):
            graph_import(model=traceable_gpt2, raw=graph_bytes(), author=alice, slug=slug)
    assert nothing_recorded()
