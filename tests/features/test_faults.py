"""Faults survived, nothing lost, nothing doubled (on PostgreSQL): a worker host killed mid-shard, Redis restarted
mid-run, the database connection dropped mid-transaction, the disk full while a run's results are written, and
a run resumed twice at once from two pages. Each ends with the complete run, equal to an uninterrupted one, or
with a failed run that gives its reason and resumes to that complete run; never with duplicated or half-written
rows."""

import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from features.models import ActivationExample, Feature, PipelineRun, Source
from features.services import activation_runs, runs
from tests import hosts as several_hosts
from tests.conftest import SAMPLE_TEXT
from tests.features.test_activation_runs import run_sync, snapshot
from tests.hosts import ON_POSTGRESQL, database_url, needs_postgresql, needs_redis_server, queueing_through, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ON_POSTGRESQL,
        reason="PostgreSQL's faults (pg_terminate_backend, a tablespace on a full disk; several hosts sharing it); "
        "CI runs these on it",
    ),
    pytest.mark.django_db(transaction=True),
]

# The harness's fixtures, used by name below.
shared_data, redis_server, hosts = several_hosts.shared_data, several_hosts.redis_server, several_hosts.hosts

RUN = {"layers": [0, 1], "n_windows": 12, "window_len": 12, "top_k": 4}


def same_results(model_slug: str, reference: str = "reference") -> bool:
    """Everything stored for the model equals the reference's (features, examples), with no row twice."""
    mine, theirs = snapshot(model_slug), snapshot(reference)
    features = Feature.objects.filter(source__model__slug=model_slug)
    return (
        mine["features"] == theirs["features"]
        and mine["examples"] == theirs["examples"]
        and features.count() == Feature.objects.filter(source__model__slug=reference).count()
    )


def nothing_stored(model_slug: str) -> bool:
    return not (
        Source.objects.filter(model__slug=model_slug).exists()
        or Feature.objects.filter(source__model__slug=model_slug).exists()
        or ActivationExample.objects.filter(feature__source__model__slug=model_slug).exists()
    )


@needs_postgresql
@needs_redis_server
def test_a_host_killed_mid_shard_and_redis_restarted_mid_run_each_end_in_the_complete_run(
    hosts, redis_server, shared_data, monkeypatch
):
    common = {**RUN, "model_path": str(shared_data / "tiny-gpt2"), "corpus": str(shared_data / "corpus.txt")}
    assert run_sync(model_slug="reference", shard_windows=100, **common).status == "succeeded"
    # Each shard waits 1 s after claiming it: the window in which its host is killed.
    host_a, host_b = hosts("host-a", TEST_SHARD_DELAY_S="1"), hosts("host-b", TEST_SHARD_DELAY_S="1")
    host_a.start()
    host_b.start()
    with queueing_through(redis_server.url, "hosts", monkeypatch):
        run = activation_runs.activation_run_create(model_slug="killed-shard", shard_windows=4, **common)
        runs.run_enqueue(run=run)
        running = lambda: run.shards.filter(status="running").exclude(claimed_by="").first()  # noqa: E731
        wait_for(lambda: running() is not None, what="a running shard")
        shard = running()
        victim = host_a if shard.claimed_by.startswith("host-a:") else host_b
        victim.kill()
        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).is_finished, what="the run after the kill")
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        assert any(f"stopped beating during shard {shard.index}" in entry["event"] for entry in run.history)
        assert same_results("killed-shard")

        victim.start()
        run = activation_runs.activation_run_create(model_slug="redis-restart", shard_windows=2, **common)
        runs.run_enqueue(run=run)
        wait_for(lambda: run.shards.filter(status="running").exists(), what="a running shard")
        redis_server.stop()  # the queued shards are lost with it (no persistence)
        time.sleep(1)
        redis_server.start()
        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).is_finished, timeout=120, what="the run after Redis")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert same_results("redis-restart")
    print("after the Redis restart:", [entry["event"] for entry in run.history])


