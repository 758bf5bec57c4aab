"""Score pages and the buttons that queue explanation and scoring runs from a feature's page. Thin: the
services check who may do what; wiki_write handles sign-in, bans and rate limits."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import refusal, wiki_write
from explanations.models import Explanation
from features.models import Feature, PipelineRun

from . import selectors
from .services.runs import PipelineRequestError, explanation_score_request, feature_explain_request


def score_detail(request: HttpRequest, pk: int, score_pk: int) -> HttpResponse:
    score = selectors.score_for_page(explanation_pk=pk, score_pk=score_pk)
    if score is None or (score.explanation.hidden and not request.user.is_staff):
        raise Http404("There is no such score.")
    feature = score.explanation.feature
    context = {
        "score": score,
        "explanation": score.explanation,
        "feature": feature,
        "source": feature.source,
        "model": feature.source.model,
        "breakdown": selectors.score_breakdown(score),
        "is_current": score.revision_id is None or score.revision_id == score.explanation.current_revision_id,
    }
    return render(request, "scoring/score_detail.html", context)


def _run_started(request: HttpRequest, run: PipelineRun, created: bool, what: str) -> HttpResponse:
    sentence = f"{what}: run #{run.pk}." if created else f"That is already under way: run #{run.pk}."
    if request.htmx:
        return render(request, "scoring/_run_started.html", {"run": run, "sentence": sentence})
    messages.success(request, sentence)
    return redirect(run)


@wiki_write(rate="generate")
@require_POST
def feature_generate(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = get_object_or_404(
        Feature.objects.select_related("source__model"),
        source__model__slug=model_slug,
        source__slug=source_slug,
        index=index,
    )
    try:
        run, created = feature_explain_request(
            feature=feature, user=request.user, explainer=request.POST.get("explainer", "token-stats")
        )
    except PipelineRequestError as error:
        return refusal(request, str(error), status=400)
    return _run_started(request, run, created, "Explaining and scoring this feature")


@wiki_write(rate="generate")
@require_POST
def explanation_score(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = get_object_or_404(Explanation.objects.select_related("feature__source__model"), pk=pk)
    try:
        run, created = explanation_score_request(explanation=explanation, user=request.user)
    except PipelineRequestError as error:
        return refusal(request, str(error), status=400)
    return _run_started(request, run, created, "Scoring this explanation")
