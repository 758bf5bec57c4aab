"""Scores of explanations. Many per explanation, one value per scorer run; the scorers themselves are
plain Python (scoring/core, no Django) and this stores what they return."""

from django.db import models
from django.db.models import F, OuterRef, Q, Subquery
from django.urls import reverse

from explanations.models import Explanation, ExplanationRevision

from .core.meaning import score_meaning


def of_current_text() -> Q:
    """Scores of their explanation's current revision, or that name no revision (scores from before scores were
    bound to revisions, and hand-made test data: taken to be of the text as it reads)."""
    return Q(revision_id=F("explanation__current_revision_id")) | Q(revision__isnull=True)


class ExplanationScoreQuerySet(models.QuerySet):
    def latest_per_scorer(self) -> "ExplanationScoreQuerySet":
        """Each explanation's latest score by each scorer for its current text (what pages show), ordered by
        scorer. Scores of earlier revisions stay in the database (a revert brings them back) but are not shown:
        they vouch for a text the explanation no longer says."""
        return self.filter(
            pk=Subquery(
                ExplanationScore.objects.filter(
                    of_current_text(), explanation=OuterRef("explanation"), scorer=OuterRef("scorer")
                )
                .order_by("-created_at", "-pk")
                .values("pk")[:1]
            ),
        ).order_by("scorer")


class ExplanationScore(models.Model):
    explanation = models.ForeignKey(Explanation, on_delete=models.CASCADE, related_name="scores")
    # The text that was scored: a later revision of the explanation needs scores of its own.
    revision = models.ForeignKey(
        ExplanationRevision, null=True, blank=True, on_delete=models.CASCADE, related_name="scores"
    )
    scorer = models.CharField(max_length=64, help_text="Registered scorer name, e.g. simulation")
    value = models.FloatField()
    details = models.JSONField(default=dict, blank=True, help_text="Per-example breakdown")
    example_mix = models.JSONField(default=dict, blank=True, help_text="How many top/random/hard-negative examples")
    judge = models.CharField(
        max_length=200, blank=True, help_text="Who simulated or judged: semantic or literal (offline), or the LLM"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExplanationScoreQuerySet.as_manager()

    class Meta:
        ordering = ["explanation", "scorer", "-created_at"]
        indexes = [models.Index(fields=["explanation", "scorer"], name="score_explanation_scorer")]
        constraints = [
            # One score per text, scorer and judge: scoring again finds it instead of adding another. The
            # human score is the exception: Verify mode appends a new one as verdicts come in.
            models.UniqueConstraint(
                fields=["revision", "scorer", "judge"],
                condition=~Q(scorer="human"),
                name="score_one_per_revision_scorer_judge",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scorer}={self.value:.3f} for explanation {self.explanation_id}"

    def get_absolute_url(self) -> str:
        return reverse("scoring:score", args=[self.explanation_id, self.pk])

    @property
    def meaning(self) -> str:
        """One sentence for a tooltip: the metric, the examples it was computed on, and what chance is."""
        return score_meaning(self.scorer, self.value, self.details or {}, self.example_mix or {})

    @property
    def has_breakdown(self) -> bool:
        return bool((self.details or {}).get("examples"))

    @classmethod
    def from_result(cls, result, *, explanation: Explanation, revision: ExplanationRevision | None = None):
        """An unsaved score from a scoring.core ScoreResult, for the given explanation (and revision)."""
        return cls(
            explanation=explanation,
            revision=revision,
            scorer=result.scorer,
            value=result.value,
            details=result.details,
            example_mix=result.example_mix,
            judge=str(result.details.get("judge") or result.details.get("embedder") or ""),
        )
