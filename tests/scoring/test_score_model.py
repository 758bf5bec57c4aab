import pytest

from explanations.models import Explanation, ExplanationRevision
from features.models import Feature, LanguageModel, Source
from scoring.core.judges import LiteralJudge
from scoring.core.scorers import get_scorer
from scoring.core.synthetic import COLOUR_CAT, generate_corpus, planted_example_set
from scoring.models import ExplanationScore


@pytest.fixture
def explanation(db):
    model = LanguageModel.objects.create(
        slug="tiny",
        display_name="tiny",
        path="/tmp/x",
        architecture="bert",
        n_layers=1,
        d_model=4,
        d_mlp=8,
        vocab_size=10,
    )
    source = Source.objects.create(
        model=model,
        slug="0-mlp",
        kind="neurons",
        hook_name="blocks.0.mlp.hook_post",
        layer=0,
        set_name="mlp",
        n_features=8,
    )
    explanation = Explanation.objects.create(feature=Feature.objects.create(source=source, index=3), method="x")
    revision = ExplanationRevision.objects.create(explanation=explanation, text=COLOUR_CAT.context_explanation)
    explanation.current_revision = revision
    explanation.save()
    return explanation


def test_a_score_stores_what_the_scorer_returned_for_the_revision_it_scored(explanation):
    examples = planted_example_set(generate_corpus(COLOUR_CAT, n_windows=800))
    result = get_scorer("detection").score(explanation.text, examples, judge=LiteralJudge())
    ExplanationScore.from_result(result, explanation=explanation, revision=explanation.current_revision).save()
    stored = ExplanationScore.objects.get()
    assert (stored.scorer, stored.value, stored.judge) == ("detection", 1.0, "literal")
    assert stored.example_mix == {"top": 20, "intervals": 0, "random": 20, "hard_negatives": 20}
    assert stored.details["by_kind"]["hard_negative"]["accuracy"] == 1.0
    assert list(explanation.current_revision.scores.all()) == [stored]
