"""Explaining and scoring stored features on the task queue: the services, the runs they drive, the
commands that start them, and a real django-q2 worker."""

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.inference import feature_activations_for_token_ids
from features.models import ActivationExample, ContextWindow, Feature, PipelineRun, Source
from features.services.runs import run_enqueue, run_resume
from scoring.core.offline_judges import DEFAULT_JUDGE
from scoring.core.records import normalise_token
from scoring.models import ExplanationScore
from scoring.services import run_steps
from scoring.services.runs import explain_run_create, score_run_create
from tests.features.test_activation_runs import start_worker, stop_worker
from tests.scoring.llm_server import ScriptedLLMServer

pytestmark = pytest.mark.django_db

# The tiny random BERT's GELU neurons fire somewhere in almost every window, so window-level detection
# has no silent windows to tell apart; token-level scorers do.
SCORERS = ["fuzzing", "simulation"]


def source(slug: str = "0-mlp") -> Source:
    return Source.objects.select_related("model").get(model__slug="tiny-bert", slug=slug)


def explain_source(src: Source, **options) -> PipelineRun:
    run, created = explain_run_create(source=src, sync=True, **options)
    assert created
    return run_enqueue(run=run)


def score_source(src: Source, **options) -> PipelineRun:
    run, created = score_run_create(source=src, sync=True, **options)
    assert created
    return run_enqueue(run=run)


def counts(src: Source) -> tuple[int, int]:
    return (
        Explanation.objects.filter(feature__source=src).count(),
        ExplanationScore.objects.filter(explanation__feature__source=src).count(),
    )


def test_explaining_a_source_writes_one_scored_explanation_per_firing_feature(computed_run):
    src = source()
    run = explain_source(src, scorers=SCORERS)

    firing = Feature.objects.filter(source=src, max_activation__gt=0).count()
    assert run.status == "succeeded", run.error
    assert run.items_done == run.items_total == firing and run.progress == 1.0
    assert run.message.startswith("Done"), run.failures[:3]
    generated = Explanation.objects.filter(feature__source=src, generated=True, method="token-stats")
    assert generated.count() == firing
    assert counts(src) == (firing, 2 * firing)
    score = ExplanationScore.objects.filter(scorer="fuzzing").first()
    assert score.judge == "semantic" and score.revision_id == score.explanation.current_revision_id
    assert score.example_mix["top"] == 5 and score.example_mix["random"] > 0
    assert Explanation.objects.get(pk=score.explanation_id).best_score is not None


def test_running_the_same_pipelines_again_writes_nothing_new(computed_run):
    src = source()
    explain_source(src, scorers=SCORERS)
    first = counts(src)
    again = explain_source(src, scorers=SCORERS)
    assert counts(src) == first
    assert again.params["explanations_written"] == 0 and again.params["scores_written"] == 0

    rescored = score_source(src, scorers=SCORERS)
    assert rescored.status == "succeeded" and rescored.params["scores_written"] == 0
    assert counts(src) == first

    forced = score_source(src, scorers=["fuzzing"], force=True)
    assert forced.params["scores_written"] == first[0]  # recomputed in place, not added
    assert counts(src) == first


def test_a_request_while_the_same_run_is_queued_returns_that_run(computed_run):
    src = source()
    run, created = explain_run_create(source=src, scorers=SCORERS)
    again, created_again = explain_run_create(source=src, scorers=SCORERS)
    assert created and not created_again and again.pk == run.pk
    other, created_other = explain_run_create(source=src, scorers=["simulation"])
    assert created_other and other.pk != run.pk


def test_a_failing_feature_is_recorded_and_the_others_still_succeed(computed_run):
    src = source()
    broken = Feature.objects.filter(source=src, max_activation__gt=0).order_by("index").first()
    ActivationExample.objects.filter(feature=broken).delete()  # fires, but no top examples to score against

    run = explain_source(src, scorers=SCORERS)

    firing = Feature.objects.filter(source=src, max_activation__gt=0).count()
    assert run.status == "succeeded"
    assert run.message.startswith("Succeeded with 1 failure:")
    assert [failure["feature"] for failure in run.failures] == [str(broken)]
    assert "needs at least one top example" in run.failures[0]["error"]
    assert run.failures[0]["url"] == broken.get_absolute_url()
    assert ExplanationScore.objects.filter(explanation__feature=broken).count() == 0
    assert ExplanationScore.objects.filter(explanation__feature__source=src).count() == 2 * (firing - 1)


