"""What the evaluations app stores: a dictionary's quality figures measured by an evaluation run
(SourceEvaluation), and feature families: the features of two dictionaries matched by the cosine of their
decoder directions.

A DictionaryMatching is one comparison of two sources (computed by `manage.py match_features`); its
FeatureMatch rows are the optimal one-to-one pairs and the many-to-one splits (evaluations/core/matching.py).
Source A is the narrower dictionary when widths differ: a split then reads "feature index_a of A splits into
index_b of B".
"""

from django.db import models

from features.models import PipelineRun, Source


class DictionaryMatching(models.Model):
    class Relation(models.TextChoices):
        WIDTH = "width", "Same hook, different widths"
        LAYER = "layer", "Different layers of one model"
        MODEL = "model", "Different models of one width (base and fine-tuned)"

    source_a = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="matchings_as_a")
    source_b = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="matchings_as_b")
    relation = models.CharField(max_length=16, choices=Relation.choices)
    split_threshold = models.FloatField(help_text="Splits with a lower decoder cosine are not kept.")
    n_one_to_one = models.PositiveIntegerField()
    mean_one_to_one_cosine = models.FloatField()
    n_splits = models.PositiveIntegerField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_a", "source_b"]
        constraints = [
            models.UniqueConstraint(fields=["source_a", "source_b"], name="matching_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.source_a} ~ {self.source_b}"


class FeatureMatch(models.Model):
    class Kind(models.TextChoices):
        ONE_TO_ONE = "one_to_one", "Optimal one-to-one match"
        SPLIT = "split", "Split (best match of B's feature in A)"

    matching = models.ForeignKey(DictionaryMatching, on_delete=models.CASCADE, related_name="matches")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    index_a = models.PositiveIntegerField()
    index_b = models.PositiveIntegerField()
    cosine = models.FloatField()

    class Meta:
        ordering = ["matching", "kind", "index_a", "index_b"]
        constraints = [
            models.UniqueConstraint(fields=["matching", "kind", "index_b"], name="feature_match_unique_b"),
        ]
        indexes = [models.Index(fields=["matching", "kind", "index_a"], name="feature_match_by_a")]

    def __str__(self) -> str:
        return f"{self.matching.source_a}:{self.index_a} ~ {self.matching.source_b}:{self.index_b} ({self.kind})"


# The figures a comparison sets side by side, in the order a table shows them, each with what it means. The
# metrics dict of a SourceEvaluation (and Source.config["quality"] from an activation run) holds them by name.
METRICS = {
    "l0": ("L0", "How many features fire on a token, on average. Lower is sparser."),
    "explained_variance": (
        "Explained variance",
        "The share of the activations' variance the reconstruction keeps. 1 is perfect.",
    ),
    "fvu": ("FVU", "Fraction of variance unexplained: 1 minus the explained variance. Lower is better."),
    "mse": ("MSE", "Squared error of the reconstruction, summed over dimensions, averaged over tokens."),
    "cosine": ("Cosine", "How closely the reconstruction points the same way as the activations. 1 is perfect."),
    "shrinkage": (
        "Shrinkage",
        "Length of the reconstruction relative to the activations' (relative reconstruction bias). "
        "Below 1 means the reconstruction is shrunk, as an L1 penalty does; 1 is unbiased.",
    ),
    "delta_loss": (
        "Delta loss",
        "How much the model's next-token loss rises when the reconstruction replaces the real activations. "
        "Lower is better.",
    ),
    "loss_recovered": (
        "Loss recovered",
        "Where the spliced loss lies between deleting the activations (0) and keeping them (1).",
    ),
    "kl_spliced": (
        "KL divergence",
        "How far the model's next-token predictions move when the reconstruction is spliced in. 0 is no change.",
    ),
    "ce_loss_clean": ("Clean loss", "The model's own next-token loss on these tokens."),
    "ce_loss_spliced": ("Spliced loss", "The next-token loss with the reconstruction in place of the activations."),
    "ce_loss_ablated": ("Zero-ablated loss", "The next-token loss with the activations set to zero."),
    "dead_fraction": ("Dead", "Share of the features that never fired on these tokens."),
    "dense_fraction": ("Dense", "Share of the features that fired on more than 10% of tokens."),
}


class SourceEvaluation(models.Model):
    """One evaluation of a dictionary source over a corpus's first windows (`manage.py evaluate_source`)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="evaluations")
    run = models.OneToOneField(
        PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="source_evaluation"
    )
    corpus = models.CharField(max_length=500)
    n_windows = models.PositiveIntegerField()
    window_len = models.PositiveIntegerField()
    tokens = models.PositiveIntegerField(help_text="Content tokens measured (special tokens left out).")
    # The figures by name (METRICS), with the L0 and log-density histograms: features/pipeline/quality.py and
    # evaluations/core/metrics.py compute them.
    metrics = models.JSONField(default=dict)
    loss_refusal = models.TextField(blank=True, help_text="Why the spliced loss was not measured, if it was not.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"evaluation of {self.source} over {self.tokens} tokens"
