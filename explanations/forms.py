"""Forms for the community's pages. They check what a person typed; the services check the rest."""

from django import forms

from explanations.services.comments import MAX_COMMENT_LENGTH
from explanations.services.explanations import MAX_EXPLANATION_LENGTH

from .core.rules import RuleError, rule_parse

RULE_HELP = (
    "Optional. Tokens in order, separated by spaces; mark the one the feature fires on with stars. "
    "[a|b] is any of a or b, ? is any token. Example: [black|white|grey] *cat*"
)


class ExplanationForm(forms.Form):
    text = forms.CharField(
        label="Explanation",
        max_length=MAX_EXPLANATION_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. the word “cat” after a colour word"}),
    )
    rule = forms.CharField(label="Rule", required=False, max_length=500, help_text=RULE_HELP)
    message = forms.CharField(label="Edit summary", required=False, max_length=300)
    base_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean_rule(self) -> str:
        rule = self.cleaned_data["rule"].strip()
        if rule:
            try:
                rule_parse(rule)
            except RuleError as error:
                raise forms.ValidationError(str(error)) from error
        return rule


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=MAX_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Markdown works: **bold**, `code`, [links](https://…)"}),
    )
    explanation = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ReportForm(forms.Form):
    reason = forms.CharField(label="What is wrong?", max_length=500, widget=forms.TextInput)


class FeatureListForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    is_public = forms.BooleanField(label="Public (anyone can see it)", required=False)


class AddToListForm(forms.Form):
    feature_list = forms.IntegerField(required=False)
    new_list_name = forms.CharField(required=False, max_length=100)
    note = forms.CharField(required=False, max_length=500)

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("feature_list") and not (cleaned.get("new_list_name") or "").strip():
            raise forms.ValidationError("Choose one of your lists or name a new one.")
        return cleaned
