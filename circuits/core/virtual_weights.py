"""Virtual weights: how strongly one feature's output direction is read by a later feature's encoder.

An upstream feature writes its decoder direction d (a row of W_dec, a neuron's row of W_out) into the residual
stream; a downstream feature reads the stream with its encoder column e (a column of W_enc, a neuron's column of
W_in). Along the direct path through the residual stream the read is linear once every normalisation between the
two is frozen: each one it crosses maps x to (x - mean(x)) * weight / scale (RMSNorm does not centre), so the
virtual weight is

    V[u, f] = fold(d_u) @ e_f,   fold = the crossed normalisations applied in order.

The scale of a normalisation (the norm of its input) depends on the token; callers pass the scale they chose as
`inverse_scale` (the mean of 1/scale over a corpus: see docs/circuits.md#connections). V is exactly the change of
the downstream pre-activation per unit of upstream activation when attention and the MLPs in between are held
at their values and the normalisations' scales at 1/inverse_scale (tested against a real forward pass).

Pure torch: nothing here imports Django.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NormFold:
    """One normalisation, frozen: x -> (x - mean(x) if centre) * weight * inverse_scale."""

    centre: bool
    inverse_scale: float
    weight: torch.Tensor | None = None  # [d]; None where the reader sees the normalised vector before the weight

    def apply(self, directions: torch.Tensor) -> torch.Tensor:
        """[..., d] -> [..., d]."""
        if self.centre:
            directions = directions - directions.mean(-1, keepdim=True)
        if self.weight is not None:
            directions = directions * self.weight.to(directions)
        return directions * self.inverse_scale


def fold_directions(directions: torch.Tensor, folds: Sequence[NormFold]) -> torch.Tensor:
    """Upstream directions [F, d] as the downstream reader sees them, through `folds` in order."""
    directions = directions.float()
    for norm in folds:
        directions = norm.apply(directions)
    return directions


def virtual_weights(decoder: torch.Tensor, encoder: torch.Tensor, folds: Sequence[NormFold] = ()) -> torch.Tensor:
    """[F_up, d] decoder rows, [d, F_down] encoder columns -> [F_up, F_down] virtual weights."""
    if decoder.shape[-1] != encoder.shape[0]:
        raise ValueError(f"The decoder writes {decoder.shape[-1]} dimensions but the encoder reads {encoder.shape[0]}.")
    return fold_directions(decoder, folds) @ encoder.float()


@dataclass
class TopConnections:
    """Each upstream feature's k strongest downstream features, and each downstream feature's k strongest upstream
    ones, by absolute virtual weight (strongest first; ties: lower index first)."""

    downstream_ids: torch.Tensor  # [F_up, k]
    downstream_weights: torch.Tensor  # [F_up, k]
    upstream_ids: torch.Tensor  # [F_down, k]
    upstream_weights: torch.Tensor  # [F_down, k]

    def pairs(self) -> dict[tuple[int, int], float]:
        """The union of both lists as {(upstream index, downstream index): weight}."""
        found: dict[tuple[int, int], float] = {}
        for up, (ids, weights) in enumerate(
            zip(self.downstream_ids.tolist(), self.downstream_weights.tolist(), strict=True)
        ):
            for down, weight in zip(ids, weights, strict=True):
                found[(up, down)] = weight
        for down, (ids, weights) in enumerate(
            zip(self.upstream_ids.tolist(), self.upstream_weights.tolist(), strict=True)
        ):
            for up, weight in zip(ids, weights, strict=True):
                found[(up, down)] = weight
        return found


def _top_by_magnitude(values: torch.Tensor, k: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of [R, C]: the k entries of largest |value| (lower column first on ties), as (ids, values)."""
    # A stable descending sort of |value| keeps the lower index first among equals; topk does not promise it.
    order = torch.sort(values.abs(), dim=1, descending=True, stable=True).indices[:, :k]
    return order + offset, torch.gather(values, 1, order)


def top_connections(
    decoder: torch.Tensor, encoder: torch.Tensor, folds: Sequence[NormFold] = (), *, k: int = 10, chunk: int = 1024
) -> TopConnections:
    """The top-k of virtual_weights(decoder, encoder, folds) per row and per column, computed `chunk` upstream rows
    at a time so memory stays O(chunk x F_down), never the whole [F_up, F_down] matrix."""
    n_up, n_down = decoder.shape[0], encoder.shape[1]
    k_down, k_up = min(k, n_down), min(k, n_up)
    encoder = encoder.float()
    down_ids, down_weights = [], []
    # The running best upstream features of every downstream one, merged chunk by chunk (earlier chunks first in
    # the concatenation, so the stable sort keeps the lower upstream index on ties).
    up_ids = torch.empty((n_down, 0), dtype=torch.long)
    up_weights = torch.empty((n_down, 0))
    for start in range(0, n_up, chunk):
        block = fold_directions(decoder[start : start + chunk], folds) @ encoder  # [c, F_down]
        ids, weights = _top_by_magnitude(block, k_down)
        down_ids.append(ids)
        down_weights.append(weights)
        candidates_ids = torch.cat([up_ids, torch.arange(start, start + len(block)).expand(n_down, -1)], dim=1)
        candidates = torch.cat([up_weights, block.T], dim=1)
        order, up_weights = _top_by_magnitude(candidates, k_up)
        up_ids = torch.gather(candidates_ids, 1, order)
    return TopConnections(
        downstream_ids=torch.cat(down_ids),
        downstream_weights=torch.cat(down_weights),
        upstream_ids=up_ids,
        upstream_weights=up_weights,
    )
