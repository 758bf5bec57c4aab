"""The community's pages and actions: explanations with history, votes, comments, reports, lists,
bookmarks, watches, search and recent changes. Thin views: they read forms, call a service or a selector,
and answer with a page, an htmx fragment, or a redirect back to where the reader was."""

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import wiki_write
from features.models import Feature, LanguageModel

from . import selectors, services
from .core.diffing import word_diff
from .forms import AddToListForm, CommentForm, ExplanationForm, FeatureListForm, ReportForm
from .models import Comment, Explanation, ExplanationRevision, FeatureList

# --- Helpers ---------------------------------------------------------------------------------


def _feature_or_404(model_slug: str, source_slug: str, index: int) -> Feature:
    feature = (
        Feature.objects.select_related("source__model")
        .filter(source__model__slug=model_slug, source__slug=source_slug, index=index)
        .first()
    )
    if feature is None:
        raise Http404(f"There is no feature {model_slug}/{source_slug}/{index}.")
    return feature


def _explanation_or_404(pk: int, user) -> Explanation:
    explanation = selectors.explanation_for_page(pk)
    if explanation is None or (explanation.hidden and not user.is_staff):
        raise Http404("There is no such explanation, or a moderator has hidden it.")
    return explanation


def _comment_or_404(pk: int) -> Comment:
    comment = Comment.objects.select_related("feature__source__model", "author").filter(pk=pk).first()
    if comment is None:
        raise Http404("There is no such comment.")
    return comment


