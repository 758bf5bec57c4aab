"""What the wiki's views share: finding a feature, explanation or comment (or a 404), putting a service's
ValidationError onto a form, going back to the feature, and filing a report."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from explanations.services import moderation as moderation_services
from features import selectors as feature_selectors
from features.models import Feature

from .. import selectors
from ..forms import ReportForm
from ..models import Comment, Explanation

# --- Helpers ---------------------------------------------------------------------------------


def feature_or_404(model_slug: str, source_slug: str, index: int) -> Feature:
    feature = feature_selectors.feature_at(model_slug, source_slug, index)
    if feature is None:
        raise Http404(f"There is no feature {model_slug}/{source_slug}/{index}.")
    return feature


def explanation_or_404(pk: int, user) -> Explanation:
    explanation = selectors.explanation_for_page(pk)
    if explanation is None or (explanation.hidden and not user.is_staff):
        raise Http404("There is no such explanation, or a moderator has hidden it.")
    return explanation


def comment_or_404(pk: int) -> Comment:
    comment = Comment.objects.select_related("feature__source__model", "author").filter(pk=pk).first()
    if comment is None:
        raise Http404("There is no such comment.")
    return comment


def apply_errors(form, error: ValidationError) -> None:
    """A service's ValidationError onto the form: per field where it names one, else for the whole form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def back_to(feature: Feature, anchor: str = "") -> HttpResponse:
    return redirect(feature.get_absolute_url() + (f"#{anchor}" if anchor else ""))


def report(request: HttpRequest, feature: Feature, target: dict, anchor: str) -> HttpResponse:
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            moderation_services.report_create(reporter=request.user, reason=form.cleaned_data["reason"], **target)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Thank you: a moderator will look at it.")
            return back_to(feature, anchor)
    context = {"form": form, "feature": feature, **target}
    return render(request, "explanations/report_form.html", context)
