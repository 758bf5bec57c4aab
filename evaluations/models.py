"""Feature families: the features of two dictionaries matched by the cosine of their decoder directions.

A DictionaryMatching is one comparison of two sources (computed by `manage.py match_features`); its
FeatureMatch rows are the optimal one-to-one pairs and the many-to-one splits (evaluations/core/matching.py).
Source A is the narrower dictionary when widths differ: a split then reads "feature index_a of A splits into
index_b of B".
"""

from django.db import models

from features.models import Source


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
