"""Automatic checks at the end of an activation run: statistics gathered in the one streaming pass, and the
warnings they raise.

`CheckStatistics` is a small sibling of a dictionary source's DashboardAccumulator: per feature, how often and
how strongly it fires on special tokens ([CLS], BOS, separators), at position 0 and elsewhere; and how well the
dictionary reconstructs its hook's activations. Activations are those of the pass (float32); totals are kept
in float64 and counts in int64, so shards merge by adding and give what one pass gives (counts exactly, sums
up to rounding). Each check is a function from these statistics (or the run's parameters) to warnings; none
of them needs Django.
"""

from dataclasses import asdict, dataclass, field

import torch

from .quality import QualityStatistics

# A feature is "on special tokens" when more than half its activation mass falls on them: the dashboards
# never show special tokens, so such a feature looks almost dead there while it is busy on BOS or [SEP].
SPECIAL_MASS_SHARE = 0.5
# A feature "only at position 0" puts nine tenths of its activation mass on first tokens and fires on the
# first token of at least half the windows: the signature of the attention sink's huge first-position
# activations, not of text. (The half of the windows keeps out a rare feature that fired once, on a first token.)
FIRST_POSITION_SHARE = 0.9
FIRST_POSITION_WINDOWS = 0.5
# More than 30% of features never firing: healthy dictionaries on a corpus long enough for their rarer
# features have far fewer; either the corpus is too short or the dictionary reads the wrong activations.
DEAD_SHARE = 0.3
# A feature firing on more than 10% of tokens is dense (the usual cut in the SAE literature); more than 5% of
# the features dense says the encoder's biases do not fit these activations (wrong hook or normalisation).
DENSE_DENSITY = 0.1
DENSE_SHARE = 0.05
# A dictionary that leaves more than half the variance of its hook unexplained probably reads the wrong
# hook or activations scaled differently from its training (Gemma 2's outputs captured before the post-norms
# gave FVUs above 1); a working SAE on its own hook is usually below 0.3.
FVU_LIMIT = 0.5
# The reconstruction is measured on the corpus's first 256 windows (32,768 tokens at 128 a window): plenty for
# a fraction of variance good to about a percent, and a decode as costly as the encode is not paid again on
# every later batch. Chosen by window id, so shards measure the same windows as one pass.
RECONSTRUCTION_WINDOWS = 256
# How many feature indices a warning lists.
LISTED_FEATURES = 20


@dataclass(frozen=True)
class RunWarning:
    code: str
    message: str
    detail: dict = field(default_factory=dict)
    severity: str = "warning"  # "warning" or "info" (a check that could not run, and why)
    source: str = ""  # the source slug it concerns, "" for the whole run

    def as_dict(self) -> dict:
        return asdict(self)