def _apply_errors(form, error: ValidationError) -> None:
    """A service's ValidationError onto the form: per field where it names one, else for the whole form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _back_to(feature: Feature, anchor: str = "") -> HttpResponse:
    return redirect(feature.get_absolute_url() + (f"#{anchor}" if anchor else ""))


# --- Explanations ----------------------------------------------------------------------------


@wiki_write(rate="explanation")
def explanation_new(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = _feature_or_404(model_slug, source_slug, index)
    form = ExplanationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            explanation = services.explanation_create(
                feature=feature,
                author=request.user,
                text=form.cleaned_data["text"],
                rule_text=form.cleaned_data["rule"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Thank you: your explanation is on the page.")
            return _back_to(feature, f"explanation-{explanation.pk}")
    locked = services.feature_is_locked(feature) and not request.user.is_staff
    return render(request, "explanations/explanation_form.html", {"form": form, "feature": feature, "locked": locked})


@require_GET
def explanation_history(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = _explanation_or_404(pk, request.user)
    context = {
        "explanation": explanation,
        "feature": explanation.feature,
        "revisions": selectors.explanation_history(explanation),
        "comments": selectors.explanation_comments(explanation),
    }
    return render(request, "explanations/history.html", context)


@require_GET
def revision_detail(request: HttpRequest, pk: int, revision_pk: int) -> HttpResponse:
    explanation = _explanation_or_404(pk, request.user)
    revision = get_object_or_404(
        ExplanationRevision.objects.select_related("author"), pk=revision_pk, explanation=explanation
    )
    context = {"explanation": explanation, "feature": explanation.feature, "revision": revision}
    return render(request, "explanations/revision.html", context)


@require_GET
def explanation_diff(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = _explanation_or_404(pk, request.user)
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
    explanation = _explanation_or_404(pk, request.user)
    current = explanation.current_revision
    initial = {"text": current.text, "rule": current.rule_source, "base_revision": current.pk}
    form = ExplanationForm(request.POST or None, initial=initial)
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            services.explanation_revise(
                explanation=explanation,
                author=request.user,
                text=form.cleaned_data["text"],
                rule_text=form.cleaned_data["rule"],
                message=form.cleaned_data["message"],
                base_revision_id=form.cleaned_data["base_revision"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
            if getattr(error, "code", None) == "edit_conflict":
                explanation.refresh_from_db()
                conflict = explanation.current_revision
                # Saving again saves on top of the version they have now seen.
                form.data = form.data.copy()
                form.data["base_revision"] = conflict.pk
        else:
            messages.success(request, "Saved a new revision.")
            return _back_to(explanation.feature, f"explanation-{explanation.pk}")
    locked = services.feature_is_locked(explanation.feature) and not request.user.is_staff
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
    explanation = _explanation_or_404(pk, request.user)
    revision = get_object_or_404(ExplanationRevision, pk=revision_pk, explanation=explanation)
    try:
        services.explanation_revert(
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
    explanation = _explanation_or_404(pk, request.user)
    try:
        value = int(request.POST.get("value", ""))
        outcome = services.vote_cast(user=request.user, explanation=explanation, value=value)
    except (ValueError, ValidationError):
        return HttpResponse("A vote is 1, -1 or 0.", status=400)
    explanation.user_vote = outcome.value
    if request.htmx:
        return render(request, "explanations/_vote.html", {"explanation": explanation, "can_vote": True})
    return _back_to(explanation.feature, f"explanation-{explanation.pk}")


@require_POST
@wiki_write()
def explanation_hide(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = selectors.explanation_for_page(pk)
    if explanation is None:
        raise Http404("There is no such explanation.")
    hidden = request.POST.get("hidden", "1") == "1"
    services.explanation_set_hidden(explanation=explanation, moderator=request.user, hidden=hidden)
    messages.success(request, "Explanation hidden." if hidden else "Explanation shown again.")
    return _back_to(explanation.feature, "explanations")


@wiki_write(rate="report")
def explanation_report(request: HttpRequest, pk: int) -> HttpResponse:
    explanation = _explanation_or_404(pk, request.user)
    return _report(request, explanation.feature, {"explanation": explanation}, f"explanation-{pk}")


# --- Comments --------------------------------------------------------------------------------


def _render_comment(request: HttpRequest, comment: Comment) -> HttpResponse:
    comment.can_edit = services.comment_can_edit(comment, request.user)
    comment.is_own = request.user.is_authenticated and comment.author_id == request.user.pk
    return render(request, "explanations/_comment_main.html", {"comment": comment, "can_write": True})


@wiki_write(rate="comment")
def comment_new(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = _feature_or_404(model_slug, source_slug, index)
    form = CommentForm(request.POST or None, initial={"explanation": request.GET.get("explanation")})
    if request.method == "POST" and form.is_valid():
        explanation = None
        if form.cleaned_data["explanation"]:
            explanation = feature.explanations.filter(pk=form.cleaned_data["explanation"]).first()
        try:
            comment = services.comment_post(
                author=request.user, feature=feature, body=form.cleaned_data["body"], explanation=explanation
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return _back_to(feature, f"comment-{comment.pk}")
    return render(request, "explanations/comment_form.html", {"form": form, "feature": feature, "parent": None})


@wiki_write(rate="comment")
def comment_reply(request: HttpRequest, pk: int) -> HttpResponse:
    parent = _comment_or_404(pk)
    feature = parent.feature
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            comment = services.comment_post(
                author=request.user, feature=feature, body=form.cleaned_data["body"], parent=parent
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            if request.htmx:
                comment.can_edit = True
                comment.is_own = True
                return render(request, "explanations/_new_reply.html", {"comment": comment, "can_write": True})
            return _back_to(feature, f"comment-{comment.pk}")
    template = "explanations/_reply_form.html" if request.htmx else "explanations/comment_form.html"
    return render(request, template, {"form": form, "feature": feature, "parent": parent})


@wiki_write(rate="comment")
def comment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    comment = _comment_or_404(pk)
    # Refuse before showing the form, too: the service is the one that refuses the save.
    if comment.author_id != request.user.pk:
        raise PermissionDenied("You can only edit your own comments.")
    form = CommentForm(request.POST or None, initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        try:
            services.comment_edit(comment=comment, user=request.user, body=form.cleaned_data["body"])
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            if request.htmx:
                return _render_comment(request, comment)
            return _back_to(comment.feature, f"comment-{comment.pk}")
    elif not services.comment_can_edit(comment, request.user):
        raise PermissionDenied(
            "This comment can no longer be edited: comments can be changed for a while after posting, "
            "unless deleted or hidden."
        )
    template = "explanations/_comment_edit_form.html" if request.htmx else "explanations/comment_edit.html"
    return render(request, template, {"form": form, "comment": comment, "feature": comment.feature})


@require_POST
@wiki_write()
def comment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    comment = _comment_or_404(pk)
    services.comment_delete(comment=comment, user=request.user)
    if request.htmx:
        return _render_comment(request, comment)
    messages.success(request, "Your comment is deleted; replies to it stay.")
    return _back_to(comment.feature, f"comment-{comment.pk}")


@require_POST
@wiki_write()
def comment_hide(request: HttpRequest, pk: int) -> HttpResponse:
    comment = _comment_or_404(pk)
    hidden = request.POST.get("hidden", "1") == "1"
    services.comment_set_hidden(comment=comment, moderator=request.user, hidden=hidden)
    if request.htmx:
        return _render_comment(request, comment)
    return _back_to(comment.feature, f"comment-{comment.pk}")


@wiki_write(rate="report")
def comment_report(request: HttpRequest, pk: int) -> HttpResponse:
    comment = _comment_or_404(pk)
    if not comment.is_visible:
        raise Http404("That comment was deleted or hidden already.")
    return _report(request, comment.feature, {"comment": comment}, f"comment-{pk}")


def _report(request: HttpRequest, feature: Feature, target: dict, anchor: str) -> HttpResponse:
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.report_create(reporter=request.user, reason=form.cleaned_data["reason"], **target)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Thank you: a moderator will look at it.")
            return _back_to(feature, anchor)
    context = {"form": form, "feature": feature, **target}
    return render(request, "explanations/report_form.html", context)


# --- Moderation on the feature page ----------------------------------------------------------


@require_POST
@wiki_write()
def feature_lock(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = _feature_or_404(model_slug, source_slug, index)
    if request.POST.get("locked", "1") == "1":
        services.feature_lock(feature=feature, moderator=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, "Locked: only moderators can change these explanations now.")
    else:
        services.feature_unlock(feature=feature, moderator=request.user)
        messages.success(request, "Unlocked.")
    return _back_to(feature, "explanations")


# --- Watching, bookmarks, lists --------------------------------------------------------------


@require_POST
@wiki_write(rate="list")
def feature_watch(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = _feature_or_404(model_slug, source_slug, index)
    watching = services.watch_set(user=request.user, feature=feature, watching=request.POST.get("watch") == "1")
    if request.htmx:
        return render(request, "explanations/_watch_button.html", {"feature": feature, "watching": watching})
    return _back_to(feature)


@require_POST
@wiki_write(rate="list")
def feature_bookmark(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = _feature_or_404(model_slug, source_slug, index)
    bookmarked = services.bookmark_set(
        user=request.user, feature=feature, bookmarked=request.POST.get("bookmark") == "1"
    )
    if request.htmx:
        return render(request, "explanations/_bookmark_button.html", {"feature": feature, "bookmarked": bookmarked})
    return _back_to(feature)


@require_POST
@wiki_write(rate="list")
def feature_add_to_list(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = _feature_or_404(model_slug, source_slug, index)
    form = AddToListForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Check the list and the note.")
        return _back_to(feature, "lists")
    try:
        if form.cleaned_data["feature_list"]:
            feature_list = FeatureList.objects.filter(pk=form.cleaned_data["feature_list"]).first()
            if feature_list is None:
                raise Http404("There is no such list.")
        else:
            feature_list = services.list_create(owner=request.user, name=form.cleaned_data["new_list_name"])
        services.list_add_feature(
            feature_list=feature_list, feature=feature, user=request.user, note=form.cleaned_data["note"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Added to “{feature_list.name}”.")
    return _back_to(feature, "lists")


@require_GET
def list_index(request: HttpRequest) -> HttpResponse:
    own, public = selectors.lists_index(user=request.user)
    return render(request, "explanations/list_index.html", {"own_lists": own, "public_lists": public})


@wiki_write(rate="list")
def list_new(request: HttpRequest) -> HttpResponse:
    form = FeatureListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            feature_list = services.list_create(owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect(feature_list)
    return render(request, "explanations/list_form.html", {"form": form, "feature_list": None})


@require_GET
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    feature_list = selectors.feature_list_for_page(pk)
    # A private list is not found, rather than forbidden, for anyone but its owner.
    if feature_list is None or not feature_list.is_visible_to(request.user):
        raise Http404("There is no such list, or it is private.")
    is_owner = request.user.is_authenticated and request.user.pk == feature_list.owner_id
    return render(request, "explanations/list_detail.html", {"feature_list": feature_list, "is_owner": is_owner})


def _own_list_or_404(pk: int, user) -> FeatureList:
    feature_list = FeatureList.objects.filter(pk=pk).first()
    if feature_list is None or not feature_list.is_visible_to(user):
        raise Http404("There is no such list, or it is private.")
    return feature_list


@wiki_write(rate="list")
def list_edit(request: HttpRequest, pk: int) -> HttpResponse:
    feature_list = _own_list_or_404(pk, request.user)
    if feature_list.owner_id != request.user.pk:
        raise PermissionDenied("Only the owner of a list can change it.")
    initial = {"name": feature_list.name, "description": feature_list.description, "is_public": feature_list.is_public}
    form = FeatureListForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.list_update(feature_list=feature_list, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return redirect(feature_list)
    return render(request, "explanations/list_form.html", {"form": form, "feature_list": feature_list})


@require_POST
@wiki_write(rate="list")
def list_delete(request: HttpRequest, pk: int) -> HttpResponse:
    feature_list = _own_list_or_404(pk, request.user)
    services.list_delete(feature_list=feature_list, user=request.user)
    messages.success(request, f"Deleted the list “{feature_list.name}”.")
    return redirect("explanations:lists")


@require_POST
@wiki_write(rate="list")
def list_remove_feature(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature_list = _own_list_or_404(pk, request.user)
    services.list_remove_feature(feature_list=feature_list, feature_id=feature_pk, user=request.user)
    return redirect(feature_list)


@login_required
@require_GET
def bookmarks(request: HttpRequest) -> HttpResponse:
    return render(request, "explanations/bookmarks.html", {"bookmarks": selectors.user_bookmarks(request.user)})


# --- Recent changes, watchlist, search -------------------------------------------------------


def _before(request: HttpRequest) -> datetime | None:
    value = request.GET.get("before", "")
    return parse_datetime(value) if value else None


@require_GET
def recent_changes(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in selectors.CHANGE_KINDS else ""
    model_slug = request.GET.get("model", "")
    people_only = request.GET.get("by") == "people"
    changes = selectors.recent_changes(
        model_slug=model_slug, kind=kind, people_only=people_only, before=_before(request)
    )
    context = {
        "changes": changes,
        "kind": kind,
        "kinds": selectors.CHANGE_KINDS,
        "model_slug": model_slug,
        "models": LanguageModel.objects.order_by("slug").values_list("slug", flat=True),
        "people_only": people_only,
        "title": "Recent changes",
    }
    return render(request, "explanations/recent_changes.html", context)


@login_required
@require_GET
def watchlist(request: HttpRequest) -> HttpResponse:
    changes = selectors.recent_changes(watcher=request.user, before=_before(request))
    watched = request.user.watches.select_related("feature__source__model").order_by("-created_at")
    context = {"changes": changes, "watched": watched, "title": "Your watchlist"}
    return render(request, "explanations/watchlist.html", context)


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = " ".join(request.GET.get("q", "").split())[:200]
    kind = request.GET.get("kind", "all")
    kind = kind if kind in selectors.SEARCH_KINDS else "all"
    mode = request.GET.get("mode", "text")
    mode = mode if mode in selectors.SEARCH_MODES else "text"
    model_slug = request.GET.get("model", "")
    source_slug = request.GET.get("source", "")
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    results = None
    if query:
        scope = {"model_slug": model_slug, "source_slug": source_slug, "page": page}
        if mode == "semantic":
            results = selectors.semantic_search(query=query, **scope)
        else:
            results = selectors.search_wiki(query=query, kind=kind, **scope)
    context = {
        "query": query,
        "kind": kind,
        "kinds": selectors.SEARCH_KINDS,
        "mode": mode,
        "modes": selectors.SEARCH_MODES,
        "model_slug": model_slug,
        "source_slug": source_slug,
        "models": LanguageModel.objects.order_by("slug").values_list("slug", flat=True),
        "results": results,
        "page": page,
        "first_number": (max(1, page) - 1) * selectors.SEARCH_PAGE_SIZE + 1,
    }
    return render(request, "explanations/search.html", context)
