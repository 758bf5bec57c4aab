"""Comments on a feature or an explanation: post, reply, edit, delete, hide, report."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.decorators import wiki_write
from explanations.services import comments as comment_services

from ..forms import CommentForm
from ..models import Comment
from .base import apply_errors, back_to, comment_or_404, feature_or_404, report

# --- Comments --------------------------------------------------------------------------------


def _render_comment(request: HttpRequest, comment: Comment) -> HttpResponse:
    comment.can_edit = comment_services.comment_can_edit(comment, request.user)
    comment.is_own = request.user.is_authenticated and comment.author_id == request.user.pk
    return render(request, "explanations/_comment_main.html", {"comment": comment, "can_write": True})


@wiki_write(rate="comment")
def comment_new(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = feature_or_404(model_slug, source_slug, index)
    form = CommentForm(request.POST or None, initial={"explanation": request.GET.get("explanation")})
    if request.method == "POST" and form.is_valid():
        explanation = None
        if form.cleaned_data["explanation"]:
            explanation = feature.explanations.filter(pk=form.cleaned_data["explanation"]).first()
        try:
            comment = comment_services.comment_post(
                author=request.user, feature=feature, body=form.cleaned_data["body"], explanation=explanation
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return back_to(feature, f"comment-{comment.pk}")
    return render(request, "explanations/comment_form.html", {"form": form, "feature": feature, "parent": None})


@wiki_write(rate="comment")
def comment_reply(request: HttpRequest, pk: int) -> HttpResponse:
    parent = comment_or_404(pk)
    feature = parent.feature
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            comment = comment_services.comment_post(
                author=request.user, feature=feature, body=form.cleaned_data["body"], parent=parent
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            if request.htmx:
                comment.can_edit = True
                comment.is_own = True
                return render(request, "explanations/_new_reply.html", {"comment": comment, "can_write": True})
            return back_to(feature, f"comment-{comment.pk}")
    template = "explanations/_reply_form.html" if request.htmx else "explanations/comment_form.html"
    return render(request, template, {"form": form, "feature": feature, "parent": parent})


@wiki_write(rate="comment")
def comment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    comment = comment_or_404(pk)
    # Refuse before showing the form, too: the service is the one that refuses the save.
    if comment.author_id != request.user.pk:
        raise PermissionDenied("You can only edit your own comments.")
    form = CommentForm(request.POST or None, initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        try:
            comment_services.comment_edit(comment=comment, user=request.user, body=form.cleaned_data["body"])
        except ValidationError as error:
            apply_errors(form, error)
        else:
            if request.htmx:
                return _render_comment(request, comment)
            return back_to(comment.feature, f"comment-{comment.pk}")
    elif not comment_services.comment_can_edit(comment, request.user):
        raise PermissionDenied(
            "This comment can no longer be edited: comments can be changed for a while after posting, "
            "unless deleted or hidden."
        )
    template = "explanations/_comment_edit_form.html" if request.htmx else "explanations/comment_edit.html"
    return render(request, template, {"form": form, "comment": comment, "feature": comment.feature})


@require_POST
@wiki_write()
def comment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    comment = comment_or_404(pk)
    comment_services.comment_delete(comment=comment, user=request.user)
    if request.htmx:
        return _render_comment(request, comment)
    messages.success(request, "Your comment is deleted; replies to it stay.")
    return back_to(comment.feature, f"comment-{comment.pk}")


@require_POST
@wiki_write()
def comment_hide(request: HttpRequest, pk: int) -> HttpResponse:
    comment = comment_or_404(pk)
    hidden = request.POST.get("hidden", "1") == "1"
    comment_services.comment_set_hidden(comment=comment, moderator=request.user, hidden=hidden)
    if request.htmx:
        return _render_comment(request, comment)
    return back_to(comment.feature, f"comment-{comment.pk}")


@wiki_write(rate="report")
def comment_report(request: HttpRequest, pk: int) -> HttpResponse:
    comment = comment_or_404(pk)
    if not comment.is_visible:
        raise Http404("That comment was deleted or hidden already.")
    return report(request, comment.feature, {"comment": comment}, f"comment-{pk}")
