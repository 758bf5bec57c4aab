"""Several worker hosts on one machine (tests/hosts.py) against one PostgreSQL and one Redis broker: a sharded
activation run and explain-and-score runs spread over them equal a single-process run exactly, a host killed
mid-merge is recovered by the watchdog without a person, and a host that cannot see the shared data directory
fails its shard saying so."""

import pytest

from explanations.models import Explanation
from features.models import PipelineRun, Source
from features.services import activation_runs, runs
from scoring.models import ExplanationScore
from scoring.services.runs import explain_run_create
from tests import hosts as several_hosts
from tests.features.test_activation_runs import run_sync, snapshot
from tests.hosts import can_hide_a_directory, needs_postgresql, needs_redis_server, queueing_through, wait_for

# The harness's fixtures, used by name below.
shared_data, redis_server, hosts = several_hosts.shared_data, several_hosts.redis_server, several_hosts.hosts

pytestmark = [pytest.mark.slow, needs_postgresql, needs_redis_server, pytest.mark.django_db(transaction=True)]

RUN = {"layers": [0, 1], "n_windows": 12, "window_len": 12, "top_k": 4}
EXPLAINED = 3
EXPLAIN = {"explainer": "token-stats", "scorers": ["fuzzing", "simulation"], "judge": "literal"}


def explained(model_slug: str) -> dict:
    """Every generated explanation and score of a model's sources, in a comparable form."""
    texts = {
        (e.feature.source.slug, e.feature.index): (e.method, e.current_revision.text, e.best_score)
        for e in Explanation.objects.filter(feature__source__model__slug=model_slug).select_related(
            "feature__source", "current_revision"
        )
    }
    scores = sorted(
        (s.explanation.feature.source.slug, s.explanation.feature.index, s.scorer, s.judge, s.value, repr(s.details))
        for s in ExplanationScore.objects.filter(explanation__feature__source__model__slug=model_slug).select_related(
            "explanation__feature__source"
        )
    )
    return {"explanations": texts, "scores": scores}


def explain_features(model_slug: str, *, sync: bool) -> list[PipelineRun]:
    """Explain and score the first EXPLAINED firing features of each source, one run a feature (so that both
    hosts take some)."""
    queued = []
    for source in Source.objects.filter(model__slug=model_slug).order_by("slug"):
        for feature in source.features.filter(max_activation__gt=0).order_by("index")[:EXPLAINED]:
            run, created = explain_run_create(feature=feature, sync=sync, **EXPLAIN)
            assert created
            queued.append(runs.run_enqueue(run=run))
    return queued


def first_difference(left: list, right: list):
    return next(((a, b) for a, b in zip(left, right, strict=False) if a != b), (len(left), len(right)))


def test_two_hosts_equal_one_process_and_a_host_killed_mid_merge_is_recovered_by_the_watchdog(
    hosts, redis_server, shared_data, monkeypatch
):
    common = {**RUN, "model_path": str(shared_data / "tiny-gpt2"), "corpus": str(shared_data / "corpus.txt")}
    reference = run_sync(model_slug="reference", shard_windows=100, **common)
    assert reference.status == PipelineRun.Status.SUCCEEDED, reference.error

    # Each host's merge waits 2 s after claiming the run: the window in which one is killed.
    host_a, host_b = hosts("host-a", TEST_MERGE_DELAY_S="2"), hosts("host-b", TEST_MERGE_DELAY_S="2")
    host_a.start()
    host_b.start()
    with queueing_through(redis_server.url, "hosts", monkeypatch):
        run = activation_runs.activation_run_create(model_slug="hosts", shard_windows=2, **common)
        runs.run_enqueue(run=run)
        merging = lambda: PipelineRun.objects.get(pk=run.pk).claimed_by.startswith("host-")  # noqa: E731
        wait_for(lambda: merging() and PipelineRun.objects.get(pk=run.pk).status == "finalizing", what="the merge")
        merger = PipelineRun.objects.get(pk=run.pk).claimed_by
        dead, survivor = (host_a, host_b) if merger.startswith("host-a:") else (host_b, host_a)
        dead.kill()  # mid-merge: nothing of it was written, and it cannot say so

        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).is_finished, what="the recovered merge")
        run.refresh_from_db()
        assert run.status == PipelineRun.Status.SUCCEEDED, run.error
        assert any(f"Worker {merger} stopped beating during the merge" in e["event"] for e in run.history)
        assert snapshot("hosts") == snapshot("reference") | {"windows": snapshot("hosts")["windows"]}
        assert run.shards.filter(status="done").count() == 6

        dead.start()  # back again, as a fresh process: both hosts take the explain runs
        queued = explain_features("hosts", sync=False)
        wait_for(
            lambda: all(PipelineRun.objects.get(pk=r.pk).is_finished for r in queued), timeout=120, what="explain runs"
        )
    for explain_run in queued:
        explain_run.refresh_from_db()
        assert explain_run.status == PipelineRun.Status.SUCCEEDED, explain_run.error
    # The same runs in this one process, on the same features (scorers pick their examples by the stored rows).
    hosts_explained = explained("hosts")
    Explanation.objects.filter(feature__source__model__slug="hosts").delete()
    for explain_run in explain_features("hosts", sync=True):
        assert explain_run.status == PipelineRun.Status.SUCCEEDED, explain_run.error
    reference_explained = explained("hosts")
    assert hosts_explained["explanations"] == reference_explained["explanations"]
    assert hosts_explained["scores"] == reference_explained["scores"], first_difference(
        hosts_explained["scores"], reference_explained["scores"]
    )
    assert explained("hosts")["scores"], "the runs scored nothing: the comparison would prove nothing"
    shard_hosts = set(run.shards.values_list("claimed_by", flat=True))
    print(f"merge killed on {merger}, finished on {survivor.name}; shards done by {shard_hosts}")


@pytest.mark.skipif(
    not can_hide_a_directory(), reason="starting a host blind to the data directory needs mount namespaces (root)"
)
def test_a_host_that_cannot_see_the_data_directory_fails_its_shard_saying_so(
    hosts, redis_server, shared_data, monkeypatch
):
    blind = hosts("host-blind")
    blind.start(blind=True)
    with queueing_through(redis_server.url, "hosts", monkeypatch):
        run = activation_runs.activation_run_create(
            model_path=str(shared_data / "tiny-gpt2"), model_slug="blind", corpus=str(shared_data / "corpus.txt"), **RUN
        )
        runs.run_enqueue(run=run)
        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).is_finished, what="the blind host's run")
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.FAILED
    assert "is not a directory or file on this worker (host-blind)" in run.error
    assert "NEURONPEDIA_DATA_DIR" in run.error and not Source.objects.filter(model__slug="blind").exists()
