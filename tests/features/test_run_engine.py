"""The one run engine (features/services/runs.py): every kind of run is created, queued and resumed the same way."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from features.models import PipelineRun
from features.services.activation_runs import activation_run_create
from features.services.runs import RUN_KINDS, run_enqueue, run_resume

pytestmark = pytest.mark.django_db


def test_every_kind_of_run_is_registered_by_its_app():
    assert set(RUN_KINDS) == set(PipelineRun.Kind.values)


def test_django_q2s_sync_setting_runs_an_activation_run_in_the_calling_process(
    settings, tiny_bert_dir, sample_corpus_file
):
    """An explicit sync=False overrides Q_CLUSTER["sync"] in django-q2, so a run must record the site's setting:
    activation runs did not (explanation and scoring runs did), and on a site without workers they waited forever."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    run = activation_run_create(
        model_path=str(tiny_bert_dir), model_slug="tiny-bert", layers=[0], corpus=str(sample_corpus_file),
        n_windows=4, window_len=8, top_k=2,
    )  # fmt: skip
    assert run.params["sync"] is True

    run = run_enqueue(run=run)

    assert run.status == PipelineRun.Status.SUCCEEDED, run.error
    assert not OrmQ.objects.exists()


@pytest.mark.parametrize(
    ("kind", "task"),
    [("activations", "features.tasks.start_activation_run"), ("explanations", "scoring.tasks.run_step")],
)
def test_a_resumed_run_is_alive_again_while_its_task_waits_for_a_worker(kind, task):
    """Resuming gives a run a fresh heartbeat, whatever its kind. An activation run resumed after an hour of
    silence kept its old one (explanation and scoring runs did not), so it still looked stalled and offered
    Resume again while its task waited in the queue."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    run = PipelineRun.objects.create(kind=kind, status="running", started_at=an_hour_ago, heartbeat_at=an_hour_ago)
    assert run.is_stalled

    resumed = run_resume(run_id=run.pk)

    assert not resumed.run.is_stalled and resumed.run.error == ""
    assert [(queued.func(), queued.args()) for queued in OrmQ.objects.all()] == [(task, (run.pk,))]
    assert resumed.run.task_id == OrmQ.objects.get().task_id()


def test_a_receiver_that_fails_after_a_run_succeeds_is_logged_and_the_run_stays_succeeded(
    db, caplog, django_capture_on_commit_callbacks
):
    from features.services.runs import run_succeed
    from features.signals import run_succeeded

    heard = []

    def broken(sender, run, **kwargs):
        raise RuntimeError("receiver down")

    def listening(sender, run, **kwargs):
        heard.append(run.pk)

    run = PipelineRun.objects.create(kind=PipelineRun.Kind.CONNECTIONS)
    run_succeeded.connect(broken, dispatch_uid="test-broken")
    run_succeeded.connect(listening, dispatch_uid="test-listening")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run_succeed(run=run, message="done")
    finally:
        run_succeeded.disconnect(dispatch_uid="test-broken")
        run_succeeded.disconnect(dispatch_uid="test-listening")
    run.refresh_from_db()
    assert run.status == PipelineRun.Status.SUCCEEDED and heard == [run.pk]  # the others still hear it
    assert f"After run {run.pk} succeeded, broken failed" in caplog.text
