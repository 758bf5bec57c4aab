"""Dictionaries (SAEs and transcoders) in the SAELens on-disk format, loaded with sae-lens.

A dictionary directory holds `cfg.json` and `sae_weights.safetensors`. Before sae-lens sees it we
check it ourselves, so that a bad upload gets a message a person can act on: safetensors only (a
pickle posing as weights fails to parse as safetensors and is never unpickled), every tensor the
architecture needs with the shapes cfg.json promises, and a hook the model actually has.
"""

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from .devices import device_name, resolve_device
from .errors import PipelineInputError

CONFIG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
REQUIRED_CONFIG_FIELDS = ("architecture", "d_in", "d_sae")
SUPPORTED_ARCHITECTURES = {
    "standard": {"W_enc", "W_dec", "b_enc", "b_dec"},
    "topk": {"W_enc", "W_dec", "b_enc", "b_dec"},
    "jumprelu": {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"},
    "gated": {"W_enc", "W_dec", "b_gate", "b_mag", "r_mag", "b_dec"},
    "transcoder": {"W_enc", "W_dec", "b_enc", "b_dec"},
    "skip_transcoder": {"W_enc", "W_dec", "b_enc", "b_dec", "W_skip"},
    "jumprelu_transcoder": {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"},
    "jumprelu_skip_transcoder": {"W_enc", "W_dec", "b_enc", "b_dec", "threshold", "W_skip"},
}
TRANSCODERS = {"transcoder", "skip_transcoder", "jumprelu_transcoder", "jumprelu_skip_transcoder"}
# Normalisations sae-lens applies inside `encode`; any other ("expected_average_only_in" unfolded, whitening)
# would have to be folded into the weights first, or raw activations would be encoded wrongly.
RUNTIME_NORMALIZATIONS = {"none", "layer_norm", "constant_norm_rescale"}


@dataclass
class LoadedDictionary:
    sae: torch.nn.Module
    path: str
    architecture: str
    d_in: int
    d_sae: int
    d_out: int
    hook_name: str
    hook_name_out: str  # where the decoder writes: the input hook for SAEs, e.g. hook_mlp_out for transcoders
    prepend_bos: bool | None
    config: dict
    # trained on a TransformerLens model whose writing weights were centred (sae-lens records it in
    # model_from_pretrained_kwargs): its residual-stream inputs had zero mean over d_model
    centred_inputs: bool = False

    @property
    def is_transcoder(self) -> bool:
        return self.architecture in TRANSCODERS

    def encode(self, activations: torch.Tensor) -> torch.Tensor:
        """[..., d_in] hook activations -> [..., d_sae] feature activations, exactly as sae-lens encodes: the
        dictionary keeps its own dtype (float32 as SAELens saves it) and the activations, whatever the model's
        dtype, are cast to it."""
        with torch.inference_mode():
            return self.sae.encode(activations.to(device=self.sae.W_enc.device, dtype=self.sae.W_enc.dtype))

    def reconstruct(self, activations: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """What the dictionary writes from `features` = encode(activations): the input hook's activations for
        an SAE, the output hook's for a transcoder (with its skip connection), as sae-lens's forward does.
        Call it right after encode: sae-lens keeps an input's normalisation between the two."""
        with torch.inference_mode():
            output = self.sae.decode(features)
            skip = getattr(self.sae, "W_skip", None)
            if skip is not None:
                output = output + activations.to(skip.dtype) @ skip.T
            return output

    @property
    def decoder(self) -> torch.Tensor:
        return self.sae.W_dec.detach()


def read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise PipelineInputError(f"{CONFIG_FILE} is missing from {str(directory)!r}.")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PipelineInputError(f"{CONFIG_FILE} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise PipelineInputError(f"{CONFIG_FILE} must hold a JSON object.")
    config.setdefault("architecture", "standard")
    missing = [field for field in REQUIRED_CONFIG_FIELDS if field not in config]
    if missing:
        raise PipelineInputError(f"{CONFIG_FILE} lacks the field(s) {', '.join(missing)}.")
    if config["architecture"] not in SUPPORTED_ARCHITECTURES:
        raise PipelineInputError(
            f"Unsupported architecture {config['architecture']!r}; supported: {', '.join(SUPPORTED_ARCHITECTURES)}."
        )
    for field in ("d_in", "d_sae"):
        if not isinstance(config[field], int) or config[field] < 1:
            raise PipelineInputError(f"{CONFIG_FILE}: {field} must be a positive integer.")
    return config


def config_value(config: dict, name: str, default=None):
    """SAELens 6 keeps hook_name and prepend_bos under `metadata`; older files keep them on top."""
    if name in config:
        return config[name]
    return (config.get("metadata") or {}).get(name, default)


def check_weights(directory: Path, config: dict) -> dict[str, tuple[int, ...]]:
    """Open the safetensors header (never pickle) and check names and shapes; return the shapes."""
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise PipelineInputError(f"{WEIGHTS_FILE} is missing from {str(directory)!r}.")
    with path.open("rb") as handle:
        head = handle.read(8)
    if len(head) < 8:
        raise PipelineInputError(f"{WEIGHTS_FILE} is not a safetensors file (it is too short).")
    header_len = struct.unpack("<Q", head)[0]
    if header_len > path.stat().st_size - 8 or header_len > 100_000_000:
        raise PipelineInputError(
            f"{WEIGHTS_FILE} is not a valid safetensors file (a pickled checkpoint? only safetensors are accepted)."
        )
    try:
        with safe_open(path, framework="pt", device="cpu") as weights:
            shapes = {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise PipelineInputError(f"{WEIGHTS_FILE} could not be read as safetensors: {error}") from error

    architecture = config["architecture"]
    d_in, d_sae = config["d_in"], config["d_sae"]
    d_out = config.get("d_out", d_in) if architecture in TRANSCODERS else d_in
    missing = SUPPORTED_ARCHITECTURES[architecture] - set(shapes)
    if missing:
        raise PipelineInputError(f"{WEIGHTS_FILE} lacks {', '.join(sorted(missing))} for a {architecture} dictionary.")
    expected = {
        "W_enc": (d_in, d_sae),
        "W_dec": (d_sae, d_out),
        "b_enc": (d_sae,),
        "b_dec": (d_out if architecture in TRANSCODERS else d_in,),
        "threshold": (d_sae,),
        "b_gate": (d_sae,),
        "b_mag": (d_sae,),
        "r_mag": (d_sae,),
        "W_skip": (d_out, d_in),
    }
    for name, shape in shapes.items():
        if name in expected and shape != expected[name]:
            raise PipelineInputError(
                f"{name} has shape {list(shape)} but cfg.json (d_in={d_in}, d_sae={d_sae}) "
                f"implies {list(expected[name])}."
            )
    return shapes


def load_dictionary(path: str | Path, *, hook_name: str = "", device: str = "cpu") -> LoadedDictionary:
    """Validate and load a SAELens-format directory onto `device` (a name devices.py resolves), in the dtype it
    was saved in. `hook_name` overrides the one in cfg.json."""
    from sae_lens import SAE  # imported here: sae-lens takes seconds to import and most callers never need it

    directory = Path(path)
    if not directory.is_dir():
        raise PipelineInputError(f"Dictionary path {str(path)!r} is not a directory.")
    config = read_config(directory)
    check_weights(directory, config)
    hook = hook_name or config_value(config, "hook_name")
    if not hook:
        raise PipelineInputError("cfg.json gives no hook_name; say where the dictionary reads from.")
    target = device_name(resolve_device(device))
    try:
        sae = SAE.load_from_disk(directory, device=target)
    except Exception as error:  # sae-lens reports config problems with assorted exception types
        raise PipelineInputError(f"sae-lens could not load the dictionary: {error}") from error
    sae.eval()
    if sae.cfg.reshape_activations == "hook_z":
        # sae-lens flattens TransformerLens's [..., n_heads, d_head]; we capture attn.hook_z already flattened
        sae.turn_off_forward_pass_hook_z_reshaping()
    if sae.cfg.normalize_activations not in RUNTIME_NORMALIZATIONS:
        raise PipelineInputError(
            f"cfg.json asks for inputs normalised by {sae.cfg.normalize_activations!r}, which sae-lens does not "
            'apply when encoding: fold the scaling into the weights first (normalize_activations "none").'
        )
    architecture = config["architecture"]
    d_out = int(sae.W_dec.shape[1])
    return LoadedDictionary(
        sae=sae,
        path=str(directory.resolve()),
        architecture=architecture,
        d_in=config["d_in"],
        d_sae=config["d_sae"],
        d_out=d_out,
        hook_name=hook,
        hook_name_out=config_value(config, "hook_name_out") or hook,
        prepend_bos=config_value(config, "prepend_bos"),
        config=config,
        centred_inputs=bool((config_value(config, "model_from_pretrained_kwargs") or {}).get("center_writing_weights")),
    )