class CheckStatistics:
    """What the checks of one dictionary source need, accumulated batch by batch and mergeable."""

    COUNTS = ("fires_special", "fires_first")
    MASSES = ("mass", "mass_special", "mass_first")

    def __init__(self, n_features: int, d_out: int) -> None:
        self.n_features, self.d_out = n_features, d_out
        self.fires_special = torch.zeros(n_features, dtype=torch.long)
        self.fires_first = torch.zeros(n_features, dtype=torch.long)  # content tokens at position 0
        self.mass = torch.zeros(n_features, dtype=torch.float64)  # sum of positive activations
        self.mass_special = torch.zeros(n_features, dtype=torch.float64)
        self.mass_first = torch.zeros(n_features, dtype=torch.float64)
        self.tokens = torch.zeros(3, dtype=torch.long)  # all, special, windows
        # Reconstruction over content tokens: squared error, and the target's sums for its variance.
        self.squared_error = torch.zeros(1, dtype=torch.float64)
        self.target_sum = torch.zeros(d_out, dtype=torch.float64)
        self.target_squares = torch.zeros(1, dtype=torch.float64)
        self.target_tokens = torch.zeros(1, dtype=torch.long)
        # The dictionary's quality figures (quality.py), gathered in the same pass.
        self.quality: QualityStatistics | None = QualityStatistics(n_features, d_out)

    def update(self, activations: torch.Tensor, content_mask: torch.Tensor) -> None:
        """activations [B, T, F]; content_mask [B, T] False on special tokens. (How often each feature fires on
        text is the dashboards' histogram: DashboardAccumulator.positive_counts.)"""
        # Sums in float32 within a batch, float64 across batches; special and first tokens are a few rows of
        # the batch, gathered apart, so nothing here allocates another [B, T, F] tensor (dictionaries never
        # go negative; a clamp copies only for one that does).
        activations = activations.float()
        if bool(activations.amin() < 0):
            activations = activations.clamp(min=0)
        special = ~content_mask
        special_values = activations[special]  # [S, F]
        first_values = activations[:, 0][content_mask[:, 0]]  # [B', F] first tokens that are text
        self.mass += activations.sum(dim=(0, 1)).double()
        self.fires_special += torch.count_nonzero(special_values, dim=0)
        self.mass_special += special_values.sum(dim=0).double()
        self.fires_first += torch.count_nonzero(first_values, dim=0)
        self.mass_first += first_values.sum(dim=0).double()
        self.tokens += torch.tensor([content_mask.numel(), len(special_values), content_mask.shape[0]])
        if self.quality is not None:
            self.quality.add_sparsity(activations, content_mask)

    def add_reconstruction(
        self, target: torch.Tensor, reconstruction: torch.Tensor, content_mask: torch.Tensor
    ) -> None:
        """target and reconstruction [B, T, d_out] (the activations the dictionary reproduces, and what it
        wrote) of windows whose content_mask [B, T] is False on special tokens."""
        x = target[content_mask].float()
        written = reconstruction[content_mask].float()
        error = x - written
        if self.quality is not None:
            self.quality.add_reconstruction(x, written)
        self.squared_error += error.pow(2).sum().double()
        self.target_sum += x.sum(dim=0).double()
        self.target_squares += x.pow(2).sum().double()
        self.target_tokens += len(x)

    def merge(self, other: "CheckStatistics") -> None:
        for name, _ in self._tensors():
            getattr(self, name).add_(getattr(other, name))
        if self.quality is not None and other.quality is not None:
            self.quality.merge(other.quality)
        else:  # a partial from before the quality figures: none rather than figures of part of the corpus
            self.quality = None

    def _tensors(self) -> list[tuple[str, torch.Tensor]]:
        names = (*self.COUNTS, *self.MASSES, "tokens", "squared_error", "target_sum", "target_squares")
        return [(name, getattr(self, name)) for name in (*names, "target_tokens")]

    def to_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        tensors = {prefix + name: tensor for name, tensor in self._tensors()}
        if self.quality is not None:
            tensors.update(self.quality.to_tensors(prefix + "quality."))
        return tensors

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str) -> "CheckStatistics | None":
        if prefix + "mass" not in tensors:
            return None
        statistics = cls(len(tensors[prefix + "mass"]), len(tensors[prefix + "target_sum"]))
        for name, _ in statistics._tensors():
            setattr(statistics, name, tensors[prefix + name])
        statistics.quality = QualityStatistics.from_tensors(tensors, prefix + "quality.")
        return statistics

    @property
    def windows(self) -> int:
        return int(self.tokens[2])

    @property
    def fraction_of_variance_unexplained(self) -> float | None:
        """Squared error over the target's variance around its mean, over content tokens (1 - explained
        variance); None when the pass had no target or the target does not vary."""
        n = int(self.target_tokens)
        if n == 0:
            return None
        total = float(self.target_squares) - float(self.target_sum.pow(2).sum()) / n
        return float(self.squared_error) / total if total > 0 else None


def _feature_list(mask: torch.Tensor) -> dict:
    indices = mask.nonzero().squeeze(1).tolist()
    return {"count": len(indices), "share": len(indices) / max(len(mask), 1), "features": indices[:LISTED_FEATURES]}


def check_special_tokens(statistics: CheckStatistics, source: str) -> list[RunWarning]:
    flagged = (statistics.mass > 0) & (statistics.mass_special > SPECIAL_MASS_SHARE * statistics.mass)
    if not flagged.any():
        return []
    detail = _feature_list(flagged)
    return [
        RunWarning(
            code="special_tokens",
            message=(
                f"{detail['count']} feature(s) put most of their activation on special tokens (BOS, [CLS], "
                "separators), which dashboards do not show: they look rarer than they are. Many such features "
                "suggest a dictionary trained without these tokens, or with another BOS setting."
            ),
            detail=detail,
            source=source,
        )
    ]


def check_first_position(statistics: CheckStatistics, source: str) -> list[RunWarning]:
    flagged = (
        (statistics.fires_first > 0)
        & (statistics.fires_first >= FIRST_POSITION_WINDOWS * statistics.windows)
        & (statistics.mass_first >= FIRST_POSITION_SHARE * statistics.mass)
    )
    if not flagged.any():
        return []
    detail = _feature_list(flagged)
    return [
        RunWarning(
            code="first_position",
            message=(
                f"{detail['count']} feature(s) fire (almost) only on the first token of a window. Without a BOS "
                "token the first position carries the model's attention-sink activations; a dictionary trained "
                "with BOS first reads them as features. Run with the dictionary's prepend_bos, or ignore these."
            ),
            detail=detail,
            source=source,
        )
    ]


