"""The feature page's dashboard is cached per version of the feature: every write of a feature's dashboard
(a run, an upload, appended activations, a dump import) shows on the next page view, and nothing user-specific
is cached with it."""

import gzip
import json
import re

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import services as api_services
from explanations.services import lists as list_services
from explanations.services import votes as vote_services
from features.models import Feature
from features.services import activation_runs

from .wiki_data import add_explanation, make_user


def strongest_feature() -> Feature:
    return Feature.objects.select_related("source__model").filter(source__slug="0-mlp").order_by("-max_activation")[0]


def top_example_count(content: str) -> int:
    return content.split('id="top-activations"', 1)[1].split("</section>", 1)[0].count('<li class="example" id=')


def page(client, feature: Feature) -> str:
    response = client.get(feature.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def without_csrf_tokens(content: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", content)


def make_staff(username: str):
    user = make_user(username)
    user.is_staff = True
    user.save()
    return user


def test_a_second_view_reads_no_examples_and_shows_the_same_page(computed_run, client):
    feature = strongest_feature()
    client.force_login(make_user("alice"))  # a signed-in reader: the whole page is not cached for them
    with CaptureQueriesContext(connection) as first:
        first_page = page(client, feature)
    with CaptureQueriesContext(connection) as second:
        second_page = page(client, feature)
    assert without_csrf_tokens(second_page) == without_csrf_tokens(first_page)
    assert len(second.captured_queries) == len(first.captured_queries) - 1
    assert not any("activationexample" in query["sql"] for query in second.captured_queries)


def test_a_new_run_shows_its_examples(computed_run, tiny_bert_dir, sample_corpus_file, client):
    feature = strongest_feature()
    assert top_example_count(page(client, feature)) == 5
    run = activation_runs.activation_run_create(
        model_path=str(tiny_bert_dir), model_slug="tiny-bert", layers=[0, 2], corpus=str(sample_corpus_file),
        n_windows=12, window_len=16, top_k=3, sync=True,
    )  # fmt: skip
    assert activation_runs.activation_run_start(run_id=run.pk).status == "succeeded"
    assert top_example_count(page(client, feature)) == 3


def test_uploaded_features_and_appended_activations_show(computed_run, client):
    feature = strongest_feature()
    staff = make_staff("uploader")
    assert "zebra" not in page(client, feature)

    upload = api_services.UploadedActivation(tokens=["a", "zebra", "b"], values=np.array([0, 1, 0], dtype="<f4"))
    api_services.features_upload(
        source=feature.source, features=[api_services.UploadedFeature(index=feature.index, activations=[upload])],
        user=staff,
    )  # fmt: skip
    content = page(client, feature)
    assert ">zebra</span>" in content and top_example_count(content) == 1

    # The appended example is weaker than the feature's max, so only the examples change.
    weaker = api_services.UploadedActivation(tokens=["c", "okapi"], values=np.array([0, 0.5], dtype="<f4"))
    feature.refresh_from_db()
    api_services.activations_append(feature=feature, activations=[weaker], user=staff)
    content = page(client, feature)
    assert ">okapi</span>" in content and top_example_count(content) == 2


@pytest.mark.django_db(transaction=True)
def test_an_imported_dump_shows_its_examples(computed_run, tmp_path, client):
    feature = strongest_feature()
    assert "quagga" not in page(client, feature)
    dump = tmp_path / "dump"
    call_command("export_neuronpedia", "tiny-bert", "0-mlp", str(dump))
    for path in (dump / "activations").glob("*.jsonl.gz"):
        rows = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        for row in rows:
            if row["index"] == str(feature.index):
                row["tokens"] = ["quagga" for _ in row["tokens"]]
        path.write_bytes(gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode(), mtime=0))
    call_command("import_neuronpedia", str(dump))
    assert ">quagga</span>" in page(client, feature)


def test_signed_in_bits_are_never_shared(computed_run):
    feature = strongest_feature()
    alice = make_user("alice")
    explanation = add_explanation(feature, "cats", author=make_user("bob"))
    vote_services.vote_cast(user=alice, explanation=explanation, value=1)
    list_services.bookmark_set(user=alice, feature=feature, bookmarked=True)
    as_alice = Client()
    as_alice.force_login(alice)
    anonymous = Client()

    alice_page = page(as_alice, feature)
    anonymous_page = page(anonymous, feature)
    assert 'aria-pressed="true"' in alice_page
    assert 'aria-pressed="true"' not in anonymous_page
    assert "Log in</a> to add an explanation" in anonymous_page

    def csrf_values(content: str) -> set[str]:
        return {part.split('"', 1)[0] for part in content.split('name="csrfmiddlewaretoken" value="')[1:]}

    assert csrf_values(alice_page) and csrf_values(anonymous_page)
    assert csrf_values(alice_page).isdisjoint(csrf_values(anonymous_page))
    # Both read the same cached dashboard.
    assert (
        alice_page.split('<section class="examples"')[1].split('<section class="inference-box"')[0]
        == (anonymous_page.split('<section class="examples"')[1].split('<section class="inference-box"')[0])
    )
