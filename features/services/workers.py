"""Lost work found without a person: worker heartbeats, claims on a run's steps, and the watchdog.

- **Heartbeats.** Every django-q2 worker process starts a thread when it spawns (django-q2's `post_spawn`) that
  writes its WorkerHeartbeat row (host:pid, what it is doing) every WORKER_BEAT_S seconds. `kill -9` of the
  worker stops the thread with it; a worker busy in a long step still beats, since the thread runs beside it.
- **Claims.** A step takes a claim before it works: a shard's `attempts` (PipelineShard.claimed_by), or the run's
  `claim` for the steps that work on the whole run (starting, merging, an explain/score step). It writes its
  results only inside a transaction that locks the row and finds the claim still its own, so a worker given up
  for dead that comes back late writes nothing, and two copies of one step never both write. A step whose claim
  is held by another worker that is still beating steps aside.
- **The watchdog** (`runs_recover`), run by the same thread every WATCHDOG_EVERY_S seconds in every worker (no
  person, no extra process): a step claimed by a worker silent for WORKER_DEAD_AFTER_S is queued again, and so is
  a run with no step under way for RUN_LOST_AFTER_S whose next step is nowhere (all shards done but no merge, or
  the broker's queue empty: a task lost with Redis). Each requeue is one compare-and-set update, so watchdogs
  on several hosts do it once, and is written in the run's history, which its page shows.

Runs of the `sync` kind (done in the calling process) are never the watchdog's business. Manual `resume_run`
(and the page's Resume) stays for runs that failed on their own input.
"""

import logging
import multiprocessing
import os
import re
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from features.models import PipelineRun, PipelineShard, WorkerHeartbeat

from .runs import run_resume, run_task_enqueue

logger = logging.getLogger(__name__)

# The activation run's shard task (activation_runs.py imports it from here, so that this module, loaded by
# every worker's heartbeat thread, needs no torch).
SHARD_TASK = "features.tasks.compute_activation_shard"
HISTORY_KEPT = 50
# The run's number in a task name given by run_task_enqueue: "<function>-<run>-<arg>".
TASK_NAME_RUN = re.compile(r"-(\d+)-\d+$")
FORGET_WORKERS_AFTER = timedelta(days=1)


# --- Heartbeats -----------------------------------------------------------------------------------------------

_this_worker = ""  # host:pid once this process beats (a django-q2 worker); "" in any other process
_doing = ""  # the task this worker is running now, from django-q2's signals


def host_name() -> str:
    """NEURONPEDIA_HOST_NAME if set (several hosts on one machine, in tests), else the machine's name."""
    return os.environ.get("NEURONPEDIA_HOST_NAME") or socket.gethostname()


def this_worker() -> str:
    """The name claims are taken under: this worker's, or "" in a process that does not beat (a web server,
    a command, a sync run), whose claims nobody can tell dead or alive."""
    return _this_worker


def worker_beat(*, name: str, cluster: str = "", started_at=None) -> None:
    now = timezone.now()
    host, _, pid = name.rpartition(":")
    WorkerHeartbeat.objects.update_or_create(
        name=name,
        defaults={"host": host, "pid": int(pid), "cluster": cluster, "beat_at": now, "task": _doing[:300]},
        create_defaults={
            "host": host,
            "pid": int(pid),
            "cluster": cluster,
            "beat_at": now,
            "started_at": started_at or now,
            "task": _doing[:300],
        },
    )


def runs_in_hand(*, now=None) -> set[int]:
    """The runs a live worker is executing a task of now, read from the task names run_task_enqueue gives
    ("<function>-<run>-<arg>"): a long step that takes no claim (training a dictionary, computing connections
    or a graph) is under way while its worker beats, even when its run's own heartbeat is old."""
    now = now or timezone.now()
    dead_before = now - timedelta(seconds=settings.WORKER_DEAD_AFTER_S)
    tasks = WorkerHeartbeat.objects.filter(beat_at__gte=dead_before).exclude(task="").values_list("task", flat=True)
    return {int(found.group(1)) for task in tasks if (found := TASK_NAME_RUN.search(task))}


def live_workers(*, now=None) -> set[str]:
    now = now or timezone.now()
    dead_before = now - timedelta(seconds=settings.WORKER_DEAD_AFTER_S)
    return set(WorkerHeartbeat.objects.filter(beat_at__gte=dead_before).values_list("name", flat=True))


def _beat_forever(name: str, cluster: str, stop: threading.Event) -> None:
    started_at = timezone.now()
    last_watch = time.monotonic() - settings.WATCHDOG_EVERY_S  # look at once: a restarted host finds its own losses
    while True:
        close_old_connections()  # a connection the database dropped is replaced, not reused broken
        try:
            worker_beat(name=name, cluster=cluster, started_at=started_at)
            if time.monotonic() - last_watch >= settings.WATCHDOG_EVERY_S:
                last_watch = time.monotonic()
                runs_recover()
        except Exception:  # noqa: BLE001 - a database or broker outage must not end the heartbeat for good
            logger.exception("Worker %s could not beat or watch", name)
            connection.close()
        if stop.wait(settings.WORKER_BEAT_S):
            return


