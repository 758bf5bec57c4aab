"""Scores of explanations. Many per explanation, one value per scorer run; the scorers themselves are
plain Python (scoring/core, no Django) and this stores what they return."""

from django.db import models

from explanations.models import Explanation, ExplanationRevision


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
    judge = models.CharField(max_length=200, blank=True, help_text="Who simulated or judged: offline, or the LLM")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["explanation", "scorer", "-created_at"]
        indexes = [models.Index(fields=["explanation", "scorer"], name="score_explanation_scorer")]

    def __str__(self) -> str:
        return f"{self.scorer}={self.value:.3f} for explanation {self.explanation_id}"

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
