"""Arguments shared by explain_source and score_source."""

from django.core.management.base import CommandError

from features.models import Source
from scoring.core.scorers import SCORERS


def source_arg(value: str) -> Source:
    model_slug, _, source_slug = value.strip("/").partition("/")
    source = Source.objects.select_related("model").filter(model__slug=model_slug, slug=source_slug).first()
    if source is None:
        known = ", ".join(str(s) for s in Source.objects.select_related("model")[:20]) or "none yet"
        raise CommandError(f"There is no source {value!r}; give MODEL/SOURCE (known: {known}).")
    return source


def scorer_list(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCORERS or name == "human"]
    if unknown:
        choices = ", ".join(sorted(set(SCORERS) - {"human"}))
        raise CommandError(f"Unknown scorer {unknown[0]!r}; choose from {choices}.")
    return names