def terminate_backend_before_second_source(monkeypatch) -> None:
    """Drop this process's database connection (pg_terminate_backend, from another connection) in the middle of
    the transaction that writes a run's results: after the first source's rows, before the second's."""
    real_save = activation_runs.source_dashboards_save
    calls = []

    def save_then_drop(**kwargs):
        calls.append(kwargs["spec"].slug)
        if len(calls) == 2:
            pid = connection.connection.info.backend_pid
            with psycopg.connect(database_url(), autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return real_save(**kwargs)

    monkeypatch.setattr(activation_runs, "source_dashboards_save", save_then_drop)


def test_a_database_connection_dropped_mid_transaction_fails_the_run_whole_and_resume_completes_it(
    tiny_gpt2_dir, sample_corpus_file, monkeypatch
):
    common = {**RUN, "model_path": str(tiny_gpt2_dir), "corpus": str(sample_corpus_file)}
    assert run_sync(model_slug="reference", **common).status == "succeeded"

    with monkeypatch.context() as patch:
        terminate_backend_before_second_source(patch)
        run = run_sync(model_slug="dropped", **common)
    run.refresh_from_db()
    assert run.status == "failed" and "terminating connection" in run.error
    assert nothing_stored("dropped")  # the first source's rows went with the transaction

    resumed = runs.run_resume(run_id=run.pk)
    assert resumed.run.status == "succeeded", resumed.run.error
    assert same_results("dropped")


def test_a_run_resumed_twice_at_once_from_two_pages_is_written_once(tiny_gpt2_dir, sample_corpus_file, monkeypatch):
    common = {**RUN, "model_path": str(tiny_gpt2_dir), "corpus": str(sample_corpus_file), "shard_windows": 4}
    assert run_sync(model_slug="reference", **common).status == "succeeded"
    owner = get_user_model().objects.create_user("owner", password="pw")
    run = activation_runs.activation_run_create(model_slug="twice", sync=True, created_by=owner, **common)
    with monkeypatch.context() as patch:
        terminate_backend_before_second_source(patch)
        run = activation_runs.activation_run_start(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and nothing_stored("twice")

    answers = []
    start = threading.Barrier(2)

    def resume_from_a_page() -> None:
        page = Client()
        page.force_login(owner)
        start.wait()
        answers.append(page.post(f"/runs/{run.pk}/resume/").status_code)
        connection.close()

    pages = [threading.Thread(target=resume_from_a_page) for _ in range(2)]
    for page in pages:
        page.start()
    for page in pages:
        page.join()
    assert answers == [302, 302]
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert same_results("twice")


@pytest.fixture
def tiny_tablespace(tmp_path):
    """A PostgreSQL tablespace on a 1 MB tmpfs (skipped where this machine cannot mount one, or PostgreSQL does
    not run on it)."""
    mount_point = Path("/tmp") / f"neuronpedia-tiny-{tmp_path.name}"
    mount_point.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small filesystem cannot be mounted here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["chown", "postgres", str(mount_point)], check=True, capture_output=True)
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLESPACE tiny LOCATION '{mount_point}'")
    except Exception as error:  # noqa: BLE001 - any reason this machine cannot do it is a reason to skip
        subprocess.run(["umount", str(mount_point)], capture_output=True)
        pytest.skip(f"PostgreSQL cannot use a small filesystem here: {error}")
    yield "tiny"
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE features_activationexample SET TABLESPACE pg_default")
        cursor.execute("DROP TABLESPACE tiny")
    subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_a_full_disk_while_writing_results_fails_the_run_whole_and_resume_completes_it(
    tiny_gpt2_dir, tmp_path, tiny_tablespace
):
    corpus = tmp_path / "long.txt"
    corpus.write_text(SAMPLE_TEXT * 20, encoding="utf-8")
    # About 3 MB of examples: more than the small disk holds.
    common = {**RUN, "n_windows": 48, "top_k": 10, "model_path": str(tiny_gpt2_dir), "corpus": str(corpus)}
    with connection.cursor() as cursor:  # the examples, a run's largest rows, now go to a 1 MB disk
        cursor.execute(f"ALTER TABLE features_activationexample SET TABLESPACE {tiny_tablespace}")

    run = run_sync(model_slug="full", **common)
    run.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('features_activationexample')")
        size = cursor.fetchone()[0]
    assert run.status == "failed", f"the run's examples fit on the small disk ({size} bytes): make the run larger"
    assert "No space left on device" in run.error, run.error
    assert nothing_stored("full")

    with connection.cursor() as cursor:  # space is made
        cursor.execute("ALTER TABLE features_activationexample SET TABLESPACE pg_default")
    resumed = runs.run_resume(run_id=run.pk)
    assert resumed.run.status == "succeeded", resumed.run.error
    assert run_sync(model_slug="reference", **common).status == "succeeded"
    assert same_results("full")
