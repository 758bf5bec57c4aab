"""The feature page's Connections panel: fetched with htmx, upstream and downstream features strongest first with
their weights and explanations, co-active features with their measures, and empty states that say what to do."""

import pytest

from features.models import PipelineRun
from tests.circuits.connections_data import connected_toy
from tests.features.wiki_data import add_explanation, make_user

pytestmark = pytest.mark.django_db


def panel(client, address: str) -> str:
    response = client.get(f"/{address}/connections/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_the_feature_page_fetches_its_panel_and_works_without_javascript(client):
    connected_toy()
    page = client.get("/toy/0-mlp/2/").content.decode()
    assert 'hx-get="/toy/0-mlp/2/connections/"' in page
    whole = client.get("/toy/0-mlp/2/connections/").content.decode()
    assert "<h1>Connections of" in whole and 'href="/toy/1-res/1/"' in whole


def test_downstream_features_come_strongest_first_with_sign_weight_and_explanation(client):
    toy = connected_toy()
    add_explanation(toy["features"][("1-res", 1)], "the word cat", author=make_user("ann"))
    html = panel(client, "toy/0-mlp/2")
    writes = html.split("Writes to")[1].split("Fires with")[0]
    assert writes.index("1-res/1") < writes.index("1-res/0") < writes.index("1-res/2")  # |-0.9| > 0.5 > 0.1
    assert "-0.900" in writes and "+0.500" in writes and "the word cat" in writes
    assert "No earlier feature writes to what this one reads" in html  # nothing upstream of a layer-0 neuron
    assert "Not counted for MLP neurons" in html


def test_an_sae_feature_shows_what_it_reads_from_and_fires_with(client):
    connected_toy()
    html = panel(client, "toy/1-res/0")
    reads = html.split("Reads from")[1].split("Writes to")[0]
    assert 'href="/toy/0-mlp/2/"' in reads and "+0.500" in reads
    fires = html.split("Fires with")[1]
    assert fires.index("1-res/3") < fires.index("1-res/1")  # Jaccard 0.4 before 0.2
    assert "J 0.40" in fires and "together on 8 of 100 tokens" in fires


def test_before_any_run_the_panel_says_how_to_compute_them_and_shows_a_run_in_progress(client):
    toy = connected_toy()
    toy["run"].delete()
    html = panel(client, "toy/0-mlp/2")
    assert "Not computed for toy yet" in html and "python manage.py compute_connections toy" in html
    running = PipelineRun.objects.create(
        kind=PipelineRun.Kind.CONNECTIONS, model=toy["model"], status=PipelineRun.Status.RUNNING, progress=0.25
    )
    html = panel(client, "toy/0-mlp/2")
    assert f'href="/runs/{running.pk}/"' in html and "25% done" in html
    PipelineRun.objects.filter(pk=running.pk).update(
        status=PipelineRun.Status.FAILED, error="Connections are not computed for GPT-J yet"
    )
    html = panel(client, "toy/0-mlp/2")
    assert "the last attempt" in html and "Connections are not computed for GPT-J yet" in html


def test_a_missing_feature_is_a_404(client):
    connected_toy()
    assert client.get("/toy/0-mlp/99/connections/").status_code == 404


def test_a_connections_runs_page_shows_its_progress_in_pairs_of_sources(client):
    toy = connected_toy()
    run = PipelineRun.objects.create(
        kind=PipelineRun.Kind.CONNECTIONS,
        model=toy["model"],
        status=PipelineRun.Status.RUNNING,
        progress=0.5,
        items_done=3,
        items_total=6,
        message="Virtual weights 0-mlp -> 1-res",
        params={"tokens": 4096},
    )
    html = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Pairs of sources done" in html and "3 / 6" in html and "4,096" in html
    assert 'value="0.500"' in html and "Virtual weights 0-mlp -&gt; 1-res" in html
