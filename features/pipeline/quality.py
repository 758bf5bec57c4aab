"""A dictionary's quality figures, accumulated batch by batch in the activation pass: how sparse it is (L0 and
its distribution, dead and dense features, the log-density histogram) and how faithfully it reconstructs the
activations it reads (MSE, explained variance, cosine, shrinkage).

The conventions are SAELens's (sae_lens.evals.get_sparsity_and_variance_metrics), so the figures can be set
side by side with published ones: every figure is over content tokens (special tokens left out); MSE is the
squared error summed over the hook's dimensions and averaged over tokens; explained variance is 1 - MSE over
the total variance of the activations around their mean; cosine is the mean over tokens of cos(x, x_hat);
shrinkage is the Gated SAE paper's relative reconstruction bias, E|x_hat|^2 / E[x . x_hat] (below 1: the
reconstruction is shrunk towards zero, as an L1 penalty does). Sums are float64 and counts int64, so shards
merge by adding and give what one pass gives. No Django.
"""

import math

import torch

# A feature firing on more than 10% of content tokens is dense (the usual cut in the SAE literature).
DENSE_DENSITY = 0.1
# The log-density histogram: log10 of each live feature's firing rate, in bins of a quarter decade from 1e-8
# (rarer ones fall in the first bin) to 1 (a feature that fires on every token).
LOG_DENSITY_LOW, LOG_DENSITY_HIGH, LOG_DENSITY_BINS = -8.0, 0.0, 32
# The L0 distribution is shown in at most this many bins of equal width.
L0_BINS = 20
# A token whose input or reconstruction has a smaller norm than this counts as cosine 0 (sae-lens gives NaN).
COSINE_EPS = 1e-12


