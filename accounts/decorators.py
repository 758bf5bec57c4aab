"""The one decorator for views that write on the wiki: signed in, not banned, within the rate limits.

It also turns the services' PermissionDenied and our RateLimited into friendly responses: a full page
(403.html, 429.html) for ordinary requests, a short notice for htmx requests (swapped into #wiki-notice),
so a crafted request gets the same refusal as a click.
"""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from .models import user_is_banned
from .rate_limits import RateLimited, rate_limit_consume


def refusal(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = render(request, "accounts/_notice.html", {"message": message}, status=status)
        response["HX-Retarget"] = "#wiki-notice"
        response["HX-Reswap"] = "innerHTML"
        return response
    template = "429.html" if status == 429 else "403.html"
    return render(request, template, {"message": message}, status=status)


def wiki_write(rate: str | None = None) -> Callable:
    """For views that change the wiki. `rate` names the WIKI_RATE_LIMITS entry that POSTs count against."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    # htmx cannot follow a redirect to a whole page into a widget; send the browser there.
                    response = HttpResponse(status=401)
                    back = request.htmx.current_url_abs_path or request.get_full_path()
                    response["HX-Redirect"] = f"{reverse('account_login')}?{urlencode({'next': back})}"
                    return response
                return redirect_to_login(request.get_full_path())
            try:
                if user_is_banned(request.user):
                    raise PermissionDenied("Your account is banned from writing on the wiki.")
                if rate and request.method == "POST":
                    rate_limit_consume(action=rate, key=str(request.user.pk))
                return view(request, *args, **kwargs)
            except PermissionDenied as denied:
                return refusal(request, str(denied) or "You cannot do that.", status=403)
            except RateLimited as limited:
                response = refusal(request, str(limited), status=429)
                response["Retry-After"] = str(limited.retry_after)
                return response

        return wrapped

    return decorator
