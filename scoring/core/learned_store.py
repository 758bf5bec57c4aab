"""Trained learned scorers on disk, versioned: DIR/v<N>/head.safetensors (the weights, never a pickle) and
DIR/v<N>/meta.json (what it was trained on, its held-out figures and the baseline's). DIR/registered.json
names the version the "learned" judge uses; a version is registered only if it beat the baseline."""

import json
import re
from pathlib import Path

from .embedding import Encoder, minilm_encode
from .errors import ScoringInputError
from .learned import Featurizer, Figures, Head, LearnedJudge

HEAD_FILE = "head.safetensors"
META_FILE = "meta.json"
REGISTERED_FILE = "registered.json"
NOT_REGISTERED = (
    "No learned scorer is registered yet: train one with `manage.py train_learned_scorer` (it is registered "
    "only when it beats the default offline judge on held-out features)."
)


def _versions(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := re.fullmatch(r"v(\d+)", p.name)) and p.is_dir())


def save_version(directory: Path, head: Head, featurizer: Featurizer, metadata: dict) -> int:
    """Write a new version and return its number."""
    from safetensors.torch import save_file

    version = (_versions(directory) or [0])[-1] + 1
    folder = directory / f"v{version}"
    folder.mkdir(parents=True)
    save_file({name: tensor.contiguous() for name, tensor in head.weights.items()}, str(folder / HEAD_FILE))
    meta = {
        **metadata,
        "version": version,
        "embedder": featurizer.name,
        "dimensions": featurizer.dimensions,
        "width": head.width,
        "hidden": head.hidden,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    return version


def read_metadata(directory: Path, version: int) -> dict:
    path = directory / f"v{version}" / META_FILE
    if not path.is_file():
        raise ScoringInputError(f"There is no learned scorer version {version} in {str(directory)!r}.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_version(
    directory: Path, version: int, *, encode: Encoder = minilm_encode, embedder: str | None = None
) -> LearnedJudge:
    from safetensors.torch import load_file

    meta = read_metadata(directory, version)
    featurizer = Featurizer(encode, name=embedder or meta["embedder"])
    if featurizer.name != meta["embedder"] or featurizer.dimensions != meta["dimensions"]:
        raise ScoringInputError(
            f"Learned scorer v{version} was trained on {meta['embedder']} ({meta['dimensions']} dimensions), "
            f"not {featurizer.name} ({featurizer.dimensions})."
        )
    weights = load_file(str(directory / f"v{version}" / HEAD_FILE))
    head = Head(meta["width"], meta["hidden"])
    if set(weights) != set(head.weights) or any(weights[k].shape != head.weights[k].shape for k in head.weights):
        raise ScoringInputError(f"Learned scorer v{version}'s weights do not match its metadata.")
    head.weights = weights
    return LearnedJudge(head=head, featurizer=featurizer, name=f"learned:v{version}", metadata=meta)


def register_if_better(directory: Path, version: int, *, learned: Figures, baseline: Figures) -> bool:
    """Register `version` as the learned judge if its held-out figures beat the baseline's; say whether."""
    if not learned.beats(baseline):
        return False
    (directory / REGISTERED_FILE).write_text(json.dumps({"version": version}), encoding="utf-8")
    return True


def registered_version(directory: Path) -> int:
    path = directory / REGISTERED_FILE
    if not path.is_file():
        raise ScoringInputError(NOT_REGISTERED)
    return int(json.loads(path.read_text(encoding="utf-8"))["version"])


def load_registered(directory: Path, *, encode: Encoder = minilm_encode, embedder: str | None = None) -> LearnedJudge:
    return load_version(directory, registered_version(directory), encode=encode, embedder=embedder)