class QualityStatistics:
    """Sums from which every quality figure of one dictionary follows; merge two by adding them."""

    # squared error, |x|^2, |x_hat|^2, x . x_hat, sum of per-token cosines
    SUMS = ("squared_error", "target_squares", "reconstruction_squares", "dot", "cosine")

    def __init__(self, n_features: int, d_out: int) -> None:
        self.n_features, self.d_out = n_features, d_out
        self.l0_counts = torch.zeros(n_features + 1, dtype=torch.long)  # content tokens with L0 = i
        self.sums = torch.zeros(len(self.SUMS), dtype=torch.float64)
        self.target_sum = torch.zeros(d_out, dtype=torch.float64)
        self.reconstructed_tokens = torch.zeros(1, dtype=torch.long)

    def add_sparsity(self, activations: torch.Tensor, content_mask: torch.Tensor) -> None:
        """activations [B, T, F] (float32 on the CPU), content_mask [B, T] False on special tokens."""
        l0 = torch.count_nonzero(activations > 0, dim=-1)[content_mask]
        self.l0_counts += torch.bincount(l0, minlength=self.n_features + 1)

    def add_reconstruction(self, target: torch.Tensor, reconstruction: torch.Tensor) -> None:
        """target and reconstruction [N, d_out] on content tokens: the activations the dictionary reproduces and
        what it wrote."""
        x, x_hat = target.double(), reconstruction.double()
        x_norm, x_hat_norm = x.norm(dim=-1), x_hat.norm(dim=-1)
        dot = (x * x_hat).sum(dim=-1)
        cosine = torch.where(
            (x_norm > COSINE_EPS) & (x_hat_norm > COSINE_EPS), dot / (x_norm * x_hat_norm).clamp(min=COSINE_EPS), 0.0
        )
        self.sums += torch.stack(
            [(x - x_hat).pow(2).sum(), x_norm.pow(2).sum(), x_hat_norm.pow(2).sum(), dot.sum(), cosine.sum()]
        )
        self.target_sum += x.sum(dim=0)
        self.reconstructed_tokens += len(x)

    def merge(self, other: "QualityStatistics") -> None:
        for name in self.TENSORS:
            getattr(self, name).add_(getattr(other, name))

    TENSORS = ("l0_counts", "sums", "target_sum", "reconstructed_tokens")

    def to_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {prefix + name: getattr(self, name) for name in self.TENSORS}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str) -> "QualityStatistics | None":
        if any(prefix + name not in tensors for name in cls.TENSORS):
            return None  # a partial from before quality figures existed
        statistics = cls(len(tensors[prefix + "l0_counts"]) - 1, len(tensors[prefix + "target_sum"]))
        for name in cls.TENSORS:
            setattr(statistics, name, tensors[prefix + name])
        return statistics

    @property
    def tokens(self) -> int:
        return int(self.l0_counts.sum())

    def reconstruction_metrics(self) -> dict[str, float | int]:
        """MSE, explained variance, FVU, cosine and shrinkage; {} when nothing was reconstructed."""
        n = int(self.reconstructed_tokens)
        if n == 0:
            return {}
        squared_error, target_squares, reconstruction_squares, dot, cosine = self.sums.tolist()
        mse = squared_error / n
        total_variance = target_squares / n - float((self.target_sum / n).pow(2).sum())
        metrics: dict[str, float | int] = {"reconstructed_tokens": n, "mse": mse, "cosine": cosine / n}
        if total_variance > 0:
            metrics["fvu"] = mse / total_variance
            metrics["explained_variance"] = 1.0 - metrics["fvu"]
        if dot != 0:
            metrics["shrinkage"] = reconstruction_squares / dot
        return metrics

    def sparsity_metrics(self, content_fires: torch.Tensor) -> dict:
        """L0 (mean, median, 90th percentile, histogram), dead and dense fractions and the log-density
        histogram; content_fires [F] counts the content tokens each feature fired on (the same tokens)."""
        tokens = self.tokens
        if tokens == 0:
            return {}
        counts = self.l0_counts.double()
        values = torch.arange(len(counts), dtype=torch.float64)
        cumulative = counts.cumsum(0)
        density = content_fires.double() / tokens
        return {
            "tokens": tokens,
            "l0": float((counts * values).sum()) / tokens,
            "l0_median": int(torch.searchsorted(cumulative, tokens / 2)),
            "l0_p90": int(torch.searchsorted(cumulative, 0.9 * tokens)),
            "l0_histogram": l0_histogram(self.l0_counts),
            "dead_fraction": float((content_fires == 0).double().mean()),
            "dense_fraction": float((density > DENSE_DENSITY).double().mean()),
            "log_density_histogram": log_density_histogram(density),
        }

    def metrics(self, content_fires: torch.Tensor) -> dict:
        return {**self.sparsity_metrics(content_fires), **self.reconstruction_metrics()}


def l0_histogram(l0_counts: torch.Tensor, bins: int = L0_BINS) -> dict:
    """{"edges": [e0, ..., eN], "counts": [...]}: tokens whose L0 lies in [e_i, e_i+1), equal-width integer bins
    from 0 to the largest L0 seen."""
    seen = l0_counts.nonzero()
    top = int(seen.max()) + 1 if len(seen) else 1
    width = max(1, math.ceil(top / bins))
    edges = list(range(0, top + width, width))
    counts = [int(l0_counts[low : low + width].sum()) for low in edges[:-1]]
    return {"edges": edges, "counts": counts}


def log_density_histogram(density: torch.Tensor) -> dict:
    """{"edges": [log10 edges], "counts": [...], "dead": n}: live features by log10 of their firing rate, rarer
    than the first edge counted in the first bin; dead features (never fired) apart."""
    live = density[density > 0]
    logs = live.log10().clamp(LOG_DENSITY_LOW, LOG_DENSITY_HIGH)
    width = (LOG_DENSITY_HIGH - LOG_DENSITY_LOW) / LOG_DENSITY_BINS
    index = ((logs - LOG_DENSITY_LOW) / width).floor().long().clamp(0, LOG_DENSITY_BINS - 1)
    counts = torch.bincount(index, minlength=LOG_DENSITY_BINS)
    edges = [LOG_DENSITY_LOW + i * width for i in range(LOG_DENSITY_BINS + 1)]
    return {"edges": edges, "counts": counts.tolist(), "dead": int((density == 0).sum())}
