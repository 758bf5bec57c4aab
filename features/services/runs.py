"""The one run engine: every PipelineRun, whatever its kind, is created, queued, followed and resumed here.

A kind of run (activations here; explanations and scoring in scoring/) registers itself in its app's
AppConfig.ready() with `run_kind_register`: the django-q2 task that is its first step, and the function that
says what to queue again when it is resumed. Both are dotted paths, imported only when needed, so that this
module (and a page that resumes a run) never imports the app above that does the work, nor torch.

The kinds' steps call back into this module to queue their next tasks (`run_task_enqueue`), and to record
progress, failure and success (`run_update`, `run_fail`, `run_succeed`). Every step is safe to run again, so a
run that stopped (a failure since fixed, a killed worker) is resumed by queueing again what is not done.
"""

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.tasks import async_task
from tqdm import tqdm

from features.models import LanguageModel, PipelineRun
from features.signals import run_succeeded

logger = logging.getLogger(__name__)

NO_WORKER_HINT_AFTER_S = 30


@dataclass(frozen=True)
class Resumption:
    """What a kind's resume function decided: the tasks to queue again (dotted path, argument), the status the
    run waits in meanwhile, its progress message, other fields to reset, and a sentence for the person who
    asked (a page's message, a command's output)."""

    tasks: list[tuple[str, int]]
    status: str
    message: str
    summary: str
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunKind:
    kind: str
    first_task: str  # dotted path of the django-q2 task that starts a run, called with the run's id
    resume: str  # dotted path of a function (run: PipelineRun) -> Resumption


RUN_KINDS: dict[str, RunKind] = {}


def run_kind_register(*, kind: str, first_task: str, resume: str) -> None:
    """Make a kind of run known to the engine (from its app's AppConfig.ready())."""
    RUN_KINDS[kind] = RunKind(kind=kind, first_task=first_task, resume=resume)


def _run_kind(run: PipelineRun) -> RunKind:
    try:
        return RUN_KINDS[run.kind]
    except KeyError:
        raise LookupError(f"No app has registered runs of kind {run.kind!r}; is it in INSTALLED_APPS?") from None


# --- Creating and queueing --------------------------------------------------------------------------------


def _existing_unfinished(kind: str, params: dict, same_as: Collection[str]) -> PipelineRun | None:
    """The same request still queued or running (a double click, a repeated command): reuse it."""
    keys = {name: params.get(name) for name in same_as}
    for run in PipelineRun.objects.filter(kind=kind).exclude(
        status__in=[PipelineRun.Status.SUCCEEDED, PipelineRun.Status.FAILED]
    ):
        if {name: run.params.get(name) for name in keys} == keys and not run.is_stalled:
            return run
    return None


def run_create(
    *,
    kind: str,
    params: dict,
    model: LanguageModel | None = None,
    created_by: AbstractBaseUser | None = None,
    sync: bool = False,
    same_as: Collection[str] = (),
) -> tuple[PipelineRun, bool]:
    """Record a queued run (not queued on django-q2 yet: see run_enqueue). With `same_as`, an unfinished,
    live run of the same kind whose params agree on those keys is returned instead. Returns (run, whether it
    is new).

    A sync run does every step in the calling process (the --sync flag, scripts, tests). django-q2's own sync
    setting (Q_CLUSTER["sync"]) makes every run sync, as it does its tasks: a run queued with an explicit
    sync=False would otherwise wait for a worker that such a site does not run."""
    sync = sync or bool(settings.Q_CLUSTER.get("sync", False))
    existing = None if sync or not same_as else _existing_unfinished(kind, params, same_as)
    if existing is not None:
        return existing, False
    run = PipelineRun.objects.create(
        kind=kind, model=model, params={**params, "sync": sync}, created_by=created_by, message="Queued"
    )
    return run, True


def run_task_enqueue(*, run: PipelineRun, task: str, arg: int) -> str:
    """Queue one task of a run on django-q2, `task(arg)` (a sync run's runs here and now). Returns its id."""
    name = f"{task.rsplit('.', 1)[-1]}-{run.pk}-{arg}"
    return async_task(task, arg, task_name=name, sync=run.params.get("sync", False)) or ""


def run_enqueue(*, run: PipelineRun) -> PipelineRun:
    """Queue a new run's first step and record its task (a sync run runs to its end here and now)."""
    run_log(run, "queued", str(run.params.get("source") or run.params.get("model_slug") or ""))
    task_id = run_task_enqueue(run=run, task=_run_kind(run).first_task, arg=run.pk)
    PipelineRun.objects.filter(pk=run.pk).update(task_id=task_id)
    run.refresh_from_db()
    return run


def broker_answers() -> bool:
    """Whether the task broker (Redis, or the database for the ORM broker) answers its ping now."""
    try:
        return bool(get_broker().ping())
    except Exception:  # noqa: BLE001 - any failure to reach it is the answer
        return False


