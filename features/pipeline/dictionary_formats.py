"""Dictionary files in formats other than SAELens's, read into sae-lens dictionaries once so that runs read one
format: Gemma Scope's `params.npz` and circuit-tracer's single-layer transcoder files (`layer_N.safetensors`).

Each reader checks names and shapes itself (messages a person can act on), builds the sae-lens class of the
architecture from its config class and loads the tensors into it: the encoding is sae-lens's. `np.load` never
unpickles (allow_pickle=False) and safetensors are read as safetensors.
"""

import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open

from .dictionaries import CONFIG_FILE, WEIGHTS_FILE
from .errors import PipelineInputError
from .releases import PretrainedDictionary

GEMMA_SCOPE_FILE = "params.npz"
CIRCUIT_TRACER_CONFIG = "config.yaml"
FORMATS = ("saelens", "gemma-scope", "circuit-tracer")
LAYER_IN_NAME = re.compile(r"layer_(\d+)")


def dictionary_format(path: str | Path) -> str:
    """Which format `path` holds: a SAELens directory, Gemma Scope's params.npz (the file or its folder), or a
    circuit-tracer transcoder file (.safetensors)."""
    path = Path(path)
    if path.is_dir():
        if (path / CONFIG_FILE).is_file() or (path / WEIGHTS_FILE).is_file():
            return "saelens"
        if (path / GEMMA_SCOPE_FILE).is_file():
            return "gemma-scope"
    elif path.is_file():
        if path.suffix == ".npz":
            return "gemma-scope"
        if path.suffix == ".safetensors":
            return "circuit-tracer"
    elif not path.exists():
        raise PipelineInputError(f"Dictionary path {str(path)!r} does not exist.")
    raise PipelineInputError(
        f"{str(path)!r} is not a dictionary this site reads: give a SAELens directory (cfg.json + "
        f"{WEIGHTS_FILE}), Gemma Scope's {GEMMA_SCOPE_FILE} (or its folder), or a circuit-tracer transcoder "
        "file (layer_N.safetensors)."
    )


def build_sae(architecture: str, tensors: dict[str, torch.Tensor], metadata: dict[str, Any], **config) -> Any:
    """A sae-lens dictionary of `architecture` holding exactly `tensors` (float32, on the CPU)."""
    from sae_lens.registry import get_sae_class
    from sae_lens.saes.sae import SAEMetadata

    sae_class, config_class = get_sae_class(architecture)
    d_in, d_sae = tensors["W_enc"].shape
    if "transcoder" in architecture:
        config.setdefault("d_out", int(tensors["W_dec"].shape[1]))
    sae_config = config_class(
        d_in=int(d_in), d_sae=int(d_sae), metadata=SAEMetadata(**metadata), apply_b_dec_to_input=False, **config
    )
    sae = sae_class(sae_config)
    try:
        sae.load_state_dict({name: tensor.float().contiguous() for name, tensor in tensors.items()}, strict=True)
    except RuntimeError as error:
        raise PipelineInputError(f"The tensors do not fit a sae-lens {architecture} dictionary: {error}") from error
    return sae.eval()


def check_shapes(tensors: dict[str, torch.Tensor], what: str) -> tuple[int, int, int]:
    """d_in, d_sae, d_out from W_enc [d_in, d_sae] and W_dec [d_sae, d_out]; every other tensor must agree."""
    if tensors["W_enc"].ndim != 2 or tensors["W_dec"].ndim != 2:
        raise PipelineInputError(f"{what}: W_enc and W_dec must be matrices.")
    d_in, d_sae = tensors["W_enc"].shape
    d_out = tensors["W_dec"].shape[1]
    expected = {
        "W_dec": (d_sae, d_out),
        "b_enc": (d_sae,),
        "b_dec": (d_out,),
        "threshold": (d_sae,),
        "W_skip": (d_out, d_in),
    }
    for name, tensor in tensors.items():
        if name in expected and tuple(tensor.shape) != expected[name]:
            raise PipelineInputError(
                f"{what}: {name} has shape {list(tensor.shape)} but W_enc {[d_in, d_sae]} implies "
                f"{list(expected[name])}."
            )
    return int(d_in), int(d_sae), int(d_out)


