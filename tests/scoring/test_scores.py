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
