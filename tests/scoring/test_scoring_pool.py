"""A source's scoring windows computed once for all its features (the shared pool, one batched pass), scoring as
the per-feature path does, and an explain run that queues its source's score run when every feature is explained."""

import pytest

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import Feature, PipelineRun
from features.services.runs import run_enqueue
from scoring import stored_examples
from scoring.models import ExplanationScore
from scoring.services.runs import PipelineRequestError, explain_run_create
from scoring.services.scores import explanation_score
from scoring.stored_examples import FeatureExamples
from tests.scoring.test_pipelines import _silent_key_token, source

pytestmark = pytest.mark.django_db

SCORERS = ["simulation", "fuzzing"]


def _scores(explanations: list[Explanation], examples: FeatureExamples) -> dict:
    out = {}
    for explanation in explanations:
        for score in explanation_score(explanation=explanation, scorers=SCORERS, examples=examples, force=True):
            out[(explanation.pk, score.scorer)] = (score.value, score.example_mix, score.details["shown"])
    return out


def test_a_batched_run_computes_the_pool_once_and_scores_exactly_as_the_per_feature_path(
    computed_run, django_user_model, monkeypatch
):
    src = source("2-mlp")
    author = django_user_model.objects.create_user("alice", password="pw")
    chosen = []
    for feature in Feature.objects.filter(source=src, max_activation__gt=0).order_by("index"):
        if token := _silent_key_token(feature):
            chosen.append((feature, token))
        if len(chosen) == 4:
            break
    explanations = [
        explanation_services.explanation_create(feature=feature, text=f'the word "{token}"', author=author, embed=False)
        for feature, token in chosen
    ]

    batched = FeatureExamples(src, batched=True)
    together = _scores(explanations[:1], batched)
    after_first = batched.forward_windows
    together |= _scores(explanations[1:], batched)
    # The pool and the first feature's random windows are computed once; no later feature runs the model.
    assert 0 < after_first <= len(batched.pool_ids) + batched.n_random
    assert batched.forward_windows == after_first

    # The per-feature path: one feature's values at a time, by its own replay (no source-wide pass at all).
    monkeypatch.setattr(stored_examples, "SOURCE_WIDE_MAX_BYTES", 0)
    one_by_one = FeatureExamples(src)
    alone = _scores(explanations, one_by_one)
    assert one_by_one.forward_windows > 0 and one_by_one._pool_values is None  # it ran each feature's windows

    assert together.keys() == alone.keys() and len(together) == len(SCORERS) * len(explanations)
    assert any(mix["hard_negatives"] > 0 for _, mix, _ in together.values())
    for key, (value, mix, shown) in together.items():
        alone_value, alone_mix, alone_shown = alone[key]
        assert value == pytest.approx(alone_value, abs=1e-9), key
        assert mix == alone_mix
        assert {k: e["window"] for k, e in shown.items()} == {k: e["window"] for k, e in alone_shown.items()}
        for name, entry in shown.items():
            assert entry["values"].keys() == alone_shown[name]["values"].keys()
            for position, number in entry["values"].items():
                assert number == pytest.approx(alone_shown[name]["values"][position], abs=1e-4)


def test_an_explain_run_scores_after_every_feature_is_explained(computed_run):
    src = source("0-mlp")
    run, created = explain_run_create(source=src, score_after=SCORERS, sync=True)
    assert created
    run = run_enqueue(run=run)

    assert run.status == "succeeded", run.error
    firing = Feature.objects.filter(source=src, max_activation__gt=0).count()
    assert Explanation.objects.filter(feature__source=src).count() == firing
    score_run = PipelineRun.objects.get(pk=run.params["score_run"])
    assert score_run.kind == PipelineRun.Kind.SCORING and score_run.status == "succeeded", score_run.error
    assert score_run.params["scorers"] == SCORERS and score_run.params["source"] == src.pk
    # The score run began only once the explain run had explained every feature, and it saw them all.
    assert score_run.started_at >= run.finished_at
    assert run.items_done == firing and score_run.items_total == firing
    scores = ExplanationScore.objects.filter(explanation__feature__source=src)
    scored = set(scores.values_list("explanation", flat=True))
    assert len(scored) >= firing - score_run.params.get("failed_count", 0)
    assert run.params["scores_written"] == 0 and score_run.params["scores_written"] > 0
    assert f"run #{score_run.pk}" in run.message


def test_scoring_after_explaining_is_refused_for_one_feature_and_for_an_unknown_scorer(computed_run):
    feature = Feature.objects.filter(source=source(), max_activation__gt=0).first()
    with pytest.raises(PipelineRequestError, match="whole source"):
        explain_run_create(feature=feature, score_after=SCORERS)
    with pytest.raises(PipelineRequestError, match="Unknown scorer"):
        explain_run_create(source=source(), score_after=["nonsense"])
    assert not PipelineRun.objects.filter(kind=PipelineRun.Kind.EXPLANATIONS).exists()


def test_the_scorers_of_one_explanation_read_each_window_once_and_score_as_separate_judges(
    computed_run, django_user_model, monkeypatch
):
    from scoring.core.offline_judges import DEFAULT_JUDGE, offline_judge
    from scoring.core.scorers import get_scorer
    from scoring.core.semantic import SemanticJudge

    src = source("2-mlp")
    feature = Feature.objects.filter(source=src, max_activation__gt=0).order_by("index").first()
    author = django_user_model.objects.create_user("bob", password="pw")
    explanation = explanation_services.explanation_create(
        feature=feature, text='the word "the"', author=author, embed=False
    )
    reads = []
    read = SemanticJudge.probabilities
    monkeypatch.setattr(
        SemanticJudge,
        "probabilities",
        lambda self, text, tokens: reads.append(tuple(tokens)) or read(self, text, tokens),
    )
    examples = FeatureExamples(src)
    scorers = ["simulation", "detection", "fuzzing"]
    try:
        scores = explanation_score(explanation=explanation, scorers=scorers, examples=examples, force=True)
    except Exception as incomplete:  # detection may find every window firing; the others are still written
        scores = incomplete.written
    assert scores and len(reads) == len(set(reads))  # no window read twice

    example_set = examples.example_set(examples.feature_records(feature), explanation=explanation.text).example_set
    for score in scores:  # each equals its scorer with a judge of its own
        alone = get_scorer(score.scorer).score(explanation.text, example_set, judge=offline_judge(DEFAULT_JUDGE))
        assert score.value == pytest.approx(alone.value, abs=1e-12)