def read_gemma_scope(path: str | Path, *, hook_name: str, hook_name_out: str = "") -> PretrainedDictionary:
    """Gemma Scope's params.npz (W_enc, W_dec, b_enc, b_dec, threshold): a JumpReLU SAE, or a JumpReLU transcoder
    when it writes to another hook (`hook_name_out`), as sae-lens's Gemma Scope loaders read it."""
    path = Path(path)
    if path.is_dir():
        path = path / GEMMA_SCOPE_FILE
    if not hook_name:
        raise PipelineInputError(
            "A params.npz does not say where it reads: give the hook (e.g. --hook blocks.20.hook_resid_post), "
            "or register it by its release (--release gemma-scope-2b-pt-res --sae-id ...)."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise PipelineInputError(f"{path.name} is not a readable .npz of plain arrays: {error}") from error
    tensors = {}
    for name, array in arrays.items():
        key = "W_" + name[2:] if name.lower().startswith("w_") else name
        if key in ("W_enc", "W_dec", "b_enc", "b_dec", "threshold"):
            if not np.issubdtype(array.dtype, np.floating):
                raise PipelineInputError(f"{path.name}: {name} holds {array.dtype}, not floating-point numbers.")
            tensors[key] = torch.from_numpy(array.astype(np.float32))
    missing = {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"} - set(tensors)
    if missing:
        raise PipelineInputError(
            f"{path.name} lacks {', '.join(sorted(missing))}; Gemma Scope's files hold W_enc, W_dec, b_enc, "
            f"b_dec and threshold (it has {', '.join(sorted(arrays)) or 'nothing'})."
        )
    d_in, _, d_out = check_shapes(tensors, path.name)
    transcoder = bool(hook_name_out) and hook_name_out != hook_name
    if not transcoder and d_out != d_in:
        raise PipelineInputError(
            f"{path.name} reads {d_in}-wide and writes {d_out}-wide vectors: it is a transcoder; give the hook "
            "it writes to (--hook-out)."
        )
    metadata = {"hook_name": hook_name, "prepend_bos": True}  # Gemma Scope was trained with BOS
    if transcoder:
        metadata["hook_name_out"] = hook_name_out
    architecture = "jumprelu_transcoder" if transcoder else "jumprelu"
    sae = build_sae(architecture, tensors, metadata)
    provenance = {
        "format": "gemma-scope",
        "file": str(path.resolve()),
        "hook_name": hook_name,
        "hook_name_out": hook_name_out or hook_name,
        "prepend_bos": True,
        "normalize_activations": "none",
        "apply_b_dec_to_input": False,
    }
    return PretrainedDictionary(sae=sae, provenance=provenance)


def _circuit_tracer_config(path: Path) -> dict:
    """The transcoder set's config.yaml beside the file, if any (model_name, feature_input_hook, ...)."""
    import yaml

    config_path = path.parent / CIRCUIT_TRACER_CONFIG
    if not config_path.is_file():
        return {}
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise PipelineInputError(f"{CIRCUIT_TRACER_CONFIG} beside {path.name} is not valid YAML: {error}") from error
    return config if isinstance(config, dict) else {}


def _layer_hook(hook: str, layer: int | None, path: Path) -> str:
    """circuit-tracer names hooks within a block (`hook_resid_mid`); a full name passes as it is."""
    if not hook or hook.startswith("blocks."):
        return hook
    if layer is None:
        raise PipelineInputError(
            f"Cannot tell which layer {path.name} belongs to (no layer_N in its name): give --layer or full hooks."
        )
    return f"blocks.{layer}.{hook}"


def read_circuit_tracer_transcoder(
    path: str | Path, *, hook_name: str = "", hook_name_out: str = "", layer: int | None = None
) -> PretrainedDictionary:
    """circuit-tracer's single-layer transcoder file: W_enc [d_sae, d_in] (it encodes with F.linear), W_dec
    [d_sae, d_out], b_enc, b_dec, optionally W_skip [d_out, d_in] and activation_function.threshold (JumpReLU).
    Hooks come from the arguments or from the set's config.yaml beside the file, the layer from `layer_N`."""
    path = Path(path)
    config = _circuit_tracer_config(path)
    if layer is None:
        match = LAYER_IN_NAME.search(path.stem)
        layer = int(match.group(1)) if match else None
    hook_name = _layer_hook(hook_name or str(config.get("feature_input_hook") or ""), layer, path)
    hook_name_out = _layer_hook(hook_name_out or str(config.get("feature_output_hook") or ""), layer, path)
    if not hook_name or not hook_name_out:
        raise PipelineInputError(
            f"{path.name} does not say where it reads and writes (no {CIRCUIT_TRACER_CONFIG} with "
            "feature_input_hook and feature_output_hook beside it): give --hook and --hook-out."
        )
    try:
        with safe_open(path, framework="pt", device="cpu") as weights:
            raw = {name: weights.get_tensor(name) for name in weights.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise PipelineInputError(f"{path.name} could not be read as safetensors: {error}") from error
    if "k" in raw:
        raise PipelineInputError(f"{path.name} is a TopK transcoder; sae-lens has no TopK transcoder to encode it.")
    missing = {"W_enc", "W_dec", "b_enc", "b_dec"} - set(raw)
    if missing:
        raise PipelineInputError(
            f"{path.name} lacks {', '.join(sorted(missing))}; circuit-tracer's transcoder files hold W_enc, W_dec, "
            f"b_enc, b_dec (it has {', '.join(sorted(raw)) or 'nothing'})."
        )
    if raw["W_enc"].ndim != 2:
        raise PipelineInputError(f"{path.name}: W_enc must be a matrix.")
    tensors = {name: raw[name].float() for name in ("W_dec", "b_enc", "b_dec")}
    tensors["W_enc"] = raw["W_enc"].float().T.contiguous()  # sae-lens keeps [d_in, d_sae]
    if "W_skip" in raw:
        tensors["W_skip"] = raw["W_skip"].float()
    threshold = raw.get("activation_function.threshold")
    if threshold is not None:
        if (threshold < 0).any():
            # circuit-tracer's JumpReLU passes negative pre-activations above a negative threshold; sae-lens's
            # zeroes them (ReLU first), so the two would disagree.
            raise PipelineInputError(f"{path.name} has negative JumpReLU thresholds, which sae-lens encodes otherwise.")
        tensors["threshold"] = threshold.float()
    check_shapes(tensors, path.name)
    skip = "W_skip" in tensors
    if threshold is not None:
        architecture = "jumprelu_skip_transcoder" if skip else "jumprelu_transcoder"
    else:
        architecture = "skip_transcoder" if skip else "transcoder"
    metadata = {"hook_name": hook_name, "hook_name_out": hook_name_out, "prepend_bos": True}
    if config.get("model_name"):
        metadata["model_name"] = str(config["model_name"])
    sae = build_sae(architecture, tensors, metadata)
    provenance = {
        "format": "circuit-tracer",
        "file": str(path.resolve()),
        "model_name": metadata.get("model_name"),
        "hook_name": hook_name,
        "hook_name_out": hook_name_out,
        "prepend_bos": True,
        "normalize_activations": "none",
        "apply_b_dec_to_input": False,
    }
    return PretrainedDictionary(sae=sae, provenance=provenance)


def save_dictionary(dictionary: PretrainedDictionary, directory: str | Path) -> Path:
    """Write a dictionary as a SAELens directory (cfg.json + sae_weights.safetensors), the one format runs read."""
    directory = Path(directory)
    with torch.no_grad():
        for parameter in dictionary.sae.parameters():  # some sae-lens loaders hand back transposed views
            parameter.data = parameter.data.contiguous()
    dictionary.sae.save_model(directory)
    return directory
