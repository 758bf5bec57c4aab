"""Forms for uploading models and dictionaries and for starting activation runs. They check what can be
checked before anything is written; loading the files is left to features/uploads.py and the services."""

from pathlib import Path

from django import forms
from django.conf import settings
from django.utils.html import escape

from . import uploads
from .models import LanguageModel, Source, slug_validator, validate_not_reserved
from .pipeline.builtin_corpora import BUILTIN_CORPORA
from .pipeline.corpus import BUILTIN_CORPUS, BUILTIN_PREFIX
from .services.activation_runs import MAX_TOP_K, MAX_WINDOW_LEN, MAX_WINDOWS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one <input type="file" multiple>; cleans to a list."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        items = [item for item in data if item] if isinstance(data, (list, tuple)) else [data] if data else []
        if not items and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        single_clean = super().clean
        return [single_clean(item, initial) for item in items]


class UploadForm(forms.Form):
    """Base for forms with files: reports what the streaming size limit skipped (see uploads.upload_limit)."""

    limit_setting = ""

    def __init__(self, *args, skipped_files=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.skipped_files = list(skipped_files)

    @property
    def limit(self) -> int:
        return getattr(settings, self.limit_setting)

    def uploaded_files(self) -> list:
        return []

    def clean(self) -> dict:
        cleaned = super().clean()
        problem = uploads.size_problem(self.uploaded_files(), self.limit, skipped=self.skipped_files)
        if problem:
            raise forms.ValidationError(problem, code="too_large")
        return cleaned


class ModelUploadForm(UploadForm):
    limit_setting = "NEURONPEDIA_MAX_UPLOAD_BYTES"

    slug = forms.CharField(
        label="Name in URLs",
        max_length=64,
        validators=[slug_validator, validate_not_reserved],
        # Django writes help text into the page as HTML: the placeholders must be escaped, or they read as tags.
        help_text=escape("Lowercase, e.g. gpt2-small. The model's pages will live at /<name>/."),
    )
    display_name = forms.CharField(max_length=200, required=False, help_text="Optional, e.g. GPT-2 Small.")
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    files = MultipleFileField(
        label="Checkpoint files",
        required=False,
        help_text=(
            "The files of a transformers checkpoint directory: config.json, the weights as .safetensors, and the "
            "tokenizer files (tokenizer.json, tokenizer_config.json, vocab.txt, vocab.json, merges.txt, ...). "
            "Pickled weights (pytorch_model.bin, .pt, .pkl) are refused."
        ),
    )
    server_path = forms.CharField(
        label="Or a directory on the server (staff only)",
        max_length=1000,
        required=False,
        help_text="An existing checkpoint directory, registered where it is.",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if not user.is_staff:
            del self.fields["server_path"]

    def uploaded_files(self) -> list:
        return self.cleaned_data.get("files") or []

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if LanguageModel.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A model named {slug!r} already exists; choose another name.")
        return slug

    def clean_files(self) -> list:
        files = self.cleaned_data["files"]
        names = [uploads.base_name(file.name) for file in files]
        problems = list(filter(None, map(uploads.checkpoint_name_problem, names)))
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            problems.append(f"{', '.join(duplicates)} came more than once.")
        if problems:
            raise forms.ValidationError(problems)
        if files and not self.skipped_files:  # a file skipped for its size is reported as such, not as missing
            problem = uploads.checkpoint_completeness_problem(names)
            if problem:
                raise forms.ValidationError(problem)
        return files

    def clean_server_path(self) -> str:
        path = self.cleaned_data["server_path"].strip()
        if path and not Path(path).is_absolute():
            raise forms.ValidationError("Give an absolute path, e.g. /data/checkpoints/gpt2.")
        return path

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.user.is_staff and self.data.get("server_path", "").strip():
            # A path on the server would let anyone read the server's files through the model pages.
            raise forms.ValidationError("Only staff can register a directory on the server; upload the files instead.")
        files, path = cleaned.get("files"), cleaned.get("server_path", "")
        if "files" in cleaned and ("server_path" in cleaned or "server_path" not in self.fields):
            if not files and not path:
                raise forms.ValidationError("Choose the checkpoint's files to upload.")
            if files and path:
                raise forms.ValidationError("Upload files or give a directory on the server, not both.")
        return cleaned


class DictionaryUploadForm(UploadForm):
    limit_setting = "NEURONPEDIA_MAX_DICTIONARY_BYTES"
    MAX_CONFIG_BYTES = 1024 * 1024

    slug = forms.CharField(
        label="Source name",
        max_length=64,
        validators=[slug_validator],
        help_text=escape(
            "Layer, then a name for the set, e.g. 6-res-jb. Its features will live at /<model>/<name>/<index>/."
        ),
    )
    config = forms.FileField(label="cfg.json", help_text="The SAELens config: architecture, d_in, d_sae, hook_name.")
    weights = forms.FileField(
        label="sae_weights.safetensors", help_text="The weights, as safetensors (pickled .pt/.bin files are refused)."
    )
    hook_name = forms.CharField(
        max_length=128,
        required=False,
        help_text="Optional: the hook it reads, if cfg.json lacks it or is wrong, e.g. blocks.6.hook_resid_pre.",
    )

    def __init__(self, *args, model: LanguageModel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model = model

    def uploaded_files(self) -> list:
        return [self.cleaned_data[name] for name in ("config", "weights") if self.cleaned_data.get(name)]

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Source.objects.filter(model=self.model, slug=slug).exists():
            raise forms.ValidationError(f"{self.model.slug} already has a source {slug!r}; choose another name.")
        return slug

    def clean_config(self):
        config = self.cleaned_data["config"]
        if not uploads.base_name(config.name).lower().endswith(".json"):
            raise forms.ValidationError("The config must be the dictionary's cfg.json.")
        if config.size > self.MAX_CONFIG_BYTES:
            raise forms.ValidationError("cfg.json is over 1 MB: is it the right file?")
        return config

    def clean_weights(self):
        weights = self.cleaned_data["weights"]
        name = uploads.base_name(weights.name)
        if name.lower().endswith(uploads.PICKLE_SUFFIXES):
            raise forms.ValidationError(uploads.PICKLE_REFUSAL.format(name=name))
        if not name.lower().endswith(".safetensors"):
            raise forms.ValidationError(f"{name}: the weights must be a .safetensors file.")
        return weights


class RunForm(UploadForm):
    limit_setting = "NEURONPEDIA_MAX_CORPUS_BYTES"

    layers = forms.TypedMultipleChoiceField(
        label="MLP neurons of layers", coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    dictionaries = forms.ModelMultipleChoiceField(
        label="Dictionaries", queryset=Source.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    corpus = forms.ChoiceField(
        label="Corpus",
        required=False,
        initial=BUILTIN_CORPUS,
        choices=[(BUILTIN_PREFIX + name, f"{name}: {corpus.description}") for name, corpus in BUILTIN_CORPORA.items()],
        help_text="Text already on the server; an uploaded file below is used instead.",
    )
    corpus_file = forms.FileField(
        label="Corpus file",
        required=False,
        help_text=(
            'Optional: a .txt file (documents separated by blank lines) or a .jsonl file with a "text" field per line.'
        ),
    )
    n_windows = forms.IntegerField(
        label="Windows", min_value=1, max_value=MAX_WINDOWS, initial=1700, help_text="How many token windows."
    )
    window_len = forms.IntegerField(
        label="Window length", min_value=2, max_value=MAX_WINDOW_LEN, initial=128, help_text="Tokens each."
    )
    top_k = forms.IntegerField(
        label="Top examples", min_value=1, max_value=MAX_TOP_K, initial=20, help_text="Kept per feature."
    )
    shard_windows = forms.IntegerField(
        label="Shard size",
        min_value=1,
        max_value=MAX_WINDOWS,
        initial=2048,
        help_text="Windows per task; shards run in parallel on several workers.",
    )

    def __init__(self, *args, model: LanguageModel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model = model
        last = model.n_layers - 1
        layers = self.fields["layers"]
        layers.choices = [(layer, f"Layer {layer}") for layer in range(model.n_layers)]
        layers.error_messages["invalid_choice"] = (
            f"Layer %(value)s does not exist: {model.slug} has layers 0 to {last}."
        )
        self.fields["dictionaries"].queryset = model.sources.exclude(dictionary_path="").order_by("layer", "slug")

    def uploaded_files(self) -> list:
        return [self.cleaned_data["corpus_file"]] if self.cleaned_data.get("corpus_file") else []

    def clean_corpus(self) -> str:
        return self.cleaned_data["corpus"] or BUILTIN_CORPUS

    def clean_corpus_file(self):
        corpus = self.cleaned_data["corpus_file"]
        if corpus and not uploads.base_name(corpus.name).lower().endswith(uploads.CORPUS_SUFFIXES):
            raise forms.ValidationError("A corpus is a .txt or a .jsonl file.")
        return corpus

    def clean(self) -> dict:
        cleaned = super().clean()
        if "layers" in cleaned and "dictionaries" in cleaned and not cleaned["layers"] and not cleaned["dictionaries"]:
            raise forms.ValidationError("Choose at least one layer or dictionary.")
        wishes = {source.config.get("prepend_bos") for source in cleaned.get("dictionaries") or []} - {None}
        if len(wishes) > 1:
            raise forms.ValidationError("These dictionaries disagree on prepend_bos; start them in separate runs.")
        return cleaned
