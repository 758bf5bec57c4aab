"""Explanations: write one, its history, diffs and revisions, edit, revert, vote, hide, report; and locking a
feature's explanations (moderators)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import wiki_write
from explanations.services import explanations as explanation_services
from explanations.services import moderation as moderation_services
from explanations.services import permissions as permission_services
from explanations.services import votes as vote_services

from .. import selectors
from ..core.diffing import word_diff
from ..forms import ExplanationForm
from ..models import Explanation, ExplanationRevision
from .base import apply_errors, back_to, explanation_or_404, feature_or_404, report

# --- Explanations ----------------------------------------------------------------------------


@wiki_write(rate="explanation")
def explanation_new(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = feature_or_404(model_slug, source_slug, index)
    form = ExplanationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            explanation = explanation_services.explanation_create(
                feature=feature,
                author=request.user,
                text=form.cleaned_data["text"],
                rule_text=form.cleaned_data["rule"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Thank you: your explanation is on the page.")
            return back_to(feature, f"explanation-{explanation.pk}")
    locked = permission_services.feature_is_locked(feature) and not request.user.is_staff
    return render(request, "explanations/explanation_form.html", {"form": form, "feature": feature, "locked": locked})


@require_GET
def explanation_history(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    context = {
        "explanation": explanation,
        "feature": explanation.feature,
        "revisions": selectors.explanation_history(explanation),
        "comments": selectors.explanation_comments(explanation),
    }
    return render(request, "explanations/history.html", context)


@require_GET
def revision_detail(request: HttpRequest, pk: int, revision_pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    revision = get_object_or_404(
        ExplanationRevision.objects.select_related("author"), pk=revision_pk, explanation=explanation
    )
    context = {"explanation": explanation, "feature": explanation.feature, "revision": revision}
    return render(request, "explanations/revision.html", context)


@require_GET
def explanation_diff(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    revisions = {revision.pk: revision for revision in selectors.explanation_history(explanation)}
    try:
        old = revisions[int(request.GET.get("from", ""))]
        new = revisions[int(request.GET.get("to", ""))]
    except (KeyError, ValueError):
        raise Http404("Choose two revisions of this explanation to compare.") from None
    if old.created_at > new.created_at or (old.created_at == new.created_at and old.pk > new.pk):
        old, new = new, old
    context = {
        "explanation": explanation,
        "feature": explanation.feature,
        "old": old,
        "new": new,
        "text_diff": word_diff(old.text, new.text),
        "rule_diff": word_diff(old.rule_source, new.rule_source),
    }
    return render(request, "explanations/diff.html", context)


@wiki_write(rate="explanation")
def explanation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    current = explanation.current_revision
    initial = {"text": current.text, "rule": current.rule_source, "base_revision": current.pk}
    form = ExplanationForm(request.POST or None, initial=initial)
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            explanation_services.explanation_revise(
                explanation=explanation,
                author=request.user,
                text=form.cleaned_data["text"],
                rule_text=form.cleaned_data["rule"],
                message=form.cleaned_data["message"],
                base_revision_id=form.cleaned_data["base_revision"],
            )
        except ValidationError as error:
            apply_errors(form, error)
            if getattr(error, "code", None) == "edit_conflict":
                explanation.refresh_from_db()
                conflict = explanation.current_revision
                # Saving again saves on top of the version they have now seen.
                form.data = form.data.copy()
                form.data["base_revision"] = conflict.pk
        else:
            messages.success(request, "Saved a new revision.")
            return back_to(explanation.feature, f"explanation-{explanation.pk}")
    locked = permission_services.feature_is_locked(explanation.feature) and not request.user.is_staff
    context = {
        "form": form,
        "feature": explanation.feature,
        "explanation": explanation,
        "locked": locked,
        "conflict": conflict,
        "conflict_diff": word_diff(form.data.get("text", ""), conflict.text) if conflict else None,
    }
    return render(request, "explanations/explanation_form.html", context)


@require_POST
@wiki_write(rate="explanation")
def explanation_revert(request: HttpRequest, pk: int, revision_pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    revision = get_object_or_404(ExplanationRevision, pk=revision_pk, explanation=explanation)
    try:
        explanation_services.explanation_revert(
            explanation=explanation, revision=revision, author=request.user, message=request.POST.get("message", "")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Reverted to revision {revision.pk}.")
    return redirect("explanations:history", pk=explanation.pk)


@require_POST
@wiki_write(rate="vote")
def explanation_vote(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    try:
        value = int(request.POST.get("value", ""))
        outcome = vote_services.vote_cast(user=request.user, explanation=explanation, value=value)
    except (ValueError, ValidationError):
        return HttpResponse("A vote is 1, -1 or 0.", status=400)
    explanation.user_vote = outcome.value
    if request.htmx:
        explanation.earlier_vote_count = (
            Explanation.objects.with_earlier_vote_count().values_list("earlier_vote_count", flat=True).get(pk=pk)
        )
        return render(request, "explanations/_vote.html", {"explanation": explanation, "can_vote": True})
    return back_to(explanation.feature, f"explanation-{explanation.pk}")


@require_POST
@wiki_write()
def explanation_hide(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = selectors.explanation_for_page(pk)
    if explanation is None:
        raise Http404("There is no such explanation.")
    hidden = request.POST.get("hidden", "1") == "1"
    explanation_services.explanation_set_hidden(explanation=explanation, moderator=request.user, hidden=hidden)
    messages.success(request, "Explanation hidden." if hidden else "Explanation shown again.")
    return back_to(explanation.feature, "explanations")


@wiki_write(rate="report")
def explanation_report(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = explanation_or_404(pk, request.user)
    return report(request, explanation.feature, {"explanation": explanation}, f"explanation-{pk}")


# --- Moderation on the feature page ----------------------------------------------------------


@require_POST
@wiki_write()
def feature_lock(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = feature_or_404(model_slug, source_slug, index)
    if request.POST.get("locked", "1") == "1":
        moderation_services.feature_lock(feature=feature, moderator=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, "Locked: only moderators can change these explanations now.")
    else:
        moderation_services.feature_unlock(feature=feature, moderator=request.user)
        messages.success(request, "Unlocked.")
    return back_to(feature, "explanations")
