"""SAELens releases (its pretrained registry: `gemma-scope-2b-pt-res`, `gpt2-small-res-jb`, ...), read from the
local Hugging Face cache with sae-lens's own loaders and never from the network.

A release names a Hugging Face repository and, per `sae_id`, a folder in it and the sae-lens loader that reads
it. We look the name up in sae-lens's registry, check that the loader's files are in the local cache (whatever
the user has downloaded), and load with `SAE.from_pretrained_with_cfg_and_sparsity` under the hub's offline
mode, so what we register is exactly what sae-lens gives on the same files.
"""

import difflib
import fnmatch
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .dictionaries import RUNTIME_NORMALIZATIONS
from .errors import PipelineInputError

# Loaders that read tensor shapes over HTTP (range requests), which no local cache can answer.
NEEDS_NETWORK = {
    "gemma_3": "sae-lens's Gemma Scope 2 loader reads the tensor shapes over HTTP",
    "mntss_clt_layer_transcoder": "sae-lens's cross-layer transcoder loader reads the tensor shapes over HTTP",
}

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # a source name (features.models.slug_validator, 64 long)

_offline_lock = threading.Lock()


@dataclass
class Release:
    name: str
    repo_id: str
    model: str
    conversion: str
    sae_ids: dict[str, str]  # sae_id -> folder (or file) in the repository
    neuronpedia_ids: dict[str, str | None]
    norm_scaling_factors: dict[str, float]


@dataclass
class PretrainedDictionary:
    sae: torch.nn.Module
    provenance: dict[str, Any] = field(default_factory=dict)


def release_get(name: str) -> Release:
    """The release `name` of sae-lens's registry, or a PipelineInputError suggesting close names."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    directory = get_pretrained_saes_directory()
    lookup = directory.get(name)
    if lookup is None:
        close = difflib.get_close_matches(name, directory, n=5, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else f" It knows {len(directory)} releases."
        raise PipelineInputError(f"sae-lens's registry has no release {name!r}.{hint}")
    return Release(
        name=name,
        repo_id=lookup.repo_id,
        model=lookup.model,
        conversion=lookup.conversion_func or "sae_lens",
        sae_ids=dict(lookup.saes_map),
        neuronpedia_ids=dict(lookup.neuronpedia_id),
        norm_scaling_factors=dict(lookup.norm_scaling_factor),
    )


def release_folder(release: Release, sae_id: str) -> str:
    folder = release.sae_ids.get(sae_id)
    if folder is None:
        close = difflib.get_close_matches(sae_id, release.sae_ids, n=5, cutoff=0.6)
        shown = close or list(release.sae_ids)[:5]
        raise PipelineInputError(
            f"Release {release.name!r} has no sae_id {sae_id!r}; {'close ones' if close else 'some it has'}: "
            f"{', '.join(shown)} ({len(release.sae_ids)} in all)."
        )
    return folder


def hub_cache_dir() -> Path:
    """Where the hub keeps downloads (HF_HUB_CACHE, or HF_HOME/hub), as huggingface_hub resolves it now."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def snapshot_revision(repo_id: str, revision: str = "main") -> str | None:
    """The commit the local cache's `revision` ref points at, or None when the repository is not cached."""
    from huggingface_hub.file_download import repo_folder_name

    ref = hub_cache_dir() / repo_folder_name(repo_id=repo_id, repo_type="model") / "refs" / revision
    return ref.read_text().strip() if ref.is_file() else None


def needed_files(release: Release, folder: str) -> list[list[str]]:
    """The files the release's sae-lens loader reads for `folder`: each entry lists alternatives (any one will
    do). Optional files (a log-sparsity file, a config the loader can infer) are left out."""
    conversion = release.conversion
    if conversion == "sae_lens":
        return [[f"{folder}/cfg.json"], [f"{folder}/sae_weights.safetensors"]]
    if conversion in ("gemma_2", "gemma_2_transcoder"):
        return [[f"{folder}/params.npz"]]
    if conversion == "mwhanna_transcoder":
        return [[folder], ["wandb-config.yaml", "wanb-config.yaml"]]
    if conversion in ("llama_scope", "llama_scope_r1_distill"):
        return [[f"{folder}/hyperparams.json"], [f"{folder}/checkpoints/final.safetensors"]]
    return [[folder]]


