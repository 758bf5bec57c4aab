from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from features.models import PipelineRun, PipelineShard


def running_run() -> PipelineRun:
    return PipelineRun.objects.create(
        kind="activations",
        params={"layers": [0, 2], "corpus": "builtin", "model_slug": "tiny-bert"},
        status="running",
        progress=0.42,
        message="Computing activations: 5 of 12 windows",
        tokens_done=12345,
        shards_done=1,
        shards_total=4,
        started_at=timezone.now(),
    )


def test_it_shows_a_running_runs_progress_and_polls_for_more(db, client):
    run = running_run()
    response = client.get(f"/runs/{run.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Activations run #" in content
    assert '<progress value="0.420" max="1"' in content
    assert "42%" in content
    assert "Computing activations: 5 of 12 windows" in content
    assert "12,345" in content
    assert "1 / 4" in content
    assert "Running" in content
    assert f'hx-get="/runs/{run.pk}/" hx-trigger="every 2s"' in content
    assert "<dt>layers</dt><dd><code>[0, 2]</code></dd>" in content


def test_an_htmx_poll_gets_only_the_progress_block(db, client):
    run = running_run()
    response = client.get(f"/runs/{run.pk}/", headers={"HX-Request": "true"})
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="run-progress"')
    assert "<header" not in content
    assert "<progress" in content
    assert 'hx-trigger="every 2s"' in content


def test_a_finished_run_stops_polling(computed_run, client):
    content = client.get(f"/runs/{computed_run.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Succeeded" in content
    assert "hx-trigger" not in content
    assert '<progress value="1.000" max="1"' in content
    assert computed_run.finished_at.strftime("%Y-%m-%d %H:%M:%S") in content


def test_a_finished_run_links_to_its_model(computed_run, client):
    content = client.get(f"/runs/{computed_run.pk}/").content.decode()
    assert '<a href="/tiny-bert/">tiny-bert</a>' in content


def test_a_failed_run_shows_its_error(db, client):
    run = PipelineRun.objects.create(
        kind="activations",
        status="failed",
        error="Layer 7 does not exist: <model> has 3 layers",
        finished_at=timezone.now(),
    )
    content = client.get(f"/runs/{run.pk}/").content.decode()
    assert '<pre class="error">Layer 7 does not exist: &lt;model&gt; has 3 layers</pre>' in content
    assert "hx-trigger" not in content


def test_an_unknown_run_is_a_404(db, client):
    response = client.get("/runs/9999/")
    assert response.status_code == 404
    assert b"There is no pipeline run #9999." in response.content


# --- Shards, speed, resuming ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def make_user(username: str, **fields):
    return get_user_model().objects.create_user(username, f"{username}@example.com", "pw", **fields)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def failed_run(created_by=None) -> PipelineRun:
    """Run with 3 shards: 0 done, 1 failed twice, 2 never started; 5,000 tokens in 10 seconds."""
    started = timezone.now() - timedelta(seconds=60)
    run = PipelineRun.objects.create(
        kind="activations",
        params={"layers": [0], "corpus": "builtin", "model_slug": "tiny-bert"},
        status="failed",
        progress=0.3,
        shards_total=3,
        shards_done=1,
        tokens_done=5000,
        started_at=started,
        finished_at=started + timedelta(seconds=10),
        error="Shard 1 failed; resume the run to retry it. Internal error (RuntimeError): out of memory",
        created_by=created_by,
    )
    PipelineShard.objects.bulk_create(
        [
            PipelineShard(run=run, index=0, first_window=0, n_windows=4, status="done", attempts=1, seconds=2.5),
            PipelineShard(run=run, index=1, first_window=4, n_windows=4, status="failed", attempts=2, error="oom"),
            PipelineShard(run=run, index=2, first_window=8, n_windows=2, status="queued"),
        ]
    )
    return run


def test_a_failed_run_shows_its_shards_speed_and_error(db, client):
    run = failed_run()
    content = client.get(f"/runs/{run.pk}/").content.decode()
    assert "<dt>Shards</dt><dd>1 / 3</dd>" in content
    assert "<dt>Tokens per second</dt><dd>500</dd>" in content
    assert '<pre class="error">Shard 1 failed; resume the run to retry it. Internal error (RuntimeError)' in content
    rows = content.split('<table class="shards stack">')[1]
    assert rows.count("<tr>") == 4  # a header and three shards
    assert '<span class="status status-done">Done</span>' in rows
    assert '<td class="num" data-label="Seconds">2.5</td>' in rows
    assert '<span class="status status-failed">Failed</span>' in rows
    assert '<td class="num" data-label="Windows">4–7</td>' in rows
    assert '<td class="num" data-label="Attempts">2</td>' in rows  # attempts of shard 1
    assert "1 done" in content and "1 failed" in content and "1 queued" in content


def test_the_resume_button_shows_for_the_runs_creator_and_staff_only(db, client):
    ada = make_user("ada")
    run = failed_run(created_by=ada)
    button = f'action="/runs/{run.pk}/resume/"'
    assert button in signed_in(ada).get(f"/runs/{run.pk}/").content.decode()
    assert button in signed_in(make_user("mod", is_staff=True)).get(f"/runs/{run.pk}/").content.decode()
    assert button not in signed_in(make_user("bob")).get(f"/runs/{run.pk}/").content.decode()
    assert button not in client.get(f"/runs/{run.pk}/").content.decode()


def test_resuming_queues_the_shards_that_are_not_done_again(db):
    from django_q.models import OrmQ

    ada = make_user("ada")
    run = failed_run(created_by=ada)
    response = signed_in(ada).post(f"/runs/{run.pk}/resume/", follow=True)
    assert response.redirect_chain == [(f"/runs/{run.pk}/", 302)]
    assert f"Queued 2 step(s) of run #{run.pk} again." in response.content.decode()
    assert dict(run.shards.values_list("index", "status")) == {0: "done", 1: "queued", 2: "queued"}
    run.refresh_from_db()
    assert (run.status, run.error, run.finished_at) == ("running", "", None)
    queued = sorted((task.func(), task.args()) for task in OrmQ.objects.all())
    shard_pks = sorted(run.shards.exclude(index=0).values_list("pk", flat=True))
    assert queued == [("features.tasks.compute_activation_shard", (pk,)) for pk in shard_pks]


def test_only_the_creator_or_staff_can_resume_and_only_by_post(db, client):
    run = failed_run(created_by=make_user("ada"))
    assert signed_in(make_user("bob")).post(f"/runs/{run.pk}/resume/").status_code == 403
    response = client.post(f"/runs/{run.pk}/resume/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert signed_in(make_user("mod", is_staff=True)).get(f"/runs/{run.pk}/resume/").status_code == 405
    assert dict(run.shards.values_list("index", "status")) == {0: "done", 1: "failed", 2: "queued"}
    assert PipelineRun.objects.get(pk=run.pk).status == "failed"


def test_a_stalled_run_can_be_resumed_but_a_live_one_cannot(db):
    ada = make_user("ada")
    run = running_run()
    PipelineRun.objects.filter(pk=run.pk).update(created_by=ada, heartbeat_at=timezone.now())
    client = signed_in(ada)
    assert "/resume/" not in client.get(f"/runs/{run.pk}/").content.decode()
    response = client.post(f"/runs/{run.pk}/resume/", follow=True)
    assert f"Run #{run.pk} is running: there is nothing to resume." in response.content.decode()

    PipelineRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    content = client.get(f"/runs/{run.pk}/").content.decode()
    assert "No progress for 1\xa0hour: its worker may have stopped." in content
    assert f'action="/runs/{run.pk}/resume/"' in content


def test_a_succeeded_run_links_to_what_it_computed(computed_run, client):
    content = client.get(f"/runs/{computed_run.pk}/").content.decode()
    assert '<a href="/tiny-bert/0-mlp/">tiny-bert/0-mlp</a>' in content
    assert '<a href="/tiny-bert/2-mlp/">tiny-bert/2-mlp</a>' in content
    assert "/resume/" not in content
