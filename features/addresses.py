"""Feature addresses (model/source/index): parsing what people type or paste, finding the page it names,
and, when there is none, saying what is missing and what exists instead."""

import difflib
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.urls import reverse

from .models import LanguageModel, Source

# Separators people type or paste between model, source and index.
SEPARATORS = re.compile(r"[/\s]+")


@dataclass
class Missing:
    """What a 404 page says was not found, and links to what exists instead."""

    message: str
    suggestions_label: str = ""
    suggestions: list[tuple[str, str]] = field(default_factory=list)  # (label, url)


def parse_address(query: str) -> list[str]:
    """The segments of 'model/source/index', 'model/source' or 'model', typed or inside a pasted URL."""
    query = query.strip()
    if "://" in query:
        query = urlsplit(query).path
    return [segment for segment in SEPARATORS.split(query.lower()) if segment]


def all_models_missing(message: str) -> Missing:
    models = list(LanguageModel.objects.order_by("slug")[:200])
    if not models:
        return Missing(message)
    return Missing(
        message, "Models in this encyclopedia:", [(model.slug, model.get_absolute_url()) for model in models]
    )


def missing_model(model_slug: str) -> Missing:
    missing = all_models_missing(f"There is no model {model_slug}.")
    if not missing.suggestions:
        missing.message = f"There is no model {model_slug}: no models have been added yet."
        return missing
    close = difflib.get_close_matches(model_slug, [label for label, _ in missing.suggestions], n=3, cutoff=0.6)
    if close:
        missing.message += f" Did you mean {', '.join(close)}?"
    return missing


def missing_source(model: LanguageModel, source_slug: str) -> Missing:
    sources = list(model.sources.order_by("layer", "slug"))
    if not sources:
        return Missing(
            f"{model.slug} has no source {source_slug}; it has no sources yet.",
            "See the model's page:",
            [(model.slug, model.get_absolute_url())],
        )
    return Missing(
        f"{model.slug} has no source {source_slug}; its sources are {', '.join(s.slug for s in sources)}.",
        f"Sources of {model.slug}:",
        [(source.slug, source.get_absolute_url()) for source in sources],
    )


def missing_feature(source: Source, index: int | str) -> Missing:
    """The index is out of range, not a number, or in range but not computed yet."""
    link = [(str(source), source.get_absolute_url())]
    last = source.n_features - 1
    if last < 0:
        return Missing(f"{source} has no features yet.", "See its page:", link)
    if isinstance(index, str):
        return Missing(f"{index} is not a feature index; {source} has indices 0-{last}.", "Browse its features:", link)
    if index > last:
        message = f"Index {index} is out of range: 0-{last} ({source} has {source.n_features} features)."
        return Missing(message, "Browse its features:", link)
    return Missing(f"{source} has no computed feature {index} yet.", "Browse the features it has:", link)


def locate(model_slug: str, source_slug: str | None = None, index: int | str | None = None) -> str | Missing:
    """The URL of the page of a model, a source or a feature; or what is missing on the way there."""
    model = LanguageModel.objects.filter(slug=model_slug).first()
    if model is None:
        return missing_model(model_slug)
    if source_slug is None:
        return model.get_absolute_url()
    source = model.sources.filter(slug=source_slug).first()
    if source is None:
        return missing_source(model, source_slug)
    if index is None:
        return source.get_absolute_url()
    if isinstance(index, int) and source.features.filter(index=index).exists():
        return reverse("front:feature", args=[model.slug, source.slug, index])
    return missing_feature(source, index)


def locate_query(query: str) -> str | Missing:
    """Where the jump box's query leads."""
    segments = parse_address(query)
    if not segments or len(segments) > 3:
        return all_models_missing(
            f"{query} is not a feature address. Type model/source/index (e.g. tiny-bert/0-mlp/5), "
            "model/source, or just a model."
        )
    model_slug, source_slug, index = (segments + [None, None])[:3]
    if index is not None and re.fullmatch(r"[0-9]+", index):
        index = int(index)
    return locate(model_slug, source_slug, index)
