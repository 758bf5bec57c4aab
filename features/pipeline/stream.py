"""One streaming pass over token windows for all sources of a model at once.

The model runs once per batch of windows, only as far as the deepest hook any source needs; every
source encodes its hook's activations and folds them into its accumulator; the activations are then
dropped. Memory is O(features x k x window length) whatever the number of windows.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch

from .checks import RECONSTRUCTION_WINDOWS, CheckStatistics
from .dashboards import DashboardAccumulator
from .devices import to_cpu_float32
from .errors import PipelineInputError
from .hooks import capture_activations
from .loading import LoadedModel
from .sources import SourceSpec


def content_mask(loaded: LoadedModel, input_ids: torch.Tensor) -> torch.Tensor:
    """False on special tokens ([CLS], [SEP], BOS...), which never count towards a feature."""
    special = torch.tensor(sorted(set(loaded.tokenizer.all_special_ids)), dtype=input_ids.dtype)
    return ~torch.isin(input_ids, special)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops on n threads, then go back to the previous number.

    The accumulator's update is many small ops and a few memory-bound passes: on two threads each op
    waits for both, and on a machine whose cores are shared with other work one of them is often
    descheduled, which made the update three to five times slower than on one thread (measured on
    the benchmark's activations). The model forward and the SAE encode keep all threads.
    """
    previous = torch.get_num_threads()
    if previous == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _add_reconstruction(
    checks: CheckStatistics,
    source: SourceSpec,
    captured: dict[str, torch.Tensor],
    encoded: torch.Tensor,
    mask: torch.Tensor,
    window_ids: torch.Tensor,
) -> None:
    """Fold the dictionary's reconstruction of this batch's sampled windows (checks.RECONSTRUCTION_WINDOWS) into
    its checks, when the pass has the activations it reconstructs."""
    target = captured.get(source.reconstruction_hook)
    sampled = window_ids < RECONSTRUCTION_WINDOWS
    if target is None or not sampled.any():
        return
    inputs = captured[source.hook.name]
    if not sampled.all():
        # Encoded again on the sampled rows alone: sae-lens keeps an input's normalisation from encode to decode.
        rows = sampled.to(inputs.device)
        inputs, target, mask = inputs[rows], target[rows], mask[sampled]
        encoded = source.dictionary.encode(inputs)
    reconstruction = source.dictionary.reconstruct(inputs, encoded)
    checks.add_reconstruction(to_cpu_float32(target), to_cpu_float32(reconstruction), mask)


def compute_dashboards(
    loaded: LoadedModel,
    sources: Sequence[SourceSpec],
    windows: Sequence[Sequence[int]],
    *,
    first_window_id: int = 0,
    top_k: int = 20,
    samples_per_bin: int = 3,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, DashboardAccumulator]:
    """Accumulators (one per source slug) over `windows`, whose ids start at first_window_id."""
    if not windows:
        raise PipelineInputError("There are no windows to process: the corpus is empty.")
    if not sources:
        raise PipelineInputError("Choose at least one source.")
    window_len = len(windows[0])
    if any(len(window) != window_len for window in windows):
        raise PipelineInputError("All windows must have the same length.")
    accumulators = {
        source.slug: DashboardAccumulator(source.n_features, window_len, top_k=top_k, samples_per_bin=samples_per_bin)
        for source in sources
    }
    for source in sources:
        if source.dictionary is not None:
            accumulators[source.slug].checks = CheckStatistics(source.n_features, source.dictionary.d_out)
    hooks = [source.hook for source in sources]
    workspaces: dict[int, torch.Tensor] = {}  # one per feature count, shared by the sources
    for start in range(0, len(windows), batch_size):
        input_ids = torch.tensor(windows[start : start + batch_size], dtype=torch.long)
        captured = capture_activations(loaded, hooks, input_ids)
        mask = content_mask(loaded, input_ids)
        window_ids = torch.arange(start, start + len(input_ids)) + first_window_id
        for source in sources:
            encoded = source.encode_on_device(captured)
            activations = to_cpu_float32(encoded)  # float32 on the CPU, where the statistics are
            checks = accumulators[source.slug].checks
            if checks is not None:
                checks.update(activations, mask)
                _add_reconstruction(checks, source, captured, encoded, mask, window_ids)
            workspace = workspaces.get(source.n_features)
            if workspace is None or workspace.shape != activations.shape:
                workspace = workspaces[source.n_features] = torch.empty_like(activations)
            with torch_threads(1):
                accumulators[source.slug].update(activations, window_ids, mask, workspace=workspace)
        if on_progress:
            on_progress(start + len(input_ids), len(windows))
    return accumulators
