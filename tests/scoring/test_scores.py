"""The one writer of scores (scoring/services/scores.py): one automated score per revision, scorer and judge,
human scores appended, and a best score that only rises, whoever writes it."""

import pytest
from django.contrib.auth import get_user_model

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import Feature, LanguageModel, Source
from scoring.core.scorers import ScoreResult
from scoring.models import ExplanationScore
from scoring.services.scores import explanation_best_score_raise, human_scores_save, score_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def explanation() -> Explanation:
    model = LanguageModel.objects.create(
        slug="toy", display_name="toy", architecture="bert", n_layers=1, d_model=4, d_mlp=8, vocab_size=10
    )
    source = Source.objects.create(
        model=model, slug="0-mlp", kind="neurons", hook_name="blocks.0.mlp.hook_post", layer=0, n_features=1
    )
    feature = Feature.objects.create(source=source, index=0)
    author = get_user_model().objects.create_user("alice", password="pw")
    return explanation_services.explanation_create(feature=feature, text="the word cat", author=author, embed=False)


def result(scorer: str, value: float) -> ScoreResult:
    return ScoreResult(scorer=scorer, value=value, details={"judge": "offline"}, example_mix={"top": 5})


def test_a_score_already_there_stands_unless_it_is_replaced(explanation):
    revision = explanation.current_revision
    first = score_save(explanation=explanation, revision=revision, result=result("fuzzing", 0.6))
    assert first is not None and first.judge == "offline"

    assert score_save(explanation=explanation, revision=revision, result=result("fuzzing", 0.9)) is None
    assert list(ExplanationScore.objects.values_list("value", flat=True)) == [0.6]

    replaced = score_save(explanation=explanation, revision=revision, result=result("fuzzing", 0.9), replace=True)
    assert replaced is not None
    assert list(ExplanationScore.objects.values_list("pk", "value")) == [(replaced.pk, 0.9)]


def test_human_scores_are_appended_and_cleared_with_their_features_page_changed(explanation):
    revision = explanation.current_revision
    version = Feature.objects.get(pk=explanation.feature_id).page_version
    scores = [ExplanationScore.from_result(result("human", value), explanation=explanation, revision=revision)
              for value in (0.2, 0.4)]  # fmt: skip
    human_scores_save(scores=scores)
    assert sorted(ExplanationScore.objects.filter(scorer="human").values_list("value", flat=True)) == [0.2, 0.4]
    assert Feature.objects.get(pk=explanation.feature_id).page_version > version

    human_scores_save(scores=[], cleared=[explanation])
    assert not ExplanationScore.objects.filter(scorer="human").exists()


def test_a_stale_copy_of_an_explanation_never_lowers_its_best_score(explanation):
    """Two runs scoring one explanation each hold a copy read before the other wrote: the best score is compared
    in the database, where both copies compared it with the value they had read (None) and the later write won."""
    assert explanation.best_score is None
    Explanation.objects.filter(pk=explanation.pk).update(best_score=0.9)  # another run, meanwhile

    assert not explanation_best_score_raise(explanation=explanation, value=0.5)
    assert Explanation.objects.get(pk=explanation.pk).best_score == 0.9

    assert explanation_best_score_raise(explanation=explanation, value=0.95)
    assert Explanation.objects.get(pk=explanation.pk).best_score == explanation.best_score == 0.95


def feature_page(client, explanation) -> str:
    return client.get(explanation.feature.get_absolute_url()).content.decode()


def test_a_new_text_by_someone_else_shows_none_of_the_old_texts_scores(explanation, client):
    """The vandalism case: the page must not vouch for "VANDALISM lol" with the scores of the text it replaced."""
    revision = explanation.current_revision
    score_save(explanation=explanation, revision=revision, result=result("detection", 0.779))
    explanation_best_score_raise(explanation=explanation, value=0.779, revision=revision)
    assert "detection 0.779" in feature_page(client, explanation)

    vandal = get_user_model().objects.create_user("vandal", password="pw")
    client.force_login(vandal)
    edit = client.post(f"/explanations/{explanation.pk}/edit/", {"text": "VANDALISM lol", "base_revision": revision.pk})

    assert edit.status_code == 302
    explanation.refresh_from_db()
    assert explanation.best_score is None, "the best score belonged to the old text"
    page = feature_page(client, explanation)
    assert "VANDALISM lol" in page and "0.779" not in page
    assert ExplanationScore.objects.filter(revision=revision).exists(), "the old text keeps its scores"


