"""Registering what runs read: a model (a local checkpoint directory) and a dictionary as one of a model's
sources. A dictionary in another format (a sae-lens release from the local Hugging Face cache, Gemma Scope's
params.npz, a circuit-tracer transcoder file) is written once as a SAELens directory under
NEURONPEDIA_DATA_DIR/dictionaries/<model>/<slug>/, so runs read one format. Each is loaded once to check it
before anything is written."""

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
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


def source_slug_validate(*, slug: str) -> None:
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise PipelineInputError(f"Invalid source name {slug!r}: {' '.join(error.messages)}") from error


def dictionary_register(
    *, model: LanguageModel, path: str, slug: str, hook_name: str = "", provenance: dict[str, Any] | None = None
) -> Source:
    """Register a SAELens-format dictionary directory as a source of `model`, after checking it loads
    with sae-lens and reads a hook of the model with the right width. Re-registering replaces it.
    `provenance` (where a converted dictionary came from: release, sae_id, revision, ...) joins its config."""
    source_slug_validate(slug=slug)
    from features.pipeline.dictionaries import load_dictionary

    dictionary = load_dictionary(path, hook_name=hook_name)
    # The model as the web runs it, which this process then has loaded already for the next request.
    spec = dictionary_source(cache.models.get(model.path, **default_placement()), dictionary, slug)
    metadata = dictionary.config.get("metadata") or {}
    config = {
        "format": "saelens",
        "model_name": metadata.get("model_name"),
        "context_size": metadata.get("context_size"),
        "dataset_path": metadata.get("dataset_path"),
        "neuronpedia_id": metadata.get("neuronpedia_id"),
        "normalize_activations": dictionary.config.get("normalize_activations", "none"),
        "apply_b_dec_to_input": dictionary.config.get("apply_b_dec_to_input"),
        **(provenance or {}),
        "architecture": dictionary.architecture,
        "d_in": dictionary.d_in,
        "d_sae": dictionary.d_sae,
        "hook_name": spec.hook.name,
        "hook_name_out": dictionary.hook_name_out,
        "prepend_bos": dictionary.prepend_bos,
        "centre_inputs": spec.centre,
    }
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
            "config": config,
        },
    )
    cache.dictionaries.clear()  # a replaced directory must be read again
    return source


def dictionary_directory(*, model: LanguageModel, slug: str) -> Path:
    """Where a converted dictionary of `model` named `slug` is kept."""
    return Path(settings.NEURONPEDIA_DATA_DIR) / "dictionaries" / model.slug / slug


def dictionary_import(*, model: LanguageModel, slug: str, read: Callable[[], Any], hook_name: str = "") -> Source:
    """Read a dictionary in another format (`read` returns a releases.PretrainedDictionary), write it as a
    SAELens directory and register it. It is checked against the model in a staging directory first, so a
    dictionary that does not fit leaves no files and no rows, and a replaced one stays until the new one fits."""
    from features.pipeline.dictionaries import load_dictionary
    from features.pipeline.dictionary_formats import save_dictionary

    source_slug_validate(slug=slug)
    final = dictionary_directory(model=model, slug=slug)
    staging = final.with_name(f".{slug}.{uuid.uuid4().hex[:8]}.incoming")
    try:
        dictionary = read()
        save_dictionary(dictionary, staging)
        loaded = load_dictionary(staging, hook_name=hook_name)
        dictionary_source(cache.models.get(model.path, **default_placement()), loaded, slug, hook_name=hook_name)
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dictionary_register(
        model=model, path=str(final), slug=slug, hook_name=hook_name, provenance=dictionary.provenance
    )


def dictionary_register_release(
    *, model: LanguageModel, release: str, sae_id: str, slug: str, hook_name: str = ""
) -> Source:
    """Register `sae_id` of a sae-lens release from the local Hugging Face cache (never the network)."""
    from features.pipeline.releases import load_release

    return dictionary_import(model=model, slug=slug, read=lambda: load_release(release, sae_id), hook_name=hook_name)


def dictionary_register_file(
    *, model: LanguageModel, path: str, slug: str, hook_name: str = "", hook_name_out: str = "", layer=None
) -> Source:
    """Register a dictionary from files on disk in any format we read: a SAELens directory is registered where
    it is; Gemma Scope's params.npz and circuit-tracer transcoder files are converted once."""
    from features.pipeline import dictionary_formats as formats

    kind = formats.dictionary_format(path)
    if (hook_name_out and kind == "saelens") or (layer is not None and kind != "circuit-tracer"):
        raise PipelineInputError(
            f"A {kind} dictionary says where it writes and which layer it reads: --hook-out is for params.npz and "
            "circuit-tracer files, --layer for circuit-tracer files."
        )
    if kind == "saelens":
        return dictionary_register(model=model, path=path, slug=slug, hook_name=hook_name)
    if kind == "gemma-scope":
        read = lambda: formats.read_gemma_scope(path, hook_name=hook_name, hook_name_out=hook_name_out)  # noqa: E731
    else:
        read = lambda: formats.read_circuit_tracer_transcoder(  # noqa: E731
            path, hook_name=hook_name, hook_name_out=hook_name_out, layer=layer
        )
    return dictionary_import(model=model, slug=slug, read=read)
