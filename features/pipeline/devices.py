"""Where a model runs and in which number format: "auto|cpu|cuda|cuda:N|mps" and "float32|bfloat16|float16"
resolved to torch objects, with errors that say what to choose instead.

The model runs in the chosen dtype on the chosen device; dictionaries keep their own dtype (float32 as
SAELens saves them) and encode the hook's activations cast to it, as sae-lens does; every statistic is
accumulated in float32 on the CPU (stream.py, logits.py).
"""

import re

import torch

from .errors import PipelineInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE_NAME = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def check_names(device: str, dtype: str) -> tuple[str, str]:
    """(device, dtype) names checked for spelling only, lower-cased, for a run that another machine (its worker)
    will resolve: "auto" stays "auto"."""
    device_text, dtype_text = (device or "auto").strip().lower(), (dtype or "float32").strip().lower()
    if device_text != "auto" and not DEVICE_NAME.match(device_text):
        raise PipelineInputError(f"Unknown device {device!r}; choose auto, cpu, cuda, cuda:N or mps.")
    if dtype_text not in DTYPES:
        raise PipelineInputError(f"Unknown dtype {dtype!r}; choose {', '.join(DTYPES)}.")
    return device_text, dtype_text


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for a name; "auto" is the first CUDA device, else MPS, else the CPU."""
    text = (name or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    match = DEVICE_NAME.match(text)
    if not match:
        raise PipelineInputError(f"Unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps.")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise PipelineInputError(f"Device {name!r}: MPS (Apple GPU) is not available on this machine; use cpu.")
        return torch.device("mps")
    if not torch.cuda.is_available():
        built = "built with" if torch.backends.cuda.is_built() else "built without"
        raise PipelineInputError(
            f"Device {name!r}: CUDA is not available on this machine (torch {torch.__version__}, {built} CUDA, "
            "or no GPU visible); use cpu, or auto to take a GPU only where there is one."
        )
    count = torch.cuda.device_count()
    number = torch.cuda.current_device() if index is None else int(index)
    if number >= count:
        raise PipelineInputError(f"Device {name!r}: this machine has CUDA devices cuda:0 to cuda:{count - 1} only.")
    return torch.device("cuda", number)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype for a name, refused where the device cannot run it well."""
    text = (name or "float32").strip().lower()
    if text not in DTYPES:
        raise PipelineInputError(f"Unknown dtype {name!r}; choose {', '.join(DTYPES)}.")
    dtype = DTYPES[text]
    if dtype == torch.float16 and device.type == "cpu":
        # Many CPU kernels lack float16 or run it far slower than float32, and its range (max 65504) overflows
        # some models' activations; bfloat16 takes the same memory with float32's range.
        raise PipelineInputError("float16 is not supported on the CPU; use bfloat16 (the same memory) or float32.")
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise PipelineInputError(f"This GPU ({device_name(device)}) does not support bfloat16; use float16 or float32.")
    return dtype


def device_name(device: torch.device) -> str:
    """The name run params record: "cpu", "cuda:0", "mps"."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def dtype_name(dtype: torch.dtype) -> str:
    """The name run params record: "float32", "bfloat16", "float16"."""
    return str(dtype).removeprefix("torch.")


def resolve(device: str = "auto", dtype: str = "float32") -> tuple[str, str]:
    """Canonical (device, dtype) names, e.g. ("cuda:0", "bfloat16"), checked against this machine."""
    resolved = resolve_device(device)
    return device_name(resolved), dtype_name(resolve_dtype(dtype, resolved))


def to_cpu_float32(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor as statistics and numpy need it: float32 on the CPU (numpy has no bfloat16)."""
    return tensor.detach().to(device="cpu", dtype=torch.float32)
