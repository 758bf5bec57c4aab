"""A dictionary's quality figures (evaluations/): the latest evaluation run's, or the activation pass's."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evaluations.models import METRICS
from evaluations.selectors import source_quality

from .. import selectors
from .base import READ_ERRORS, or_404


class SourceMetricsOut(serializers.Serializer):
    source = serializers.CharField(help_text="MODEL/SOURCE")
    measured = serializers.BooleanField(help_text="False until an activation run or an evaluation has measured it")
    origin = serializers.ChoiceField(
        choices=["evaluation", "activation_run"],
        allow_null=True,
        help_text="evaluation: `evaluate_source` over every window, with the spliced loss; activation_run: the "
        "activation pass (reconstruction over its first windows, no loss figures)",
    )
    run = serializers.IntegerField(allow_null=True, help_text="The run that measured them")
    corpus = serializers.CharField(allow_blank=True)
    loss_refusal = serializers.CharField(allow_blank=True, help_text="Why there are no loss figures, if there are none")
    metrics = serializers.DictField(
        help_text="Figures by name (l0, l0_median, l0_p90, explained_variance, fvu, mse, cosine, shrinkage, "
        "dead_fraction, dense_fraction, tokens; with an evaluation also ce_loss_clean, ce_loss_spliced, "
        "ce_loss_ablated, delta_loss, loss_recovered, kl_spliced, kl_ablated, kl_recovered) and the histograms "
        "l0_histogram {edges, counts} and log_density_histogram {edges (log10), counts, dead}"
    )
    meanings = serializers.DictField(child=serializers.CharField(), help_text="What each main figure means")


@extend_schema(
    summary="A dictionary's quality figures (sparsity, reconstruction, spliced loss)",
    responses={200: SourceMetricsOut, **READ_ERRORS},
)
class SourceMetrics(APIView):
    def get(self, request: Request, model_slug: str, source_slug: str) -> Response:
        source = or_404(
            selectors.source_by_address(model_slug, source_slug), f"There is no source {model_slug}/{source_slug}."
        )
        quality = source_quality(source)
        evaluation = quality.evaluation if quality else None
        payload = {
            "source": f"{source.model.slug}/{source.slug}",
            "measured": quality is not None,
            "origin": None if quality is None else ("evaluation" if evaluation else "activation_run"),
            "run": quality.run.pk if quality and quality.run else None,
            "corpus": evaluation.corpus if evaluation else "",
            "loss_refusal": evaluation.loss_refusal if evaluation else "",
            "metrics": quality.metrics if quality else {},
            "meanings": {name: meaning for name, (_, meaning) in METRICS.items()},
        }
        return Response(SourceMetricsOut(payload).data)
