from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import services
from accounts.models import ApiKey


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The account's API keys: create one (shown once, on the page that answers the POST) or revoke one."""
    new_key = ""
    error = ""
    status = 200
    if request.method == "POST":
        try:
            _key, new_key = services.api_key_create(user=request.user, name=request.POST.get("name", ""))
        except ValidationError as invalid:
            error = " ".join(invalid.messages)
            status = 400
    context = {
        "keys": ApiKey.objects.filter(user=request.user),
        "new_key": new_key,
        "error": error,
        "max_keys": services.MAX_ACTIVE_API_KEYS,
    }
    response = render(request, "accounts/api_keys.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a new key: no cache keeps it
    return response


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = ApiKey.objects.filter(pk=pk, user=request.user).first()
    if key is None:
        raise Http404("You have no such key.")
    services.api_key_revoke(key=key, user=request.user)
    messages.success(request, f"Revoked the key {key.name!r}: it no longer works.")
    return redirect("accounts:api-keys")
