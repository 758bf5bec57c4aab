"""Co-activation: which features fire (activation > 0) on the same tokens, measured so dense features do not win.

Over N tokens, feature a fires on n_a of them, b on n_b, both on n_ab. Raw counts favour the features that fire
everywhere; two measures correct for it:
- Jaccard = n_ab / (n_a + n_b - n_ab): the share of the tokens where either fires on which both do (1 = always
  together), what we rank by;
- lift = n_ab * N / (n_a * n_b): how many times more often they fire together than if they were independent.

Up to DENSE_MAX_FEATURES features the pair counts are one dense int32 matrix (64 MB at 4096 features), added to
by a float matmul per batch (exact: a batch's counts stay far below 2**24): on the demo's SAE the sparse product
cost 0.7 times the bare forward pass and the dense one is lost in the noise (bench/README.md). Past it they are
kept sparse (only pairs that ever fired together), so memory grows with the number of distinct co-firing pairs,
never with F^2 or with the corpus; `max_pairs` bounds it and the count is refused past it.

Pure torch: nothing here imports Django.
"""

import warnings
from dataclasses import dataclass

import torch

from features.pipeline.errors import PipelineInputError

DENSE_MAX_FEATURES = 4096
DEFAULT_MAX_PAIRS = 20_000_000  # about 480 MB of (int64 index pair, int64 count) at worst
COALESCE_EVERY = 8  # batches between merges of the pending pair counts


@dataclass
class Coactivations:
    """Each feature's top others, as flat arrays of rows (feature, other), best first within a feature."""

    feature: torch.Tensor  # [R]
    other: torch.Tensor  # [R]
    together: torch.Tensor  # [R] tokens where both fire
    jaccard: torch.Tensor  # [R]
    lift: torch.Tensor  # [R]
    fires: torch.Tensor  # [F] tokens where each feature fires
    tokens: int


class CoactivationCounter:
    def __init__(
        self, n_features: int, *, max_pairs: int = DEFAULT_MAX_PAIRS, dense_max_features: int = DENSE_MAX_FEATURES
    ) -> None:
        self.n_features = n_features
        # Counts below 2**31: runs are bounded far below (100,000 windows of at most 4096 tokens).
        self._dense = (
            torch.zeros((n_features, n_features), dtype=torch.int32) if n_features <= dense_max_features else None
        )
        self.max_pairs = max_pairs
        self.fires = torch.zeros(n_features, dtype=torch.long)
        self.tokens = 0
        self._indices = torch.empty((2, 0), dtype=torch.long)  # coalesced (a, b) with a < b
        self._counts = torch.empty(0, dtype=torch.long)
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def update(self, active: torch.Tensor) -> None:
        """Fold in one batch of tokens: active [N, F] bool, whether each feature fires on each token."""
        if active.shape[-1] != self.n_features:
            raise ValueError(f"Expected {self.n_features} features, got {active.shape[-1]}.")
        active = active.reshape(-1, self.n_features)
        self.tokens += active.shape[0]
        self.fires += active.sum(0)
        if self._dense is not None:
            as_float = active.float()
            self._dense += (as_float.T @ as_float).round().to(torch.int32)
            return
        token, feature = active.nonzero(as_tuple=True)
        if len(token) == 0:
            return
        values = torch.ones(len(token))
        matrix = torch.sparse_coo_tensor(
            torch.stack([token, feature]), values, active.shape, check_invariants=False
        ).coalesce()
        with warnings.catch_warnings():  # torch says its sparse product is in beta; it is exact on counts
            warnings.simplefilter("ignore", UserWarning)
            product = torch.sparse.mm(matrix.t().coalesce(), matrix).coalesce()  # [F, F] tokens where both fire
        indices, counts = product.indices(), product.values().round().long()
        upper = indices[0] < indices[1]  # each unordered pair once; the diagonal is `fires`
        self._pending.append((indices[:, upper], counts[upper]))
        if len(self._pending) >= COALESCE_EVERY:
            self._coalesce()

    def _coalesce(self) -> None:
        if self._dense is not None:
            upper = torch.triu(self._dense, diagonal=1)
            self._indices = upper.nonzero().T
            self._counts = upper[self._indices[0], self._indices[1]].long()
            return
        if not self._pending:
            return
        indices = torch.cat([self._indices] + [pending[0] for pending in self._pending], dim=1)
        counts = torch.cat([self._counts] + [pending[1] for pending in self._pending])
        self._pending = []
        summed = torch.sparse_coo_tensor(
            indices, counts, (self.n_features, self.n_features), check_invariants=False
        ).coalesce()
        self._indices, self._counts = summed.indices(), summed.values()
        if len(self._counts) > self.max_pairs:
            raise PipelineInputError(
                f"{len(self._counts):,} distinct pairs of features fire together, more than the bound of "
                f"{self.max_pairs:,}: these features are too dense to count pairwise (use fewer windows or sparser "
                "dictionaries)."
            )

    def pair_count(self) -> int:
        self._coalesce()
        return len(self._counts)

    def result(self, *, k: int = 10, min_together: int = 2) -> Coactivations:
        """Each feature's k others of highest Jaccard (ties: the lower index first) among pairs that fired together
        on at least `min_together` tokens."""
        self._coalesce()
        keep = self._counts >= min_together
        a, b, together = self._indices[0][keep], self._indices[1][keep], self._counts[keep]
        # Both directions: a's row names b and b's row names a.
        feature, other, together = torch.cat([a, b]), torch.cat([b, a]), torch.cat([together, together])
        n_feature, n_other = self.fires[feature].double(), self.fires[other].double()
        jaccard = together.double() / (n_feature + n_other - together.double())
        lift = together.double() * self.tokens / (n_feature * n_other)
        order = torch.sort(other, stable=True).indices
        order = order[torch.sort(-jaccard[order], stable=True).indices]
        order = order[torch.sort(feature[order], stable=True).indices]
        feature, other, together, jaccard, lift = (t[order] for t in (feature, other, together, jaccard, lift))
        if len(feature):
            starts = torch.searchsorted(feature, feature, right=False)
            rank = torch.arange(len(feature)) - starts
            first_k = rank < k
            feature, other, together, jaccard, lift = (t[first_k] for t in (feature, other, together, jaccard, lift))
        return Coactivations(
            feature=feature,
            other=other,
            together=together,
            jaccard=jaccard,
            lift=lift,
            fires=self.fires.clone(),
            tokens=self.tokens,
        )
