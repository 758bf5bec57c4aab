"""Machine explanations: one per feature, explainer method and explainer model (a database constraint), written
by an explanation run and found again, not rewritten, by the next one."""

from django.db import IntegrityError, transaction

from explanations.models import Explanation
from explanations.services import explanations as explanation_services
from features.models import Feature
from scoring.explainers import Explainer
from scoring.stored_examples import FeatureRecords

from .backends import explainer_model_name


def generated_explanation_get_or_create(
    *, feature: Feature, explainer: Explainer, records: FeatureRecords
) -> tuple[Explanation, bool]:
    """The feature's explanation by this explainer (method + model), written now if there is none."""
    model_name = explainer_model_name(explainer=explainer)
    existing = Explanation.objects.filter(
        feature=feature, generated=True, method=explainer.name, explainer_model=model_name
    ).first()
    if existing is not None:
        return existing, False
    generated = explainer.explain(records.records(), max_activation=feature.max_activation or None)
    try:
        with transaction.atomic():
            explanation = explanation_services.explanation_create(
                feature=feature,
                text=generated.text,
                method=generated.method,
                explainer_model=model_name,
                rule_text=generated.rule or "",
                message=f"Written by {generated.method} ({model_name})",
                generated=True,
                embed=False,  # embedded in batches by the run step
            )
    except IntegrityError:  # another run wrote it meanwhile: theirs stands
        return Explanation.objects.get(
            feature=feature, generated=True, method=explainer.name, explainer_model=model_name
        ), False
    return explanation, True