def test_a_late_score_of_a_replaced_text_does_not_raise_the_best_score(explanation):
    old = explanation.current_revision
    bob = get_user_model().objects.create_user("bob", password="pw")
    explanation_services.explanation_revise(explanation=explanation, author=bob, text="dogs", embed=False)

    assert not explanation_best_score_raise(explanation=explanation, value=0.9, revision=old)
    explanation.refresh_from_db()
    assert explanation.best_score is None


def test_a_revert_brings_back_the_restored_texts_scores_and_best_score(explanation, client):
    original = explanation.current_revision
    score_save(explanation=explanation, revision=original, result=result("detection", 0.7))
    score_save(explanation=explanation, revision=original, result=result("fuzzing", 0.6))
    explanation_best_score_raise(explanation=explanation, value=0.7, revision=original)
    bob = get_user_model().objects.create_user("bob", password="pw")
    explanation_services.explanation_revise(explanation=explanation, author=bob, text="VANDALISM lol", embed=False)

    client.force_login(explanation.author)
    reverted = client.post(f"/explanations/{explanation.pk}/revert/{original.pk}/")

    assert reverted.status_code == 302
    explanation.refresh_from_db()
    assert explanation.current_revision_id != original.pk, "history only grows: the revert is a new revision"
    assert explanation.best_score == pytest.approx(0.7)
    page = feature_page(client, explanation)
    assert "detection 0.700" in page and "fuzzing 0.600" in page
    assert set(explanation.current_revision.scores.values_list("scorer", "value")) == {
        ("detection", 0.7),
        ("fuzzing", 0.6),
    }


def test_a_new_text_is_queued_for_the_offline_scorers_and_says_so_until_scored(
    explanation, client, settings, django_capture_on_commit_callbacks
):
    from features.models import PipelineRun

    settings.WIKI_SCORE_NEW_REVISIONS = True
    bob = get_user_model().objects.create_user("bob", password="pw")
    with django_capture_on_commit_callbacks(execute=True):
        revision = explanation_services.explanation_revise(
            explanation=explanation, author=bob, text="cats on mats", embed=False
        )

    run = PipelineRun.objects.get(kind=PipelineRun.Kind.SCORING)
    assert run.params["explanation"] == explanation.pk and run.status == PipelineRun.Status.QUEUED
    assert "detection" in run.params["scorers"] and run.params["judge"] == "semantic"
    assert "being scored" in feature_page(client, explanation)

    score_save(explanation=explanation, revision=revision, result=result("detection", 0.5))
    PipelineRun.objects.filter(pk=run.pk).update(status=PipelineRun.Status.SUCCEEDED)
    page = feature_page(client, explanation)
    assert "being scored" not in page and "detection 0.500" in page


def test_a_revert_is_not_scored_again(explanation, settings, django_capture_on_commit_callbacks):
    from features.models import PipelineRun

    original = explanation.current_revision
    bob = get_user_model().objects.create_user("bob", password="pw")
    explanation_services.explanation_revise(explanation=explanation, author=bob, text="dogs", embed=False)
    settings.WIKI_SCORE_NEW_REVISIONS = True
    with django_capture_on_commit_callbacks(execute=True):
        explanation_services.explanation_revert(explanation=explanation, revision=original, author=explanation.author)

    assert not PipelineRun.objects.exists(), "the restored text's scores were carried over"


def test_scores_stored_under_the_former_offline_judge_become_the_literal_judges(explanation):
    """Migration 0004: before the semantic judge, `offline` meant the literal judge; the rows say so now."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("scoring.migrations.0004_offline_judge_is_literal")
    revision = explanation.current_revision
    old = score_save(explanation=explanation, revision=revision, result=result("fuzzing", 0.6))
    llm = ExplanationScore.objects.create(
        explanation=explanation, revision=revision, scorer="detection", judge="gpt-4o-mini", value=0.7
    )

    migration.offline_to_literal(apps, None)

    old.refresh_from_db()
    llm.refresh_from_db()
    assert (old.judge, old.details["judge"], old.value) == ("literal", "literal", 0.6)
    assert llm.judge == "gpt-4o-mini"
