"""What a checkpoint's config.json says, read as a file: no torch, no transformers, so that a page can ask it
cheaply (features.models.LanguageModel.generation_refusal)."""

import json
from pathlib import Path


def checkpoint_can_generate(path: str | Path) -> bool:
    """Whether the checkpoint in `path` is a causal language model (its config.json names a ...ForCausalLM or
    ...LMHeadModel architecture), read from the file alone: pages ask this to offer steering only where it can
    run, without loading the model. False for a missing or unreadable config."""
    try:
        config = json.loads((Path(path).expanduser() / "config.json").read_text())
    except (OSError, ValueError):
        return False
    names = config.get("architectures") or [] if isinstance(config, dict) else []
    return any(isinstance(name, str) and name.endswith(("ForCausalLM", "LMHeadModel")) for name in names)