def check_dead_and_dense(content_fires: torch.Tensor, tokens: int, source: str) -> list[RunWarning]:
    """content_fires [F]: how many text tokens each feature fired on, of `tokens`."""
    warnings = []
    dead = content_fires == 0
    if dead.float().mean() > DEAD_SHARE:
        detail = {**_feature_list(dead), "tokens": tokens, "limit": DEAD_SHARE}
        warnings.append(
            RunWarning(
                code="dead_features",
                message=(
                    f"{detail['share']:.0%} of the features never fired over {tokens:,} tokens (limit "
                    f"{DEAD_SHARE:.0%}). Run over a longer corpus; if they stay dead, check the hook and the "
                    "dictionary's normalisation."
                ),
                detail=detail,
                source=source,
            )
        )
    dense = content_fires > DENSE_DENSITY * max(tokens, 1)
    if dense.float().mean() > DENSE_SHARE:
        detail = {**_feature_list(dense), "tokens": tokens, "density": DENSE_DENSITY, "limit": DENSE_SHARE}
        warnings.append(
            RunWarning(
                code="dense_features",
                message=(
                    f"{detail['share']:.0%} of the features fire on more than {DENSE_DENSITY:.0%} of tokens (limit "
                    f"{DENSE_SHARE:.0%} of the features). A dictionary on the right hook is sparse: check the hook "
                    "and the scale of the activations it reads."
                ),
                detail=detail,
                source=source,
            )
        )
    return warnings


def check_reconstruction(statistics: CheckStatistics, source: str, *, target_hook: str) -> list[RunWarning]:
    fvu = statistics.fraction_of_variance_unexplained
    if fvu is None:
        return [
            RunWarning(
                code="reconstruction_not_checked",
                message=(
                    f"Reconstruction was not checked: this run does not capture {target_hook}, the activations "
                    "the dictionary writes."
                ),
                detail={"target_hook": target_hook},
                severity="info",
                source=source,
            )
        ]
    if fvu <= FVU_LIMIT:
        return []
    return [
        RunWarning(
            code="poor_reconstruction",
            message=(
                f"The dictionary leaves {fvu:.0%} of the variance of {target_hook} unexplained (limit "
                f"{FVU_LIMIT:.0%}): it probably reads the wrong hook, or activations normalised differently from "
                "its training. Check the hook name and where this architecture's hook sits."
            ),
            detail={
                "fvu": fvu,
                "limit": FVU_LIMIT,
                "target_hook": target_hook,
                "tokens": int(statistics.target_tokens),
            },
            source=source,
        )
    ]


def check_prepend_bos(
    *, wanted: bool | None, first_tokens: set[int], bos_token_id: int | None, source: str
) -> list[RunWarning]:
    """The dictionary's prepend_bos (None: its config does not say) against the windows' actual first tokens."""
    if wanted is None:
        return [
            RunWarning(
                code="prepend_bos_unknown",
                message="The dictionary's config does not say whether it was trained with a BOS token first; "
                "the run used the tokenizer's own framing.",
                severity="info",
                source=source,
            )
        ]
    # Every window must start with BOS for a dictionary trained so; for one trained without, only windows that
    # all start with it say the framing added one (a document separator that doubles as BOS, as GPT-2's
    # <|endoftext|> does, may open a window now and then, as it did in training).
    all_bos = bos_token_id is not None and first_tokens == {bos_token_id}
    if bool(wanted) == all_bos:
        return []
    actual = "every window starts with BOS" if all_bos else "not every window starts with BOS"
    return [
        RunWarning(
            code="prepend_bos_mismatch",
            message=(
                f"The dictionary was trained with prepend_bos={wanted}, but {actual}: its features at the first "
                "positions read activations it never saw."
            ),
            detail={"prepend_bos": wanted, "bos_token_id": bos_token_id, "first_tokens": sorted(first_tokens)[:10]},
            source=source,
        )
    ]


def check_context_size(
    *, context_size: int | None, window_len: int, corpus_tokens: int, source: str
) -> list[RunWarning]:
    """The dictionary's training context (SAELens `context_size`) against the run's windows and corpus."""
    if not isinstance(context_size, int) or isinstance(context_size, bool) or context_size < 1:
        return []  # not given, or not a length
    warnings = []
    if window_len > context_size:
        warnings.append(
            RunWarning(
                code="windows_beyond_context",
                message=(
                    f"Windows of {window_len} tokens are longer than the {context_size} the dictionary was trained "
                    "on: its features past that position read activations it never saw."
                ),
                detail={"window_len": window_len, "context_size": context_size},
                source=source,
            )
        )
    if corpus_tokens < context_size:
        warnings.append(
            RunWarning(
                code="corpus_shorter_than_context",
                message=(
                    f"The run read {corpus_tokens:,} tokens, fewer than one training context of the dictionary "
                    f"({context_size:,}): densities and dead features mean little on so little text."
                ),
                detail={"corpus_tokens": corpus_tokens, "context_size": context_size},
                source=source,
            )
        )
    return warnings


def check_source(
    statistics: CheckStatistics, content_fires: torch.Tensor, tokens: int, source: str, *, target_hook: str
) -> list[RunWarning]:
    """Every check that reads a dictionary source's statistics; content_fires [F] and tokens are the dashboards'
    (features' activating text tokens, text tokens)."""
    return [
        *check_special_tokens(statistics, source),
        *check_first_position(statistics, source),
        *check_dead_and_dense(content_fires, tokens, source),
        *check_reconstruction(statistics, source, target_hook=target_hook),
    ]