def heartbeat_start() -> threading.Event:
    """Start this process's heartbeat thread (once); returns the event that stops it."""
    global _this_worker
    if _this_worker:
        return _heartbeat_stop
    _this_worker = f"{host_name()}:{os.getpid()}"
    cluster = settings.Q_CLUSTER.get("name", "")
    thread = threading.Thread(
        target=_beat_forever, args=(_this_worker, cluster, _heartbeat_stop), name="worker-heartbeat", daemon=True
    )
    thread.start()
    return _heartbeat_stop


_heartbeat_stop = threading.Event()


def _worker_spawned(sender, **kwargs) -> None:
    # django-q2 also runs a sync task (Q_CLUSTER sync, a run's --sync) through its worker function, in the
    # calling process: a web server, a command, a test. That process is no worker and must not beat or watch.
    if multiprocessing.parent_process() is None:
        return
    heartbeat_start()


def _task_started(sender, task: dict, **kwargs) -> None:
    global _doing
    _doing = task.get("name") or str(task.get("func", ""))


def _task_ended(sender, task: dict, **kwargs) -> None:
    global _doing
    _doing = ""


def signals_connect() -> None:
    """Connect the heartbeat to django-q2's worker signals (FeaturesConfig.ready)."""
    from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

    post_spawn.connect(_worker_spawned, dispatch_uid="neuronpedia-heartbeat")
    pre_execute.connect(_task_started, dispatch_uid="neuronpedia-heartbeat")
    post_execute_in_worker.connect(_task_ended, dispatch_uid="neuronpedia-heartbeat")


def connection_replace_if_dropped() -> None:
    """After a step failed on a database error: close this thread's connection if the database dropped it (a
    restart, pg_terminate_backend), so that recording the failure opens a new one instead of failing too."""
    if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
        connection.close()


# --- Claims -------------------------------------------------------------------------------------------------


def _held_by_another_live_worker(claimed_by: str) -> bool:
    return bool(claimed_by) and claimed_by != this_worker() and claimed_by in live_workers()


def run_claim(*, run_id: int) -> int | None:
    """Claim a run-wide step for this process: its claim number, or None if a live worker holds it (this copy
    of the step is a duplicate and must do nothing) or the run is finished."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().only("status", "claim", "claimed_by").get(pk=run_id)
        if run.is_finished or _held_by_another_live_worker(run.claimed_by):
            return None
        claim = run.claim + 1
        PipelineRun.objects.filter(pk=run_id).update(claim=claim, claimed_by=this_worker(), heartbeat_at=timezone.now())
    return claim


def run_claim_holds(*, run_id: int, claim: int) -> bool:
    """Inside the transaction that writes a step's results: lock the run and say whether the claim is still
    this step's (and the run unfinished). If not, the caller writes nothing."""
    run = PipelineRun.objects.select_for_update().only("status", "claim").get(pk=run_id)
    return run.claim == claim and not run.is_finished


def run_claim_release(*, run_id: int, claim: int) -> None:
    PipelineRun.objects.filter(pk=run_id, claim=claim).update(claimed_by="")


def shard_claim(*, shard_id: int) -> int | None:
    """Claim a shard for this process: its attempt number, or None if it is done or a live worker has it."""
    with transaction.atomic():
        shard = PipelineShard.objects.select_for_update().get(pk=shard_id)
        if shard.status == PipelineShard.Status.DONE:
            return None
        if shard.status == PipelineShard.Status.RUNNING and _held_by_another_live_worker(shard.claimed_by):
            return None
        attempt = shard.attempts + 1
        PipelineShard.objects.filter(pk=shard_id).update(
            status=PipelineShard.Status.RUNNING,
            attempts=attempt,
            claimed_by=this_worker(),
            started_at=timezone.now(),
            error="",
        )
    return attempt


def shard_claim_holds(*, shard_id: int, attempt: int) -> bool:
    """Inside the transaction that stores a shard's result: lock it and say whether this attempt still owns it."""
    shard = PipelineShard.objects.select_for_update().only("status", "attempts").get(pk=shard_id)
    return shard.attempts == attempt and shard.status == PipelineShard.Status.RUNNING


# --- History ------------------------------------------------------------------------------------------------


