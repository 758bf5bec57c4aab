from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import services
from accounts.models import ApiKey, user_is_banned
from explanations.models import Comment, Explanation, ExplanationRevision
from explanations.selectors import profile_activity

# A profile lists the most recent contributions; the totals above each list count them all.
PROFILE_LIST_LIMIT = 50


def profile(request: HttpRequest, username: str) -> HttpResponse:
    person = get_user_model().objects.filter(username=username).first()
    if person is None:
        raise Http404(f"There is no user called {username}.")
    # Each row links to its feature, whose URL needs the source and the model: join them here so
    # the page costs the same few queries however many rows it shows.
    explanations = (
        Explanation.objects.filter(author=person, hidden=False)
        .select_related("feature__source__model", "current_revision")
        .order_by("-created_at")
    )
    comments = (
        Comment.objects.filter(author=person, deleted=False, hidden=False)
        .select_related("feature__source__model")
        .order_by("-created_at")
    )
    is_owner = request.user.is_authenticated and request.user.pk == person.pk
    context = {
        "person": person,
        "is_owner": is_owner,
        "banned": user_is_banned(person),
        "explanations": explanations[:PROFILE_LIST_LIMIT],
        "explanation_count": explanations.count(),
        "revision_count": ExplanationRevision.objects.filter(author=person).count(),
        "comments": comments[:PROFILE_LIST_LIMIT],
        "comment_count": comments.count(),
        # Revisions (with links to their diffs) and lists: public ones, or all of them for their owner.
        **profile_activity(person=person, viewer=request.user, limit=PROFILE_LIST_LIMIT),
    }
    return render(request, "accounts/profile.html", context)


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
