from django import forms

from features.models import slug_validator

from .services.imports import MAX_IMPORT_BYTES


class GraphImportForm(forms.Form):
    file = forms.FileField(
        help_text=f"A graph JSON as circuit-tracer's create_graph_files writes it, "
        f"up to {MAX_IMPORT_BYTES // 2**20} MiB."
    )
    title = forms.CharField(max_length=200, required=False, help_text="Left empty: the file's slug.")
    slug = forms.CharField(
        max_length=64, required=False, validators=[slug_validator], help_text="Its address; left empty: from the title."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // 2**20} MiB.")
        return upload


class GraphCommentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Comment", max_length=10_000)


class NodeLabelForm(forms.Form):
    node_id = forms.CharField(max_length=128, widget=forms.HiddenInput)
    label = forms.CharField(max_length=200, required=False, help_text="Empty removes the label.")
