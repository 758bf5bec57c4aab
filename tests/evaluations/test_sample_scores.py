"""score_sample: the fixed sample's best explanations get their detection and fuzzing scores, once."""

from io import StringIO

import pytest
from django.core.management import call_command

from evaluations.selectors import interpretability, sample_best_explanations
from features.models import PipelineRun, Source
from scoring.models import ExplanationScore

from ..features.wiki_data import add_explanation, get_feature

pytestmark = pytest.mark.django_db


def test_score_sample_scores_the_sampled_best_explanations_and_lists_the_unexplained(computed_run):
    source = Source.objects.get(model__slug="tiny-bert", slug="0-mlp")
    sample = list(sample_best_explanations(source, sample_size=50))
    explained = add_explanation(get_feature("0-mlp", sample[0]), "the word cat", vote_score=5)
    assert len(sample) == source.n_features == 48  # a source smaller than the sample is sampled whole
    worse = add_explanation(get_feature("0-mlp", sample[0]), "a worse one", vote_score=-3)
    out = StringIO()
    call_command("score_sample", "tiny-bert/0-mlp", "--judge=literal", "--sync", stdout=out)
    run = PipelineRun.objects.get(kind="scoring")
    assert run.params["explanation"] == explained.pk and run.params["scorers"] == ["detection", "fuzzing"]
    # the random BERT's neuron fires on every example, so detection (which needs silent ones) refuses it, saying so
    assert set(ExplanationScore.objects.values_list("explanation_id", "scorer")) == {(explained.pk, "fuzzing")}
    assert "detection needs both active and silent examples" in out.getvalue()
    assert worse.pk not in {pk for pk, _ in ExplanationScore.objects.values_list("explanation_id", "scorer")}
    assert f"{len(sample) - 1} sampled feature(s) have no explanation yet" in out.getvalue()
    figures = interpretability(source)
    assert figures.explained == 1 and figures.unscored == 1 and figures.scores["fuzzing"].n == 1
    assert figures.scores["detection"] is None
    call_command("score_sample", "tiny-bert/0-mlp", "--judge=literal", "--sync", stdout=StringIO())
    assert PipelineRun.objects.get(pk__gt=run.pk).params["scorers"] == ["detection"]  # only what is missing
