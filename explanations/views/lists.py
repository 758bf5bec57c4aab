"""Watching a feature, bookmarks, and lists of features."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import wiki_write
from explanations.services import lists as list_services
from features.snippets import top_example_snippets

from .. import selectors
from ..forms import AddToListForm, FeatureListForm
from ..models import FeatureList
from .base import apply_errors, back_to, feature_or_404

# --- Watching, bookmarks, lists --------------------------------------------------------------


@require_POST
@wiki_write(rate="list")
def feature_watch(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = feature_or_404(model_slug, source_slug, index)
    watching = list_services.watch_set(user=request.user, feature=feature, watching=request.POST.get("watch") == "1")
    if request.htmx:
        return render(request, "explanations/_watch_button.html", {"feature": feature, "watching": watching})
    return back_to(feature)


@require_POST
@wiki_write(rate="list")
def feature_bookmark(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = feature_or_404(model_slug, source_slug, index)
    bookmarked = list_services.bookmark_set(
        user=request.user, feature=feature, bookmarked=request.POST.get("bookmark") == "1"
    )
    if request.htmx:
        return render(request, "explanations/_bookmark_button.html", {"feature": feature, "bookmarked": bookmarked})
    return back_to(feature)


@require_POST
@wiki_write(rate="list")
def feature_add_to_list(request: HttpRequest, model_slug: str, source_slug: str, index: int) -> HttpResponse:
    feature = feature_or_404(model_slug, source_slug, index)
    form = AddToListForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Check the list and the note.")
        return back_to(feature, "lists")
    try:
        if form.cleaned_data["feature_list"]:
            feature_list = FeatureList.objects.filter(pk=form.cleaned_data["feature_list"]).first()
            if feature_list is None:
                raise Http404("There is no such list.")
        else:
            feature_list = list_services.list_create(owner=request.user, name=form.cleaned_data["new_list_name"])
        list_services.list_add_feature(
            feature_list=feature_list, feature=feature, user=request.user, note=form.cleaned_data["note"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Added to “{feature_list.name}”.")
    return back_to(feature, "lists")


@require_GET
def list_index(request: HttpRequest) -> HttpResponse:
    own, public = selectors.lists_index(user=request.user)
    return render(request, "explanations/list_index.html", {"own_lists": own, "public_lists": public})


@wiki_write(rate="list")
def list_new(request: HttpRequest) -> HttpResponse:
    form = FeatureListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            feature_list = list_services.list_create(owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
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
    _attach_snippets(feature_list.ordered_items)
    return render(request, "explanations/list_detail.html", {"feature_list": feature_list, "is_owner": is_owner})


def _attach_snippets(rows) -> None:
    """Each row (a list item, a bookmark) gets its feature's top example as a snippet (`snippet`, None without
    one): one query for all of them."""
    snippets = top_example_snippets(row.feature for row in rows)
    for row in rows:
        row.snippet = snippets.get(row.feature_id)


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
            list_services.list_update(feature_list=feature_list, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return redirect(feature_list)
    return render(request, "explanations/list_form.html", {"form": form, "feature_list": feature_list})


@require_POST
@wiki_write(rate="list")
def list_delete(request: HttpRequest, pk: int) -> HttpResponse:
    feature_list = _own_list_or_404(pk, request.user)
    list_services.list_delete(feature_list=feature_list, user=request.user)
    messages.success(request, f"Deleted the list “{feature_list.name}”.")
    return redirect("explanations:lists")


@require_POST
@wiki_write(rate="list")
def list_remove_feature(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature_list = _own_list_or_404(pk, request.user)
    list_services.list_remove_feature(feature_list=feature_list, feature_id=feature_pk, user=request.user)
    return redirect(feature_list)


@login_required
@require_GET
def bookmarks(request: HttpRequest) -> HttpResponse:
    bookmarks = list(selectors.user_bookmarks(request.user))
    _attach_snippets(bookmarks)
    return render(request, "explanations/bookmarks.html", {"bookmarks": bookmarks})
