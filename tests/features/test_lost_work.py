"""The watchdog (features/services/workers.py): lost steps queued again, once, on the real ORM broker; claims that
keep a late worker from writing; the run page and /admin/ saying what happened."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from features.models import PipelineRun, PipelineShard, WorkerHeartbeat
from features.services import workers
from features.services.activation_runs import FINALIZE_TASK
from features.services.workers import SHARD_TASK

pytestmark = pytest.mark.django_db


def queued_tasks() -> list[tuple[str, tuple]]:
    """What the ORM broker holds: (function, args) of each queued task."""
    tasks = [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("pk")]
    return [(task["func"], tuple(task["args"])) for task in tasks]


def beat(name: str, seconds_ago: float) -> None:
    host, _, pid = name.rpartition(":")
    at = timezone.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.update_or_create(
        name=name, defaults={"host": host, "pid": int(pid), "beat_at": at, "started_at": at}
    )


def sharded_run(*, shard_states: list[tuple[str, str]], status: str = PipelineRun.Status.RUNNING) -> PipelineRun:
    """A queued-on-workers activation run with shards in the given (status, claimed_by) states."""
    run = PipelineRun.objects.create(
        kind=PipelineRun.Kind.ACTIVATIONS,
        params={"sync": False},
        status=status,
        shards_total=len(shard_states),
        heartbeat_at=timezone.now(),
    )
    for index, (shard_status, claimed_by) in enumerate(shard_states):
        PipelineShard.objects.create(
            run=run,
            index=index,
            first_window=index * 2,
            n_windows=2,
            status=shard_status,
            claimed_by=claimed_by,
            attempts=1 if claimed_by else 0,
        )
    return run


def test_a_shard_whose_worker_stopped_beating_is_queued_again_once():
    beat("host-a:11", seconds_ago=120)
    beat("host-b:22", seconds_ago=1)
    run = sharded_run(shard_states=[("done", "host-b:22"), ("running", "host-a:11"), ("running", "host-b:22")])
    lost = run.shards.get(index=1)

    did = workers.runs_recover()

    assert len(did) == 1 and "host-a:11 stopped beating during shard 1" in did[0]
    assert queued_tasks() == [(SHARD_TASK, (lost.pk,))]
    lost.refresh_from_db()
    assert (lost.status, lost.claimed_by) == ("queued", "")
    assert run.shards.get(index=2).status == "running"  # a live worker's shard is left to it
    run.refresh_from_db()
    assert "stopped beating during shard 1" in run.history[-1]["event"]
    assert workers.runs_recover() == [] and len(queued_tasks()) == 1  # a second watchdog finds nothing to do


def test_a_late_worker_cannot_store_a_shard_the_watchdog_gave_to_another():
    beat("host-a:11", seconds_ago=120)
    run = sharded_run(shard_states=[("running", "host-a:11")])
    shard = run.shards.get()
    old_attempt = shard.attempts

    workers.runs_recover()
    new_attempt = workers.shard_claim(shard_id=shard.pk)

    assert new_attempt == old_attempt + 1
    with transaction.atomic():
        assert not workers.shard_claim_holds(shard_id=shard.pk, attempt=old_attempt)
        assert workers.shard_claim_holds(shard_id=shard.pk, attempt=new_attempt)


def test_a_merge_whose_worker_died_is_queued_again_and_the_old_claim_writes_nothing():
    beat("host-a:11", seconds_ago=120)
    run = sharded_run(shard_states=[("done", "host-a:11"), ("done", "host-a:11")], status="finalizing")
    PipelineRun.objects.filter(pk=run.pk).update(claim=3, claimed_by="host-a:11")

    did = workers.runs_recover()

    assert len(did) == 1 and "during the merge" in did[0]
    assert queued_tasks() == [(FINALIZE_TASK, (run.pk,))]
    run.refresh_from_db()
    assert run.claimed_by == "" and run.claim == 4
    assert "host-a:11 stopped beating during the merge" in run.message
    with transaction.atomic():
        assert not workers.run_claim_holds(run_id=run.pk, claim=3)


def test_a_step_held_by_a_live_worker_is_not_claimed_by_a_copy():
    beat("host-b:22", seconds_ago=1)
    run = sharded_run(shard_states=[("running", "host-b:22")], status="finalizing")
    PipelineRun.objects.filter(pk=run.pk).update(claim=1, claimed_by="host-b:22")

    assert workers.run_claim(run_id=run.pk) is None
    assert workers.shard_claim(shard_id=run.shards.get().pk) is None
    assert workers.runs_recover() == []


@override_settings(RUN_LOST_AFTER_S=30)
def test_a_run_whose_shards_are_all_done_but_whose_merge_never_started_is_merged():
    run = sharded_run(shard_states=[("done", "host-a:11"), ("done", "host-b:22")], status="finalizing")
    PipelineRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=10))
    assert workers.runs_recover() == []  # not long enough yet: its merge may be about to start

    PipelineRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=50))
    did = workers.runs_recover()

    assert len(did) == 1 and "no merge had started" in did[0]
    assert queued_tasks() == [(FINALIZE_TASK, (run.pk,))]
    assert workers.runs_recover() == []  # its heartbeat moved on: not queued twice


@override_settings(RUN_LOST_AFTER_S=30)
def test_a_run_waiting_in_a_busy_queue_is_left_waiting_and_a_lost_one_is_queued():
    run = sharded_run(shard_states=[("queued", ""), ("done", "host-a:11")])
    PipelineRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=50))
    broker = get_broker()
    broker.enqueue(SignedPackage.dumps({"id": "x", "name": "other", "func": "math.floor", "args": (1,), "kwargs": {}}))
    assert workers.runs_recover() == []  # its shard may be the one waiting in the queue

    OrmQ.objects.all().delete()  # the queue lost its tasks (a broker restarted empty)
    did = workers.runs_recover()

    assert len(did) == 1 and "lost task" in did[0]
    assert queued_tasks() == [(SHARD_TASK, (run.shards.get(index=0).pk,))]


@override_settings(RUN_LOST_AFTER_S=30)
def test_a_long_step_without_a_claim_is_left_alone_while_its_worker_beats():
    """A dictionary's training takes no claim and may write no progress for minutes; its worker's heartbeat
    names its task, so an empty queue does not make the watchdog start a second training beside it."""
    run = PipelineRun.objects.create(
        kind=PipelineRun.Kind.DICTIONARY,
        params={"sync": False},
        status=PipelineRun.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(seconds=300),
    )
    beat("host-a:11", seconds_ago=1)
    WorkerHeartbeat.objects.filter(name="host-a:11").update(task=f"train_dictionary-{run.pk}-{run.pk}")
    assert workers.runs_recover() == []
    assert queued_tasks() == []

    beat("host-a:11", seconds_ago=120)  # the worker died: the run's step is lost and queued again
    did = workers.runs_recover()
    assert len(did) == 1 and "lost task" in did[0]


def test_sync_runs_are_never_the_watchdogs_business():
    beat("host-a:11", seconds_ago=120)
    run = sharded_run(shard_states=[("running", "host-a:11")])
    PipelineRun.objects.filter(pk=run.pk).update(params={"sync": True})
    assert workers.runs_recover() == [] and queued_tasks() == []


def test_the_run_page_says_what_happened_and_admin_lists_the_workers(client):
    beat("host-a:11", seconds_ago=120)
    beat("host-b:22", seconds_ago=1)
    run = sharded_run(shard_states=[("running", "host-a:11")])
    workers.runs_recover()

    page = client.get(run.get_absolute_url()).content.decode()
    assert "What happened" in page and "Worker host-a:11 stopped beating during shard 0" in page

    staff = get_user_model().objects.create_user("staff", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    listing = client.get("/admin/features/workerheartbeat/").content.decode()
    assert "host-a:11" in listing and "host-b:22" in listing
    assert listing.count('alt="True"') == 1 and listing.count('alt="False"') == 1  # only host-b beats


def test_a_beat_records_the_worker_and_moves_on():
    workers.worker_beat(name="host-c:33", cluster="neuronpedia")
    first = WorkerHeartbeat.objects.get(name="host-c:33")
    workers.worker_beat(name="host-c:33", cluster="neuronpedia")
    second = WorkerHeartbeat.objects.get(name="host-c:33")
    assert (second.host, second.pid) == ("host-c", 33)
    assert second.beat_at >= first.beat_at and second.started_at == first.started_at
    assert workers.live_workers() == {"host-c:33"}


def test_a_sync_task_in_this_process_does_not_make_it_a_beating_worker():
    from django_q.signals import post_spawn

    post_spawn.send(sender="django_q", proc_name="MainProcess")  # what django-q2 sends when it runs a task sync
    assert workers.this_worker() == ""