def test_a_scorer_that_cannot_score_is_a_failure_and_the_other_scores_are_kept(computed_run):
    src = source()
    run = explain_source(src, scorers=["detection", "fuzzing"])
    firing = Feature.objects.filter(source=src, max_activation__gt=0).count()
    detection = ExplanationScore.objects.filter(scorer="detection").count()
    assert ExplanationScore.objects.filter(scorer="fuzzing").count() == firing
    assert run.params["failed_count"] == firing - detection
    assert all("detection needs both active and silent examples" in f["error"] for f in run.failures)


def _silent_key_token(feature: Feature) -> str | None:
    """A word of the stored corpus on which `feature` is silent somewhere (by live inference)."""
    threshold = 0.1 * feature.max_activation
    for window in ContextWindow.objects.filter(model=feature.source.model).order_by("position"):
        values = feature_activations_for_token_ids(feature, list(window.token_ids))
        for token in ("the", "cat", "sea", "dog"):
            positions = [i for i, t in enumerate(window.tokens) if normalise_token(t) == token]
            if positions and all(values[i] <= threshold for i in positions):
                return token
    return None


def test_hard_negatives_are_stored_windows_with_the_key_token_where_live_inference_says_it_is_silent(
    computed_run, django_user_model
):
    src = source("2-mlp")
    feature, token = next(
        (f, t) for f in Feature.objects.filter(source=src, max_activation__gt=0).order_by("index")
        if (t := _silent_key_token(f))
    )  # fmt: skip
    author = django_user_model.objects.create_user("alice", password="pw")
    explanation = explanation_services.explanation_create(
        feature=feature, text=f'the word "{token}"', author=author, embed=False
    )

    run = score_source(src, scorers=["simulation"])

    assert run.status == "succeeded", run.error
    score = ExplanationScore.objects.get(explanation=explanation, scorer="simulation")
    assert score.example_mix["hard_negatives"] > 0
    threshold = 0.1 * feature.max_activation
    negatives = {key: entry for key, entry in score.details["shown"].items() if key.startswith("hard_negative:")}
    assert len(negatives) == score.example_mix["hard_negatives"]
    for entry in negatives.values():
        window = ContextWindow.objects.get(pk=entry["window"])
        true_values = feature_activations_for_token_ids(feature, list(window.token_ids))
        positions = [i for i, t in enumerate(window.tokens) if normalise_token(t) == token]
        assert positions and all(true_values[i] <= threshold for i in positions)
        for position, value in entry["values"].items():
            assert value == pytest.approx(true_values[int(position)], abs=1e-3)


