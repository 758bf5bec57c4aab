"""Builders for the wiki data that page tests put on top of the computed_run fixture."""

from django.contrib.auth import get_user_model

from explanations.models import Comment, Explanation, ExplanationRevision
from features.models import Feature
from scoring.models import ExplanationScore


def make_user(username: str):
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password="pw")


def get_feature(source_slug: str, index: int) -> Feature:
    return Feature.objects.select_related("source__model").get(
        source__model__slug="tiny-bert", source__slug=source_slug, index=index
    )


def add_explanation(
    feature: Feature,
    text: str,
    *,
    author=None,
    method: str = "",
    best_score: float | None = None,
    vote_score: int = 0,
    hidden: bool = False,
    scores: tuple[tuple[str, float], ...] = (),
    earlier_texts: tuple[str, ...] = (),
) -> Explanation:
    """An explanation whose current revision says `text`, after revisions saying `earlier_texts`;
    scores are (scorer, value) pairs, created in order, so a scorer's last pair is its latest value."""
    explanation = Explanation.objects.create(
        feature=feature, author=author, method=method, best_score=best_score, vote_score=vote_score, hidden=hidden
    )
    previous = None
    for revision_text in [*earlier_texts, text]:
        previous = ExplanationRevision.objects.create(
            explanation=explanation, text=revision_text, author=author, previous=previous
        )
    explanation.current_revision = previous
    explanation.save(update_fields=["current_revision"])
    for scorer, value in scores:
        ExplanationScore.objects.create(explanation=explanation, scorer=scorer, value=value)
    return explanation


def add_comment(feature: Feature, author, body: str, *, parent: Comment | None = None, **fields) -> Comment:
    return Comment.objects.create(feature=feature, author=author, body=body, parent=parent, **fields)
