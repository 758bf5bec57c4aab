"""POST /api/v1/graphs/<model>/trace/: the page's request through the API (the same service, rules and messages):
202 with the queued run and where to follow it, the run's detail naming its graph once computed, 400 with the
reason and nothing recorded, 401 for an anonymous request, 403 for a banned user, 404 for an unknown model."""

import pytest
from django_q.models import OrmQ
from rest_framework.test import APIClient

from accounts.models import Ban
from accounts.services import api_key_create
from circuits import tasks
from circuits.models import Graph
from features.models import PipelineRun
from tests.circuits.tiny_circuits import PROMPT

pytestmark = pytest.mark.django_db

URL = "/api/v1/graphs/tiny-gpt2/trace/"


@pytest.fixture
def as_alice(alice) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(user=alice, name="tests")[1])
    return client


def nothing_recorded() -> bool:
    return not PipelineRun.objects.exists() and not OrmQ.objects.exists() and not Graph.objects.exists()


def test_a_trace_is_accepted_and_its_run_names_the_graph_once_computed(as_alice, traceable_gpt2):
    response = as_alice.post(URL, {"prompt": PROMPT, "sources": ["0-tc", "1-tc", "1-res"], "max_nodes": 40})
    assert response.status_code == 202, response.content
    body = response.json()
    run = PipelineRun.objects.get()
    assert body["id"] == run.pk and body["kind"] == "attribution" and body["status"] == "queued"
    assert body["url"] == f"/api/v1/runs/{run.pk}/" and body["page"] == f"/runs/{run.pk}/"
    assert body["graph"] is None and body["created_by"] == "alice"
    assert body["params"]["sources"] == ["0-tc", "1-tc", "1-res"]
    assert OrmQ.objects.get().func() == "circuits.tasks.compute_graph"

    tasks.compute_graph(run.pk)  # what the worker runs
    graph = Graph.objects.get(run=run)
    followed = as_alice.get(body["url"]).json()
    assert followed["status"] == "succeeded"
    assert followed["graph"] == {
        "slug": graph.slug,
        "title": PROMPT,
        "target": graph.target,
        "page": graph.get_absolute_url(),
        "url": f"/api/v1/graphs/tiny-gpt2/{graph.slug}/",
        "export": f"/api/v1/graphs/tiny-gpt2/{graph.slug}/export/",
    }
    assert as_alice.get(followed["graph"]["url"]).json()["prompt"] == PROMPT
    assert as_alice.get(followed["graph"]["export"]).json()["metadata"]["run"] == run.pk


def test_other_runs_name_no_graph(as_alice, traceable_gpt2):
    run = PipelineRun.objects.create(kind=PipelineRun.Kind.ACTIVATIONS, model=traceable_gpt2, params={})
    assert as_alice.get(f"/api/v1/runs/{run.pk}/").json()["graph"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": ""}, "Enter a prompt: it is empty."),
        ({"prompt": "word " * 80}, "graphs take at most 64"),
        ({"prompt": "x" * 100_000}, "the limit is 1,000"),
        ({"prompt": "\u200b"}, "The prompt gives no tokens"),
        ({"prompt": PROMPT, "target": "nope:1@2"}, "tiny-gpt2 has no dictionary source 'nope'"),
        ({"prompt": PROMPT, "sources": ["0-mlpout"]}, "only on the residual stream"),
        ({"prompt": PROMPT, "sources": ["9-mlp"]}, "tiny-gpt2 has no layer 9"),
        ({"prompt": PROMPT, "max_nodes": -3}, "The node budget must be between 1 and 5000, not -3."),
        ({"prompt": PROMPT, "max_nodes": 10**15}, "The node budget must be between 1 and 5000"),
        ({"prompt": PROMPT, "edge_threshold": 0}, "The edge threshold is a share of influence"),
        ({"prompt": PROMPT, "slug": "trace"}, "'trace' is the name of a page"),
    ],
)
def test_a_bad_request_is_a_400_with_the_reason_and_records_nothing(as_alice, traceable_gpt2, body, message):
    response = as_alice.post(URL, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert any(message in text for texts in error["details"].values() for text in texts), error
    assert nothing_recorded()


def test_a_misspelt_field_is_refused_by_name(as_alice, traceable_gpt2):
    response = as_alice.post(URL, {"prompt": PROMPT, "source": ["1-res"]})
    assert response.status_code == 400 and "source" in response.json()["error"]["details"]
    assert nothing_recorded()


def test_an_anonymous_request_is_a_401_and_a_banned_users_a_403(as_alice, alice, traceable_gpt2):
    assert APIClient().post(URL, {"prompt": PROMPT}).status_code == 401
    Ban.objects.create(user=alice)
    assert as_alice.post(URL, {"prompt": PROMPT}).status_code == 403
    assert nothing_recorded()


def test_an_unknown_model_is_a_404(as_alice, db):
    assert as_alice.post("/api/v1/graphs/nope/trace/", {"prompt": PROMPT}).status_code == 404


def test_it_counts_against_the_run_rate_limit(as_alice, traceable_gpt2, settings):
    settings.WIKI_RATE_LIMITS = {**settings.WIKI_RATE_LIMITS, "run": "1/h"}
    assert as_alice.post(URL, {"prompt": PROMPT, "max_nodes": 0}).status_code == 400  # costs no run
    assert as_alice.post(URL, {"prompt": PROMPT}).status_code == 202
    assert as_alice.post(URL, {"prompt": PROMPT}).status_code == 429
    assert PipelineRun.objects.count() == 1


def test_the_endpoint_is_in_the_schema(db):
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/graphs/{model_slug}/trace/"]["post"]
    assert set(operation["responses"]) >= {"202", "400", "401", "403", "404", "429"}
    assert "graph" in schema["components"]["schemas"]["RunDetailOut"]["properties"]
