"""Registering what runs read: a model (a local checkpoint directory) and a dictionary (a SAELens-format
directory) as one of a model's sources. Each is loaded once to check it before anything is written."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError

from features.models import LanguageModel, Source, slug_validator, validate_not_reserved
from features.pipeline import cache
from features.pipeline.errors import PipelineInputError
from features.pipeline.loading import LoadedModel, load_language_model
from features.pipeline.sources import dictionary_source
from features.placement import default_placement


def model_register(
    *,
    slug: str,
    path: str,
    display_name: str = "",
    description: str = "",
    created_by: AbstractBaseUser | None = None,
) -> LanguageModel:
    """Register (or update) a local checkpoint directory as a model. Loads it once to validate it."""
    model_slug_validate(slug=slug)
    loaded = load_language_model(path)
    return model_save(
        loaded=loaded, slug=slug, display_name=display_name, description=description, created_by=created_by
    )


def model_slug_validate(*, slug: str) -> None:
    """Raise PipelineInputError unless `slug` can name a model (a URL's first segment no page has taken)."""
    try:
        slug_validator(slug)
        validate_not_reserved(slug)
    except ValidationError as error:
        raise PipelineInputError(f"Invalid model name {slug!r}: {' '.join(error.messages)}") from error


def model_save(
    *,
    loaded: LoadedModel,
    slug: str,
    display_name: str = "",
    description: str = "",
    created_by: AbstractBaseUser | None = None,
) -> LanguageModel:
    """Create or update the model `slug` from a loaded checkpoint (a run registers its model when it succeeds)."""
    fields = {
        "display_name": display_name or slug,
        "path": loaded.path,
        "architecture": loaded.architecture,
        "n_layers": loaded.n_layers,
        "d_model": loaded.d_model,
        "d_mlp": loaded.d_mlp,
        "vocab_size": loaded.vocab_size,
    }
    if description:
        fields["description"] = description
    model_slug_validate(slug=slug)
    model, _ = LanguageModel.objects.update_or_create(
        slug=slug, defaults=fields, create_defaults={**fields, "created_by": created_by}
    )
    return model


def dictionary_register(*, model: LanguageModel, path: str, slug: str, hook_name: str = "") -> Source:
    """Register a SAELens-format dictionary directory as a source of `model`, after checking it loads
    with sae-lens and reads a hook of the model with the right width. Re-registering replaces it."""
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise PipelineInputError(f"Invalid source name {slug!r}: {' '.join(error.messages)}") from error
    from features.pipeline.dictionaries import load_dictionary

    dictionary = load_dictionary(path, hook_name=hook_name)
    # The model as the web runs it, which this process then has loaded already for the next request.
    spec = dictionary_source(cache.models.get(model.path, **default_placement()), dictionary, slug)
    set_name = slug.split("-", 1)[1] if "-" in slug and slug.split("-", 1)[0].isdigit() else slug
    source, _ = Source.objects.update_or_create(
        model=model,
        slug=slug,
        defaults={
            "kind": Source.Kind.TRANSCODER if dictionary.is_transcoder else Source.Kind.SAE,
            "hook_name": spec.hook.name,
            "layer": spec.hook.layer,
            "set_name": set_name,
            "dictionary_path": dictionary.path,
            "n_features": dictionary.d_sae,
            "config": {
                "architecture": dictionary.architecture,
                "d_in": dictionary.d_in,
                "d_sae": dictionary.d_sae,
                "hook_name_out": dictionary.hook_name_out,
                "prepend_bos": dictionary.prepend_bos,
            },
        },
    )
    cache.dictionaries.clear()  # a replaced directory must be read again
    return source