def run_history_add(*, run_id: int, event: str, message: str = "") -> None:
    """Add a sentence to a run's history (and, with `message`, make it the run's message)."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().only("history").get(pk=run_id)
        history = [*run.history, {"at": timezone.now().isoformat(timespec="seconds"), "event": event}]
        fields = {"history": history[-HISTORY_KEPT:]}
        if message:
            fields["message"] = message[:500]
        PipelineRun.objects.filter(pk=run_id).update(**fields)
    logger.warning("Run %s: %s", run_id, event, extra={"run_id": run_id, "event": "recovered"})


# --- The watchdog -------------------------------------------------------------------------------------------


def _broker_queue_empty() -> bool:
    """Whether the broker holds no queued task (False if it cannot be asked: then nothing is requeued)."""
    from django_q.brokers import get_broker

    try:
        return get_broker().queue_size() == 0
    except Exception:  # noqa: BLE001 - a broker that does not answer: better wait than requeue blindly
        return False


def runs_recover(*, now=None) -> list[str]:
    """Queue again the steps of runs whose worker stopped beating, and the next step of runs that have none
    under way. Returns what it did, one sentence a step (also in each run's history)."""
    now = now or timezone.now()
    live = live_workers(now=now)
    lost_before = now - timedelta(seconds=settings.RUN_LOST_AFTER_S)
    done: list[str] = []
    unfinished = PipelineRun.objects.filter(
        status__in=[PipelineRun.Status.QUEUED, PipelineRun.Status.RUNNING, PipelineRun.Status.FINALIZING]
    ).order_by("pk")
    queue_empty: bool | None = None
    in_hand: set[int] | None = None
    for run in unfinished:
        if run.params.get("sync"):
            continue
        # 1. Shards whose worker died: each queued again, once (the update is the compare-and-set).
        dead_shards = run.shards.filter(status=PipelineShard.Status.RUNNING).exclude(claimed_by="")
        for shard in dead_shards.exclude(claimed_by__in=live):
            taken = PipelineShard.objects.filter(
                pk=shard.pk, status=PipelineShard.Status.RUNNING, attempts=shard.attempts, claimed_by=shard.claimed_by
            ).update(status=PipelineShard.Status.QUEUED, claimed_by="")
            if taken:
                event = f"Worker {shard.claimed_by} stopped beating during shard {shard.index}; it was queued again."
                run_history_add(run_id=run.pk, event=event, message=f"Shard {shard.index} queued again")
                run_task_enqueue(run=run, task=SHARD_TASK, arg=shard.pk)
                done.append(f"run {run.pk}: {event}")
        # 2. A run-wide step (start, merge, explain/score step) whose worker died.
        if run.claimed_by and run.claimed_by not in live:
            taken = PipelineRun.objects.filter(pk=run.pk, claim=run.claim, claimed_by=run.claimed_by).update(
                claim=F("claim") + 1, claimed_by=""
            )
            if taken:
                step = "the merge" if run.status == PipelineRun.Status.FINALIZING else "its step"
                event = f"Worker {run.claimed_by} stopped beating during {step}; it was queued again."
                resumed = run_resume(run_id=run.pk)
                run_history_add(run_id=run.pk, event=event, message=f"{resumed.run.message}: {event}")
                done.append(f"run {run.pk}: {event}")
            continue
        # 3. Nothing under way for a while and the next step nowhere: all shards done but no merge started, or
        # queued tasks lost (a broker restarted without them). A step of a live worker is "under way".
        if run.claimed_by or run.shards.filter(status=PipelineShard.Status.RUNNING).exists():
            continue
        if in_hand is None:
            in_hand = runs_in_hand(now=now)
        if run.pk in in_hand:
            continue
        last_sign = run.heartbeat_at or run.started_at or run.created_at
        if last_sign >= lost_before:
            continue
        shards = run.shards.count()
        merge_lost = shards and not run.shards.exclude(status=PipelineShard.Status.DONE).exists()
        if not merge_lost:
            if queue_empty is None:
                queue_empty = _broker_queue_empty()
            if not queue_empty:  # its step may be waiting in the queue behind others
                continue
        # The grab: one watchdog of several moves the heartbeat on and acts; the others find it moved.
        if not PipelineRun.objects.filter(pk=run.pk, heartbeat_at=run.heartbeat_at, claim=run.claim).update(
            heartbeat_at=now
        ):
            continue
        idle = int((now - last_sign).total_seconds())
        if merge_lost:
            event = f"Every shard was done but no merge had started for {idle} s; the merge was queued again."
        else:
            event = f"No step of the run was under way or queued for {idle} s (a lost task); it was queued again."
        resumed = run_resume(run_id=run.pk)
        run_history_add(run_id=run.pk, event=event, message=f"{resumed.run.message}: {event}")
        done.append(f"run {run.pk}: {event}")
    WorkerHeartbeat.objects.filter(beat_at__lt=now - FORGET_WORKERS_AFTER).delete()
    return done