def missing_files(release: Release, folder: str) -> list[str]:
    """The needed files not in the local cache (for each, the first name the loader tries)."""
    from huggingface_hub import try_to_load_from_cache

    cache_dir = str(hub_cache_dir())
    missing = []
    for alternatives in needed_files(release, folder):
        found = [try_to_load_from_cache(release.repo_id, name, cache_dir=cache_dir) for name in alternatives]
        if not any(isinstance(path, str) for path in found):
            missing.append(alternatives[0])
    return missing


def missing_files_message(release: Release, sae_id: str, missing: list[str]) -> str:
    revision = snapshot_revision(release.repo_id)
    where = f"revision {revision}" if revision else "no snapshot at all"
    return (
        f"{release.name}/{sae_id} is not downloaded: the local Hugging Face cache ({hub_cache_dir()}) lacks "
        f"{', '.join(missing)} of {release.repo_id} ({where}). Download it where the network is allowed with "
        f"`hf download {release.repo_id} {' '.join(missing)}` (`huggingface-cli download` on older "
        "huggingface_hub), or point HF_HOME / HF_HUB_CACHE at a cache that has it."
    )


@contextmanager
def hub_offline() -> Iterator[None]:
    """Make huggingface_hub answer from the local cache only. Its offline flag is read at import time from
    HF_HUB_OFFLINE, and at call time from this module constant, so we set the constant for the call."""
    from huggingface_hub import constants

    with _offline_lock:
        previous = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = previous


# Loaders that take d_in and d_sae from the repository's and folder's names (gemma-2-2b: 2304, width_16k), not
# from the files.
SHAPES_FROM_NAMES = {"gemma_2", "gemma_2_transcoder"}


def _loader_wrapper(loader, conversion: str, seen: dict):
    """Wrap a sae-lens loader to note the released normalisation and, for loaders that derive the widths from
    names, take d_in/d_sae/d_out from the weights instead: the files are the truth, and a dictionary for another
    width is then refused against the model's hook rather than failing inside sae-lens on a mismatch."""

    def load(repo_id, folder_name, device, force_download, cfg_overrides):
        config, state_dict, log_sparsity = loader(
            repo_id=repo_id,
            folder_name=folder_name,
            device=device,
            force_download=force_download,
            cfg_overrides=cfg_overrides,
        )
        seen["normalize_activations"] = config.get("normalize_activations")
        w_enc, w_dec = state_dict.get("W_enc"), state_dict.get("W_dec")
        if conversion in SHAPES_FROM_NAMES and isinstance(w_enc, torch.Tensor) and w_enc.ndim == 2:
            config["d_in"], config["d_sae"] = (int(n) for n in w_enc.shape)
            if "d_out" in config and isinstance(w_dec, torch.Tensor) and w_dec.ndim == 2:
                config["d_out"] = int(w_dec.shape[1])
        return config, state_dict, log_sparsity

    return load