# --- Recording progress, failure and success -----------------------------------------------------------


def run_update(*, run: PipelineRun, **fields) -> None:
    """Write some of a run's fields (progress, message, status, ...) with a heartbeat: a sign of life."""
    fields["heartbeat_at"] = timezone.now()
    PipelineRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)


def run_log(run: PipelineRun, event: str, text: str, *, level: int = logging.INFO) -> None:
    """One line of the runs' log, with the fields a log collector indexes (neuronpedia/logs.py)."""
    logger.log(
        level,
        "Run %s (%s) %s: %s",
        run.pk,
        run.kind,
        event,
        text,
        extra={"run_id": run.pk, "kind": run.kind, "status": run.status, "event": event},
    )


def run_fail(*, run: PipelineRun, error: str, message: str = "Failed") -> None:
    """End a run failed with its reason. It can be resumed (run_resume) once the reason is dealt with."""
    run_update(run=run, status=PipelineRun.Status.FAILED, error=error, message=message, finished_at=timezone.now())
    run_log(run, "failed", error[:500], level=logging.WARNING)


def run_succeed(*, run: PipelineRun, message: str, **fields) -> None:
    """End a run succeeded (with any last fields of its own, e.g. the model an activation run registered)."""
    fields.update(status=PipelineRun.Status.SUCCEEDED, progress=1.0, message=message, finished_at=timezone.now())
    run_update(run=run, **fields)
    run_log(run, "succeeded", message)
    transaction.on_commit(lambda: _announce_success(run))


def _announce_success(run: PipelineRun) -> None:
    # The run has succeeded whatever a receiver does: a receiver's failure is logged, not raised into the step.
    for receiver, result in run_succeeded.send_robust(sender=PipelineRun, run=run):
        if isinstance(result, Exception):
            name = getattr(receiver, "__name__", receiver)
            logger.error("After run %s succeeded, %s failed: %r", run.pk, name, result)


# --- Resuming ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    run: PipelineRun
    summary: str  # what was queued again, in a sentence


def run_resume(*, run_id: int) -> Resumed:
    """Queue again what a run has not done (after a failure since fixed, or a worker that died), whatever its
    kind: the kind says what that is, this records it and queues it. A succeeded run is left as it is."""
    run = PipelineRun.objects.get(pk=run_id)
    if run.status == PipelineRun.Status.SUCCEEDED:
        return Resumed(run=run, summary=f"Run #{run.pk} already succeeded.")
    resume: Callable[[PipelineRun], Resumption] = import_string(_run_kind(run).resume)
    plan = resume(run)
    # Written before queueing: a sync run's tasks run inside run_task_enqueue. The heartbeat is fresh, so the
    # run no longer looks stalled (nor offers Resume again) while its tasks wait for a worker.
    run_update(run=run, status=plan.status, error="", finished_at=None, message=plan.message, **plan.fields)
    task_ids = [run_task_enqueue(run=run, task=task, arg=arg) for task, arg in plan.tasks]
    if task_ids:
        PipelineRun.objects.filter(pk=run.pk).update(task_id=task_ids[0])
    run.refresh_from_db()
    return Resumed(run=run, summary=plan.summary)


# --- Following a run from a management command ------------------------------------------------------------


def run_follow(*, run: PipelineRun, stdout, timeout_s: float) -> PipelineRun:
    """Draw a run's progress bar until it finishes; raise CommandError with its reason if it failed."""
    started = time.monotonic()
    hinted = False
    with tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed} {postfix}") as bar:
        while True:
            run.refresh_from_db()
            bar.n = int(run.progress * 1000)
            bar.set_postfix_str(run.message[:60] or run.status, refresh=False)
            bar.refresh()
            if run.is_finished:
                break
            waited = time.monotonic() - started
            if not hinted and run.status == PipelineRun.Status.QUEUED and waited > NO_WORKER_HINT_AFTER_S:
                bar.write("No worker has picked up the run yet: is `python manage.py qcluster` running?")
                hinted = True
            if waited > timeout_s:
                raise CommandError(f"Gave up waiting after {timeout_s:.0f} s; run #{run.pk} is still {run.status}.")
            time.sleep(0.5)
    if run.status == PipelineRun.Status.FAILED:
        raise CommandError(f"Run #{run.pk} failed: {run.error}")
    stdout.write(f"Run #{run.pk} succeeded: {run.message}")
    return run


def run_enqueue_and_follow(*, run: PipelineRun, wait: bool, stdout, timeout_s: float) -> PipelineRun:
    """Queue a new run (run_enqueue) and, if waiting, follow it (run_follow). A sync run is done on return."""
    stdout.write(f"Run #{run.pk} queued ({run.get_absolute_url()}).")
    run = run_enqueue(run=run)
    if not wait and not run.params.get("sync", False):
        return run
    return run_follow(run=run, stdout=stdout, timeout_s=timeout_s)
