"""Attribution graphs as wiki pages.

A graph is stored in circuit-tracer's JSON schema (the one Neuronpedia's graph viewer renders:
`metadata`, `qParams`, `nodes`, `links`; see docs/circuits.md), so that a graph computed here opens in their
viewers and one computed by circuit-tracer elsewhere can be imported as it is.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from features.models import LanguageModel, PipelineRun, slug_validator


class Graph(models.Model):
    class Origin(models.TextChoices):
        COMPUTED = "computed", "Computed here"
        IMPORTED = "imported", "Imported from circuit-tracer's JSON"

    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="graphs")
    slug = models.CharField(max_length=64, validators=[slug_validator])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    prompt = models.TextField()
    # What the graph explains, in words ("the logit of ' Paris' at the last position", "3-res-sae:17 at 5").
    target = models.CharField(max_length=300, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.COMPUTED)
    # circuit-tracer's schema: {"metadata": {...}, "qParams": {...}, "nodes": [...], "links": [...]}.
    data = models.JSONField(default=dict)
    # How it was computed: sources, node budget, thresholds, the target's specification.
    params = models.JSONField(default=dict, blank=True)
    # circuit-tracer's two scores of the pruned graph (None when unknown, e.g. an imported graph without them).
    replacement_score = models.FloatField(null=True, blank=True)
    completeness_score = models.FloatField(null=True, blank=True)
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="graphs")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["model", "slug"], name="graph_unique_slug_per_model")]

    def __str__(self) -> str:
        return f"{self.model.slug}/graphs/{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse("circuits:graph", args=[self.model.slug, self.slug])


class FeatureConnection(models.Model):
    """A virtual weight between two features of one model: how much of `upstream`'s output direction `downstream`'s
    encoder reads through the residual stream (circuits/core/virtual_weights.py). Only each feature's strongest
    connections are stored (its top k both ways, computed by a CONNECTIONS run)."""

    upstream = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="downstream_connections")
    downstream = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="upstream_connections")
    weight = models.FloatField()
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="connection_unique_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.upstream} -> {self.downstream} ({self.weight:+.3f})"


class FeatureCoactivation(models.Model):
    """Two features that fire on the same tokens, stored in `feature`'s row for each of its top others by Jaccard
    (circuits/core/coactivation.py), with the counts they were measured from."""

    feature = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="coactivations")
    other = models.ForeignKey("features.Feature", on_delete=models.CASCADE, related_name="+")
    jaccard = models.FloatField()
    lift = models.FloatField()
    together = models.PositiveIntegerField(help_text="Tokens on which both fire.")
    feature_fires = models.PositiveIntegerField(help_text="Tokens on which `feature` fires.")
    other_fires = models.PositiveIntegerField(help_text="Tokens on which `other` fires.")
    tokens = models.PositiveIntegerField(help_text="Tokens counted.")
    run = models.ForeignKey(PipelineRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["feature", "-jaccard", "other"]
        constraints = [models.UniqueConstraint(fields=["feature", "other"], name="coactivation_unique_pair")]

    def __str__(self) -> str:
        return f"{self.feature} ~ {self.other} (Jaccard {self.jaccard:.3f})"