def load_release(release_name: str, sae_id: str) -> PretrainedDictionary:
    """Load `sae_id` of a sae-lens release from the local Hugging Face cache with sae-lens's own loader."""
    from huggingface_hub.errors import EntryNotFoundError, OfflineModeIsEnabled
    from sae_lens import SAE
    from sae_lens.loading.pretrained_sae_loaders import NAMED_PRETRAINED_SAE_LOADERS

    release = release_get(release_name)
    folder = release_folder(release, sae_id)
    if release.conversion in NEEDS_NETWORK:
        raise PipelineInputError(
            f"{release.name} cannot be loaded offline: {NEEDS_NETWORK[release.conversion]}. Convert it to a "
            "SAELens directory where the network is allowed and register that directory."
        )
    loader = NAMED_PRETRAINED_SAE_LOADERS.get(release.conversion)
    if loader is None:
        raise PipelineInputError(f"This sae-lens has no loader {release.conversion!r} for {release.name}.")
    missing = missing_files(release, folder)
    if missing:
        raise PipelineInputError(missing_files_message(release, sae_id, missing))
    seen: dict = {}
    try:
        with hub_offline(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sae-lens's advice on loading the model; the checks below decide
            sae, config, _ = SAE.from_pretrained_with_cfg_and_sparsity(
                release.name,
                sae_id,
                device="cpu",
                dtype="float32",
                converter=_loader_wrapper(loader, release.conversion, seen),
            )
    except (EntryNotFoundError, OfflineModeIsEnabled) as error:
        raise PipelineInputError(
            missing_files_message(release, sae_id, missing_files(release, folder) or [folder])
            + f" (sae-lens asked for a file the cache lacks: {error})"
        ) from error
    except (ValueError, KeyError, RuntimeError, OSError) as error:  # sae-lens reports bad files in assorted types
        raise PipelineInputError(f"sae-lens could not load {release.name}/{sae_id}: {error}") from error
    normalization = sae.cfg.normalize_activations
    if normalization not in RUNTIME_NORMALIZATIONS:
        raise PipelineInputError(
            f"{release.name}/{sae_id} expects its inputs normalised ({normalization!r}) and sae-lens cannot fold "
            "that into the weights (the registry has no norm_scaling_factor for it), so its encodings of raw "
            "activations would be wrong."
        )
    sae.eval()
    metadata = sae.cfg.metadata
    provenance = {
        "format": "saelens-release",
        "release": release.name,
        "sae_id": sae_id,
        "repo_id": release.repo_id,
        "repo_path": folder,
        "revision": snapshot_revision(release.repo_id),
        "loader": release.conversion,
        "model_name": metadata.model_name or release.model,
        "hook_name": metadata.hook_name,
        "hook_name_out": metadata.hook_name_out,
        "prepend_bos": metadata.prepend_bos,
        "context_size": metadata.context_size,
        "dataset_path": metadata.dataset_path,
        "normalize_activations": seen.get("normalize_activations") or "none",
        "norm_scaling_factor": release.norm_scaling_factors.get(sae_id),
        "apply_b_dec_to_input": getattr(sae.cfg, "apply_b_dec_to_input", None),
        "neuronpedia_id": release.neuronpedia_ids.get(sae_id) or metadata.neuronpedia_id,
        # how sae-lens says the model was loaded in TransformerLens for training (e.g. centred writing weights)
        "model_from_pretrained_kwargs": metadata.model_from_pretrained_kwargs or {},
    }
    return PretrainedDictionary(sae=sae, provenance=provenance)


def release_sae_ids(release_name: str, pattern: str = "*") -> tuple[list[str], list[tuple[str, str]]]:
    """The sae_ids of a release matching the glob `pattern`, split into those whose files are in the local
    cache and those skipped, each with the reason."""
    release = release_get(release_name)
    matching = [sae_id for sae_id in release.sae_ids if fnmatch.fnmatchcase(sae_id, pattern)]
    if not matching:
        raise PipelineInputError(
            f"No sae_id of {release.name} matches {pattern!r}; some it has: {', '.join(list(release.sae_ids)[:5])}."
        )
    downloaded, skipped = [], []
    for sae_id in matching:
        if release.conversion in NEEDS_NETWORK:
            skipped.append((sae_id, NEEDS_NETWORK[release.conversion]))
            continue
        missing = missing_files(release, release.sae_ids[sae_id])
        if missing:
            skipped.append((sae_id, f"not downloaded ({', '.join(missing)} missing)"))
        else:
            downloaded.append(sae_id)
    return downloaded, skipped


LAYER_IN_ID = re.compile(r"(?:layer_|blocks\.|^l)(\d+)")


def release_source_slugs(release_name: str, sae_ids: list[str]) -> dict[str, str]:
    """A source name for each sae_id: Neuronpedia's where the registry has one (`20-gemmascope-res-16k`), else
    the layer, the release and the sae_id (`20-gemma-scope-2b-pt-res-layer_20-width_16k-average_l0_71`)."""
    release = release_get(release_name)
    from_neuronpedia = {
        sae_id: (release.neuronpedia_ids.get(sae_id) or "").split("/", 1)[-1].lower() for sae_id in sae_ids
    }
    names = [name for name in from_neuronpedia.values() if name]
    unique = len(names) == len(set(names)) == len(sae_ids)
    slugs = {}
    for sae_id in sae_ids:
        if unique and SLUG.match(from_neuronpedia[sae_id]):
            slugs[sae_id] = from_neuronpedia[sae_id]
            continue
        match = LAYER_IN_ID.search(sae_id)
        name = f"{release.name}-{sae_id}".lower()
        if match:
            name = f"{match.group(1)}-{name}"
        slugs[sae_id] = re.sub(r"[^a-z0-9._-]+", "-", name).strip("-.")[:64]
    return slugs
