"""Load a transformers checkpoint from a local directory and locate its blocks and MLPs.

Nothing here touches the network: every load passes local_files_only=True.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from .architectures import Family, family_for_config
from .devices import resolve_device, resolve_dtype
from .errors import PipelineInputError

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    path: str
    architecture: str
    family: Family  # from config.json's model_type: decides where each hook point is (architectures.py)
    n_layers: int
    d_model: int
    d_mlp: int
    vocab_size: int
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    def blocks(self) -> torch.nn.ModuleList:
        return find_blocks(self.model, self.family, self.n_layers)

    def check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layers:
            raise PipelineInputError(f"Layer {layer} does not exist: this model has layers 0 to {self.n_layers - 1}.")

    def lm_head(self) -> torch.nn.Module | None:
        """The language-model head (`lm_head`; GPT-NeoX's `embed_out`), or None for a model without one."""
        return self.model.get_output_embeddings()

    def unembedding(self) -> torch.Tensor | None:
        """W_U as [d_model, vocab], or None for a model without a language-model head (e.g. BERT)."""
        head = self.lm_head()
        if head is None or not hasattr(head, "weight"):
            return None
        return head.weight.detach().T


def _resolve(root: torch.nn.Module, path: str) -> torch.nn.Module | None:
    module = root
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def find_submodule(root: torch.nn.Module, candidate_paths: list[str], what: str) -> torch.nn.Module:
    for path in candidate_paths:
        module = _resolve(root, path)
        if module is not None:
            return module
    raise PipelineInputError(f"Unsupported architecture: no {what} found at any of {candidate_paths}.")


def find_blocks(model: torch.nn.Module, family: Family, n_layers: int) -> torch.nn.ModuleList:
    # A model loaded without its head (AutoModel) has its blocks one level up: "model.layers" -> "layers".
    paths = [family.block_list, family.block_list.partition(".")[2]]
    blocks = find_submodule(model, [path for path in paths if path], what="list of transformer blocks")
    if len(blocks) != n_layers:
        raise PipelineInputError(f"Expected {n_layers} blocks, found {len(blocks)}.")
    return blocks


def _config_int(config, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def _is_causal(config) -> bool:
    return any(name.endswith(("ForCausalLM", "LMHeadModel")) for name in (config.architectures or []))


def is_causal_lm(loaded: "LoadedModel") -> bool:
    """A model loaded with a next-token head: a language-model loss exists for it (an encoder has none)."""
    return type(loaded.model).__name__.endswith(("ForCausalLM", "LMHeadModel"))


def read_checkpoint_config(directory: Path):
    """The transformers config of a local checkpoint directory, read without its weights."""
    if not directory.is_dir():
        raise PipelineInputError(f"Model path {str(directory)!r} is not a directory.")
    if not (directory / "config.json").is_file():
        raise PipelineInputError(f"{str(directory)!r} is not a local transformers checkpoint: it has no config.json.")
    try:
        return AutoConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise PipelineInputError(f"Cannot read the model config in {str(directory)!r}: {error}") from error


def check_causal_checkpoint(path: str | Path):
    """The config of a local checkpoint that can generate, read without its weights; PipelineInputError if
    it is missing or holds an encoder (transformers would bolt a random language-model head onto it)."""
    config = read_checkpoint_config(Path(path).expanduser())
    if config.architectures and not _is_causal(config):
        raise PipelineInputError(
            f"{str(path)!r} holds a {', '.join(config.architectures)}, not a causal language model."
        )
    return config


def load_checkpoint(
    path: str | Path, *, causal_only: bool = False, device: str | torch.device = "cpu", dtype: str = "float32"
):
    """(model, tokenizer, config) from a local checkpoint directory, on `device` in `dtype` (devices.py), in eval
    mode: the one loader of transformers checkpoints (the activation pipeline, inference, the local explainer).
    With `causal_only`, a model that cannot generate is refused rather than given a random language-model head."""
    directory = Path(path).expanduser()
    device = device if isinstance(device, torch.device) else resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    config = check_causal_checkpoint(directory) if causal_only else read_checkpoint_config(directory)
    causal = _is_causal(config)
    model_class = AutoModelForCausalLM if causal or causal_only else AutoModel
    transformers_logging.disable_progress_bar()  # a weight-loading bar per load clutters logs and commands
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        # transformers would otherwise build an empty tokenizer without a word of warning
        raise PipelineInputError(f"{str(directory)!r} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}).")
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        # Read straight into the dtype: a bfloat16 model never has a float32 copy in memory.
        model = model_class.from_pretrained(directory, local_files_only=True, dtype=torch_dtype)
    except Exception as error:  # transformers and safetensors raise many types for a corrupt checkpoint
        raise PipelineInputError(f"Cannot load the checkpoint in {str(directory)!r}: {error}") from error
    model.to(device)
    model.eval()
    return model, tokenizer, config


def load_language_model(path: str | Path, *, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
    """Load a checkpoint directory (config.json, weights, tokenizer) for hooking, on `device` in `dtype`."""
    directory = Path(path).expanduser()
    # An architecture we cannot hook is refused from its config, before its weights load.
    family_for_config(read_checkpoint_config(directory))
    model, tokenizer, config = load_checkpoint(directory, device=device, dtype=dtype)
    family = family_for_config(config)

    n_layers = _config_int(config, "num_hidden_layers", "n_layer")
    d_model = _config_int(config, "hidden_size", "n_embd", "d_model")
    if n_layers is None or d_model is None:
        raise PipelineInputError(f"The config in {str(directory)!r} does not give the number of layers and width.")
    d_mlp = _config_int(config, "intermediate_size", "n_inner", "ffn_dim") or 4 * d_model
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        path=str(directory.resolve()),
        architecture=config.model_type,
        family=family,
        n_layers=n_layers,
        d_model=d_model,
        d_mlp=d_mlp,
        vocab_size=config.vocab_size,
        device=next(model.parameters()).device,
        dtype=next(model.parameters()).dtype,
    )
    loaded.blocks()  # fail now, with a clear message, if we cannot find the blocks
    return loaded
