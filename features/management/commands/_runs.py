"""Start a pipeline run on the task queue and follow it with a progress bar (shared by commands)."""

import time

from django.core.management.base import CommandError
from django_q.tasks import async_task
from tqdm import tqdm

from features.models import PipelineRun

NO_WORKER_HINT_AFTER_S = 30


def enqueue_and_follow(run: PipelineRun, task: str, *, wait: bool, stdout, timeout_s: float) -> PipelineRun:
    """Enqueue `task(run.pk)` on django-q2 (a sync run runs here and now); if waiting, draw the
    run's progress until it finishes and raise CommandError with the run's reason if it failed."""
    sync = run.params.get("sync", False)
    stdout.write(f"Run #{run.pk} queued ({run.get_absolute_url()}).")
    run.task_id = async_task(task, run.pk, task_name=f"{run.kind}-run-{run.pk}", sync=sync) or ""
    PipelineRun.objects.filter(pk=run.pk).update(task_id=run.task_id)
    if not wait and not sync:
        return run
    return follow(run, stdout=stdout, timeout_s=timeout_s)


def follow(run: PipelineRun, *, stdout, timeout_s: float) -> PipelineRun:
    """Draw a run's progress until it finishes; raise CommandError with its reason if it failed."""
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
