from django import forms

from features.models import LanguageModel, slug_validator

from .services.graphs import (
    DEFAULT_EDGE_THRESHOLD,
    DEFAULT_FEATURE_NODES,
    DEFAULT_NODE_THRESHOLD,
    MAX_FEATURE_NODES,
    MAX_GRAPH_TOKENS,
    MAX_PROMPT_CHARS,
    graph_source_choices,
)
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


class GraphTraceForm(forms.Form):
    """A graph request. Only the form's own shape is checked here; the limits, the target and the sources are
    checked by graph_run_create, whose message the page shows (the same words as the command and the API)."""

    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_PROMPT_CHARS}),
        error_messages={"required": "Enter a prompt: it is empty."},
        help_text=f"At most {MAX_GRAPH_TOKENS} tokens, counting the special token put before it, and "
        f"{MAX_PROMPT_CHARS:,} characters.",
    )
    target = forms.CharField(required=False, max_length=200)
    sources = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    max_nodes = forms.IntegerField(
        label="Node budget",
        initial=DEFAULT_FEATURE_NODES,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_FEATURE_NODES}),
        help_text=f"How many feature nodes have their edges computed, 1 to {MAX_FEATURE_NODES:,}: the most "
        "influential on the target are taken first; more costs time and memory.",
    )
    node_threshold = forms.FloatField(
        label="Nodes kept",
        required=False,
        initial=DEFAULT_NODE_THRESHOLD,
        widget=forms.NumberInput(attrs={"min": 0.01, "max": 1, "step": 0.01}),
        help_text="Pruning: the smallest set of nodes that holds this share of the influence on the target is kept "
        f"(0 to 1; left empty: {DEFAULT_NODE_THRESHOLD}).",
    )
    edge_threshold = forms.FloatField(
        label="Links kept",
        required=False,
        initial=DEFAULT_EDGE_THRESHOLD,
        widget=forms.NumberInput(attrs={"min": 0.01, "max": 1, "step": 0.01}),
        help_text=f"The same for links (0 to 1; left empty: {DEFAULT_EDGE_THRESHOLD}).",
    )
    title = forms.CharField(max_length=200, required=False, help_text="Left empty: the prompt.")
    slug = forms.CharField(
        max_length=64,
        required=False,
        validators=[slug_validator],
        help_text="Its address; left empty: from the prompt and the run's number.",
    )

    def __init__(self, *args, model: LanguageModel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sources"].choices = graph_source_choices(model)
        self.fields["sources"].error_messages["invalid_choice"] = (
            f"%(value)s cannot stand in a graph of {model.slug}: choose its MLP neurons, transcoders, or SAEs on "
            "its residual stream."
        )
        if model.generation_refusal:  # an encoder (or a model without a checkpoint here)
            default = "the most active feature of its deepest dictionary at the last content token"
            example = "e.g. 3-res-sae:17@5 (a negative position counts from the end)"
            kinds = "a feature, SOURCE:INDEX@POSITION"
        else:
            default = "the top next token after the prompt"
            example = "e.g. ' Paris' or 3-res-sae:17@-1 (a negative position counts from the end)"
            kinds = "a token (its logit after the prompt; #ID for a token id) or a feature, SOURCE:INDEX@POSITION"
        self.fields["target"].help_text = f"What the graph explains: {kinds}, {example}. Left empty: {default}."
        self.fields["sources"].help_text = (
            "What stands for each layer's MLP, and the residual SAEs to splice in. None chosen for a layer: its "
            "transcoder if it has one, else its neurons. No SAE is spliced unless chosen."
        )
