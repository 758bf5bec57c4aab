"""Responses the wiki's pages share: the friendly 404 (with suggestions from features.addresses) and the
refusal of live inference past its rate limit. Used by the features app's pages and by front/."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.core.sliding_window import describe_period, describe_wait, parse_limit
from accounts.rate_limits import window_consume

from .addresses import Missing, all_models_missing


def not_found_page(request: HttpRequest, missing: Missing, *, jump_query: str = "") -> HttpResponse:
    context = {
        "message": missing.message,
        "suggestions_label": missing.suggestions_label,
        "suggestions": missing.suggestions,
        "jump_query": jump_query,
    }
    return render(request, "404.html", context, status=404)


def missing_page(request: HttpRequest, target: str | Missing) -> HttpResponse:
    # A page that did not exist a moment ago may exist now (a run just finished): then go there.
    return redirect(target) if isinstance(target, str) else not_found_page(request, target)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404. The resolver's own exception carries a dict of tried patterns, not a message for people."""
    reason = exception.args[0] if exception and exception.args and isinstance(exception.args[0], str) else ""
    return not_found_page(request, all_models_missing(reason or f"There is no page at {request.path}."))


def inference_refusal(request: HttpRequest) -> tuple[str, int] | None:
    """Count one live-inference request from the client's address (the sliding-window counter of
    accounts/rate_limits.py); (message, seconds to wait) once it is over the limit. Each request runs a model
    on this server, so the limit is per address, signed in or not."""
    limit = parse_limit(settings.NEURONPEDIA_INFERENCE_RATE)
    wait = window_consume(f"inference-rate:{request.META.get('REMOTE_ADDR', '')}", limit)
    if wait is None:
        return None
    return (
        f"Slow down a little: live inference runs a model on this server, so each visitor gets {limit.count} "
        f"requests {describe_period(limit.seconds)}. Try again in {describe_wait(wait)}.",
        wait,
    )


def inference_response(request: HttpRequest, template: str, context: dict, refused: tuple[str, int] | None):
    if refused is None:
        return render(request, template, context, status=400 if context.get("error") else 200)
    context["error"] = refused[0]
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(refused[1])
    return response