def test_one_generated_explanation_per_feature_and_explainer_and_one_score_per_revision_scorer_and_judge(
    computed_run,
):
    feature = Feature.objects.filter(source=source()).first()
    first = explanation_services.explanation_create(
        feature=feature, text="one", method="token-stats", generated=True, embed=False
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        explanation_services.explanation_create(
            feature=feature, text="two", method="token-stats", generated=True, embed=False
        )
    # Imported or hand-entered machine explanations are not bound by it.
    explanation_services.explanation_create(feature=feature, text="three", method="token-stats", embed=False)
    explanation_services.explanation_create(feature=feature, text="four", method="token-stats", embed=False)

    revision = first.current_revision
    ExplanationScore.objects.create(explanation=first, revision=revision, scorer="fuzzing", judge="offline", value=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExplanationScore.objects.create(
            explanation=first, revision=revision, scorer="fuzzing", judge="offline", value=0
        )
    ExplanationScore.objects.create(explanation=first, revision=revision, scorer="fuzzing", judge="llm", value=0)
    for value in (0.2, 0.4):  # Verify mode appends human scores as verdicts come in
        ExplanationScore.objects.create(explanation=first, revision=revision, scorer="human", value=value)
    assert ExplanationScore.objects.filter(explanation=first).count() == 4


def test_the_commands_start_runs_and_follow_them_with_a_progress_bar(computed_run, capsys):
    call_command("explain_source", "tiny-bert/0-mlp", "--scorers", "fuzzing", "--sync")
    out = capsys.readouterr().out
    assert "succeeded" in out
    firing = Feature.objects.filter(source=source(), max_activation__gt=0).count()
    assert counts(source()) == (firing, firing)

    call_command("score_source", "tiny-bert/0-mlp", "--scorers", "fuzzing,simulation", "--sync")
    assert "succeeded" in capsys.readouterr().out
    assert counts(source()) == (firing, 2 * firing)

    with pytest.raises(CommandError, match="no source 'tiny-bert/9-mlp'"):
        call_command("score_source", "tiny-bert/9-mlp", "--sync")
    with pytest.raises(CommandError, match="Unknown scorer 'accuracy'"):
        call_command("score_source", "tiny-bert/0-mlp", "--scorers", "accuracy", "--sync")


def test_an_llm_explainer_writes_through_the_pipeline_and_a_refused_key_stops_the_run(computed_run, settings):
    settings.OPENAI_API_KEY = "sk-test"
    feature = Feature.objects.filter(source=source(), max_activation__gt=0).order_by("index").first()
    with ScriptedLLMServer() as server:
        settings.OPENAI_BASE_URL = server.base_url
        server.reply("the word cat after a colour word")
        run, _ = explain_run_create(feature=feature, explainer="openai-compatible", llm_model="gpt-test", sync=True)
        run = run_enqueue(run=run)
        assert run.status == "succeeded", run.error
        explanation = Explanation.objects.get(feature=feature)
        assert (explanation.text, explanation.method, explanation.explainer_model) == (
            "the word cat after a colour word",
            "openai-compatible",
            "gpt-test",
        )
        assert explanation.generated

        server.fail(401, "Incorrect API key provided", code="invalid_api_key")
        run = explain_source(source(), explainer="openai-compatible", llm_model="gpt-test")
        assert run.status == "failed"
        assert "Stopped at tiny-bert/0-mlp/" in run.error and "key" in run.error.lower()
        assert len(run.failures) == 1 and run.items_done == 1
        assert Explanation.objects.count() == 1  # the one from before, found again rather than rewritten

        # With the key fixed, resuming goes on from the feature it stopped on.
        firing = Feature.objects.filter(source=source(), max_activation__gt=0).count()
        for _ in range(firing - 1):
            server.reply("the word cat")
        run = run_resume(run_id=run.pk).run
    assert run.status == "succeeded" and run.error == "" and run.failures == [], run.failures
    assert run.items_done == run.items_total == firing
    assert Explanation.objects.filter(method="openai-compatible", generated=True).count() == firing


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_executes_on_a_real_qcluster_worker(tiny_bert_dir, sample_corpus_file, capsys):
    from features.services.activation_runs import activation_run_create, activation_run_start

    run = activation_run_create(
        model_path=str(tiny_bert_dir), model_slug="tiny-bert", layers=[0], corpus=str(sample_corpus_file),
        n_windows=6, window_len=16, top_k=3, sync=True,
    )  # fmt: skip
    assert activation_run_start(run_id=run.pk).status == "succeeded"
    worker = start_worker()
    try:
        call_command("explain_source", "tiny-bert/0-mlp", "--scorers", "fuzzing", "--timeout", "120")
    finally:
        stop_worker(worker)
    run = PipelineRun.objects.get(kind="explanations")
    assert run.status == "succeeded" and run.task_id and not run.params["sync"]
    assert "succeeded" in capsys.readouterr().out
    firing = Feature.objects.filter(source=source(), max_activation__gt=0).count()
    assert counts(source()) == (firing, firing)


def test_one_pass_over_a_window_gives_every_features_values_as_the_feature_replay_does(computed_run):
    from features.inference import source_activations_on_windows

    src = source("2-mlp")
    windows = list(ContextWindow.objects.filter(model=src.model).order_by("position")[:3])
    together = source_activations_on_windows(src, [list(w.token_ids) for w in windows])
    for window, values in zip(windows, together, strict=True):
        assert tuple(values.shape) == (len(window.token_ids), src.n_features)
        for feature in Feature.objects.filter(source=src, index__in=[0, 7, 47]):
            alone = feature_activations_for_token_ids(feature, list(window.token_ids))
            assert values[:, feature.index].tolist() == pytest.approx(alone, abs=1e-5)


def test_the_demo_explains_and_scores_a_source_once(computed_run):
    """build_demo's last step, per source: every firing feature gets its token-statistics explanation, scored
    by the default offline judge, and running the demo again writes nothing more."""
    import io

    from front.management.commands.build_demo import DEMO_SCORERS
    from front.management.commands.build_demo import Command as BuildDemo

    out = io.StringIO()
    BuildDemo(stdout=out).explain(source(), sync=True, wait=True)
    firing = Feature.objects.filter(source=source(), max_activation__gt=0).count()
    explained, scored = counts(source())
    assert firing and explained == firing and scored >= firing  # some features are too dense for window scorers
    assert set(Explanation.objects.filter(feature__source=source()).values_list("method", flat=True)) == {"token-stats"}
    judges = set(ExplanationScore.objects.filter(explanation__feature__source=source()).values_list("scorer", "judge"))
    assert judges <= {(scorer, DEFAULT_JUDGE) for scorer in DEMO_SCORERS} and ("simulation", DEFAULT_JUDGE) in judges
    BuildDemo(stdout=out).explain(source(), sync=True, wait=True)
    assert counts(source()) == (explained, scored)
    assert "tiny-bert/0-mlp is already explained and scored." in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_step_goes_on_when_another_process_writes_meanwhile(computed_run, monkeypatch):
    """A query left open across a step's writes pinned SQLite's connection to its snapshot: once another
    connection had written (the demo's worker saving its previous task's result), the step's next write failed at
    once with "database is locked". Here another connection writes before every feature is worked on."""
    import threading

    from django.db import connection

    real_feature_work = run_steps._feature_work

    def after_a_write_elsewhere(*args, **kwargs):
        def write():
            PipelineRun.objects.filter(pk=computed_run.pk).update(message=f"touched {threading.get_ident()}")
            connection.close()  # this thread's own connection

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        return real_feature_work(*args, **kwargs)

    monkeypatch.setattr(run_steps, "FEATURE_BATCH", 10)  # several batches of the 48 features
    monkeypatch.setattr(run_steps, "_feature_work", after_a_write_elsewhere)

    run = explain_source(source(), scorers=["fuzzing"])

    firing = Feature.objects.filter(source=source(), max_activation__gt=0).count()
    assert run.status == "succeeded" and run.failures == [], run.failures[:1]
    assert counts(source()) == (firing, firing)


def test_a_step_that_breaks_outside_a_feature_ends_the_run_failed_and_resumable(computed_run, monkeypatch):
    """An error no feature owns (here saving the step's progress) used to leave the run "running" forever, and
    whoever followed it waiting; now the run fails with the reason and Resume goes on where it stopped."""
    from django.db import OperationalError

    real_step_save = run_steps._step_save
    calls = []

    def locked_on_the_third_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OperationalError("database is locked")
        return real_step_save(*args, **kwargs)

    monkeypatch.setattr(run_steps, "_step_save", locked_on_the_third_save)
    run = explain_source(source(), scorers=["fuzzing"])

    assert run.status == "failed" and run.finished_at is not None
    assert run.error.startswith("Internal error (OperationalError): database is locked. Resume the run")
    assert 0 < counts(source())[0] < Feature.objects.filter(source=source(), max_activation__gt=0).count()

    run = run_resume(run_id=run.pk).run

    firing = Feature.objects.filter(source=source(), max_activation__gt=0).count()
    assert run.status == "succeeded" and run.error == ""
    assert counts(source()) == (firing, firing)
