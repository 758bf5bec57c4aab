"""The game's verified data as judge puzzles (bench/judges.py --database, set (c)): for each feature whose
explanations Verify-mode players scored (scorer `human`, of each explanation's current text), the explanation
they rated highest, when strictly highest and at least `min_agreement`, is the true one and the feature's
other human-scored explanations are the false ones; the examples are the feature's stored windows, as a
scoring run builds them."""

from dataclasses import dataclass

from scoring.core.examples import ExampleSet

from .models import ExplanationScore
from .stored_examples import FeatureExamples

MIN_AGREEMENT = 0.5  # the human score is the share of players who agree: below half, nothing was verified


@dataclass(frozen=True)
class VerifiedPuzzle:
    name: str
    examples: ExampleSet
    explanations: list[str]  # the true one first
    human_scores: list[float]


def verified_puzzles(*, min_agreement: float = MIN_AGREEMENT) -> list[VerifiedPuzzle]:
    latest = (
        ExplanationScore.objects.filter(scorer="human", explanation__hidden=False)
        .latest_per_scorer()
        .select_related("explanation__current_revision", "explanation__feature__source__model")
        .order_by("explanation__feature_id", "explanation_id")
    )
    by_feature: dict[int, list[ExplanationScore]] = {}
    for score in latest:
        if score.explanation.current_revision_id is not None:
            by_feature.setdefault(score.explanation.feature_id, []).append(score)
    puzzles = []
    examples_of_source: dict[int, FeatureExamples] = {}
    for scores in by_feature.values():
        scores.sort(key=lambda score: -score.value)
        if len(scores) < 2 or scores[0].value < min_agreement or scores[0].value == scores[1].value:
            continue  # nothing to compare, nothing verified, or no single best
        feature = scores[0].explanation.feature
        source = feature.source
        loader = examples_of_source.setdefault(source.pk, FeatureExamples(source))
        records = loader.feature_records(feature)
        if not any(record.max_activation > 0 for record in records.records()):
            continue
        texts = [score.explanation.text for score in scores]
        examples = loader.example_set(records, explanation=texts[0]).example_set
        puzzles.append(
            VerifiedPuzzle(
                name=f"{feature}", examples=examples, explanations=texts, human_scores=[s.value for s in scores]
            )
        )
    return puzzles
