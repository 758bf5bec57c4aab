"""The official `neuronpedia` Python client (pinned in requirements-dev.txt), unmodified, pointed at a live
server of ours with one of our API keys: every call it makes for features, activations, search, lists and
uploads works, and our 401, 404 and 429 become the exceptions it raises for them.

The client runs in its own process (tests/api/neuronpedia_client_driver.py), because this project's settings
package is also named `neuronpedia`."""

import copy
import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from accounts.services import api_key_create
from explanations.services import explanations as explanation_services
from features.models import ActivationExample
from features.models import Feature as FeatureRow

from .conftest import make_user

DRIVER = Path(__file__).with_name("neuronpedia_client_driver.py")
pytestmark = pytest.mark.skipif(
    not any((Path(p) / "neuronpedia" / "np_feature.py").exists() for p in sys.path if p),
    reason="the neuronpedia client is not installed (requirements-dev.txt)",
)


@pytest.fixture
def client_key(live_server) -> str:
    return api_key_create(user=make_user("client-user"), name="client")[1]


def run_client(live_server, key: str, *arguments: str) -> dict:
    environment = {**os.environ, "NP_BASE_URL": f"{live_server.url}/api", "NEURONPEDIA_API_KEY": key}
    environment.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [sys.executable, "-P", str(DRIVER), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=DRIVER.parent,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_in_this_process_neuronpedia_is_our_settings_package():
    assert find_spec("neuronpedia").origin.endswith("neuronpedia/__init__.py")  # ours, in this process


def test_the_client_reads_a_feature(live_server, client_key, computed_run):
    row = FeatureRow.objects.get(source__slug="0-mlp", index=5)
    explanation_services.explanation_create(feature=row, text="articles", method="token-stats", embed=False)
    got = run_client(live_server, client_key, "feature", "tiny-bert", "0-mlp", "5")
    assert (got["modelId"], got["source"], got["index"], got["density"]) == ("tiny-bert", "0-mlp", 5, row.density)
    assert got["explanations"] == ["articles"]
    assert len(got["activations"]) == ActivationExample.objects.filter(feature=row).count()
    assert all(len(a["tokens"]) == len(a["values"]) for a in got["activations"])


def test_the_client_computes_activations_for_texts(live_server, client_key, computed_run):
    got = run_client(live_server, client_key, "activations")
    assert len(got["one"]["tokens"]) == len(got["one"]["values"]) > 3
    assert got["both"][0] == got["one"] and len(got["both"]) == 2


def test_the_client_searches_top_features(live_server, client_key, computed_run):
    got = run_client(live_server, client_key, "search")
    assert 0 < len(got["found"]) <= 4
    assert all(a["source"] == "0-mlp" and len(a["values"]) == len(a["tokens"]) for a in got["found"])
    assert len(got["batches"]) == 2 and all(0 < n <= 3 for n in got["batches"])
    assert got["by_token"] and all(len(indices) <= 2 for indices in got["by_token"])


def test_the_client_keeps_lists(live_server, client_key, computed_run):
    got = run_client(live_server, client_key, "lists")
    assert got["added"] == [["0-mlp", "5"], ["2-mlp", "7"]]
    assert got["fetched"] == {"name": "cats", "items": ["5", "7"]}
    assert got["owned"] == [got["id"]]


def test_the_client_uploads_a_model_source_set_features_and_activations(live_server, client_key):
    got = run_client(live_server, client_key, "upload")
    assert got["model"] == ["pup-xl", 3] and got["source"] == "1-puppyscope-res-2k"
    assert got["uploaded"]["features"] == 2 and got["uploaded"]["activations"] == 3
    assert got["appended"]["count"] == 1
    assert got["dog"]["explanations"] == ["magic dog"] and got["dog"]["density"] == 0.03
    assert sorted(a["quantileFraction"] for a in got["dog"]["activations"]) == [0.05, 0.1]
    assert got["cat"]["explanations"] == ["cats"] and len(got["cat"]["activations"]) == 2


def test_our_401_404_and_429_are_the_clients_errors(live_server, client_key, computed_run):
    missing = run_client(live_server, client_key, "error", "tiny-bert", "0-mlp", "999")
    assert missing["raised"] == "HTTPError" and "not found" in missing["message"]
    assert run_client(live_server, "not-a-key-of-ours", "error", "tiny-bert", "0-mlp", "5")["raised"] == (
        "NPUnauthorizedError"
    )
    rates = copy.deepcopy(settings.REST_FRAMEWORK)
    rates["DEFAULT_THROTTLE_RATES"]["user"] = "1/m"
    cache.clear()  # the live server runs in this process: it counts in this cache
    with override_settings(REST_FRAMEWORK=rates):
        assert run_client(live_server, client_key, "error", "tiny-bert", "0-mlp", "5")["raised"] is None
        assert run_client(live_server, client_key, "error", "tiny-bert", "0-mlp", "5")["raised"] == "NPRateLimitError"
