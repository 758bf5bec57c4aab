"""The encyclopedia's core: language models, their sources (sets of directions), and features.

A feature is identified by (model, source, index), as on Neuronpedia: `minilm-l6/3-mlp/117`.
"""

from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.functional import cached_property

from .pipeline.checkpoint_config import checkpoint_can_generate

# Top-level URL segments that a model slug must not shadow.
RESERVED_SLUGS = {
    "admin", "accounts", "api", "u", "static", "media", "jump", "runs", "search", "about",
    "recent", "watchlist", "bookmarks", "lists", "explanations", "comments", "upload", "text-features", "steer",
    "play", "healthz", "graphs", "compare",
}  # fmt: skip

# An unfinished run whose heartbeat is older than this is shown as stalled, with a Resume button.
STALLED_AFTER = timedelta(minutes=15)

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]*$", "Use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit."
)


def validate_not_reserved(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"{slug!r} is reserved for a page of the site; choose another name.")


def pack_floats(values) -> bytes:
    """Per-token activations are stored as little-endian float32: 4 bytes a token. Takes a list or a numpy
    array (any dtype, strided views too), which it converts without a Python loop."""
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def unpack_floats(blob: bytes) -> list[float]:
    return np.frombuffer(bytes(blob), dtype="<f4").tolist()


class LanguageModel(models.Model):
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator, validate_not_reserved])
    display_name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000, help_text="Local directory of a transformers checkpoint.")
    architecture = models.CharField(max_length=64, help_text="The checkpoint's model_type, e.g. bert, gpt2.")
    n_layers = models.PositiveIntegerField()
    d_model = models.PositiveIntegerField()
    d_mlp = models.PositiveIntegerField()
    vocab_size = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        return reverse("features:model", args=[self.slug])

    @cached_property
    def generation_refusal(self) -> str:
        """Why this model cannot generate text (steering needs it), or "" when it can. Read from its
        config.json, so a page can offer steering only where it works without loading the model."""
        if not self.path:
            return f"{self.slug} was imported without a checkpoint on this server, so it cannot generate text."
        if not checkpoint_can_generate(self.path):
            return (
                f"{self.slug} ({self.architecture}) has no language-model head: it encodes text but cannot "
                "generate it, so it cannot be steered."
            )
        return ""


class Source(models.Model):
    """One set of directions at one hook point: a layer's MLP neurons, or a dictionary (SAE)."""

    class Kind(models.TextChoices):
        NEURONS = "neurons", "MLP neurons"
        SAE = "sae", "Sparse autoencoder"
        TRANSCODER = "transcoder", "Transcoder"

    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="sources")
    slug = models.CharField(max_length=64, validators=[slug_validator], help_text="e.g. 3-mlp or 6-res-jb")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    hook_name = models.CharField(max_length=128, help_text="TransformerLens-style hook, e.g. blocks.3.mlp.hook_post")
    layer = models.PositiveIntegerField()
    set_name = models.CharField(max_length=64, help_text="Sources of one kind across layers, e.g. mlp or res-jb")
    dictionary_path = models.CharField(max_length=1000, blank=True)
    n_features = models.PositiveIntegerField()
    config = models.JSONField(default=dict, blank=True)
    # The activation run whose dashboards the source shows: its manifest and warnings are shown with them.
    dashboards_run = models.ForeignKey(
        "PipelineRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "layer", "slug"]
        constraints = [models.UniqueConstraint(fields=["model", "slug"], name="source_unique_slug_per_model")]

    def __str__(self) -> str:
        return f"{self.model.slug}/{self.slug}"

    def get_absolute_url(self) -> str:
        return reverse("front:source", args=[self.model.slug, self.slug])


class Feature(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="features")
    index = models.PositiveIntegerField()
    max_activation = models.FloatField(default=0.0)
    density = models.FloatField(default=0.0, help_text="Fraction of corpus tokens on which it is > 0.")
    histogram = models.JSONField(null=True, blank=True)
    top_logits = models.JSONField(null=True, blank=True)
    bottom_logits = models.JSONField(null=True, blank=True)
    similar = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Bumped by features.services.page_versions.feature_page_changed with every write that changes what the
    # feature's page shows besides its dashboard (explanations, votes, comments, scores, the lock, authors' names):
    # part of the key of the page cached for anonymous readers (front/page_cache.py), with updated_at for the
    # dashboard.
    page_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["source", "index"]
        constraints = [models.UniqueConstraint(fields=["source", "index"], name="feature_unique_index_per_source")]
        indexes = [
            models.Index(fields=["source", "-max_activation"], name="feature_source_max"),
            models.Index(fields=["source", "density"], name="feature_source_density"),
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.index}"

    def get_absolute_url(self) -> str:
        return reverse("front:feature", args=[self.source.model.slug, self.source.slug, self.index])

    @property
    def is_dead(self) -> bool:
        """It never fired (above zero) anywhere in the corpus its dashboard was computed on. (A feature row
        exists only once a run or an import has computed it.)"""
        return self.max_activation <= 0 and self.density <= 0


class ContextWindow(models.Model):
    """A window of corpus tokens, stored once and shared by every feature that fires on it.

    Tokenization depends on the model, so a window belongs to a model and a corpus key (a digest of the
    corpus and windowing parameters); its position is its place in that corpus.
    """

    model = models.ForeignKey(LanguageModel, on_delete=models.CASCADE, related_name="windows")
    corpus_key = models.CharField(max_length=64)
    position = models.PositiveIntegerField()
    token_ids = models.JSONField()
    tokens = models.JSONField(help_text="Display strings, one per token.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "corpus_key", "position"], name="window_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.model.slug}:{self.corpus_key[:8]}:{self.position}"


class ActivationExample(models.Model):
    class Kind(models.TextChoices):
        TOP = "top", "Top activation"
        INTERVAL = "interval", "Interval sample"

    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="examples")
    window = models.ForeignKey(ContextWindow, on_delete=models.CASCADE, related_name="examples")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TOP)
    rank = models.PositiveIntegerField(help_text="Order within its kind (and interval), 0 first.")
    values = models.BinaryField(help_text="float32 per token, see pack_floats().")
    max_value = models.FloatField()
    max_token_index = models.PositiveIntegerField()
    interval_index = models.PositiveSmallIntegerField(null=True, blank=True)
    bin_min = models.FloatField(null=True, blank=True)
    bin_max = models.FloatField(null=True, blank=True)
    bin_contains = models.FloatField(null=True, blank=True, help_text="Share of activating tokens in this interval.")

    class Meta:
        ordering = ["feature", "kind", "interval_index", "rank"]
        indexes = [models.Index(fields=["feature", "kind", "interval_index", "rank"], name="example_feature_order")]

    def __str__(self) -> str:
        return f"{self.feature} {self.kind} #{self.rank}"

    @property
    def activations(self) -> list[float]:
        return unpack_floats(self.values)


class PipelineRun(models.Model):
    """One run of a pipeline (activations, explanations, scoring), shown with a progress bar."""

    class Kind(models.TextChoices):
        ACTIVATIONS = "activations", "Activations"
        EXPLANATIONS = "explanations", "Explanations"
        SCORING = "scoring", "Scoring"
        TRAINING = "training", "Training a scorer"
        DICTIONARY = "dictionary", "Training a dictionary"
        EVALUATION = "evaluation", "Evaluating a dictionary"
        CONNECTIONS = "connections", "Connections between features"
        ATTRIBUTION = "attribution", "Attribution graph"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINALIZING = "finalizing", "Saving results"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    model = models.ForeignKey(LanguageModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    message = models.CharField(max_length=500, blank=True)
    shards_total = models.PositiveIntegerField(default=1)
    shards_done = models.PositiveIntegerField(default=0)
    tokens_done = models.BigIntegerField(default=0)
    # Explanation and scoring runs go feature by feature: how many are done, and those that failed, each
    # {"feature": "model/source/index", "url": ..., "error": ...}; one failure does not stop the run.
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True)
    # Activation runs: what the run read (features/pipeline/manifest.py) and the automatic checks' warnings
    # (features/pipeline/checks.py), each {"code", "message", "detail", "severity", "source"}.
    manifest = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # The worker (WorkerHeartbeat.name) doing the run's current step (starting, merging, an explain/score step),
    # and that step's claim number: a step writes only while the number is still its own, so a worker that the
    # watchdog gave up on and that comes back late writes nothing (features/services/workers.py).
    claimed_by = models.CharField(max_length=200, blank=True)
    claim = models.PositiveIntegerField(default=0)
    # What happened to the run that its message would lose: each {"at": iso time, "event": sentence}
    # (a lost worker's step queued again by the watchdog, ...).
    history = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} run #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("front:run", args=[self.pk])

    @property
    def tokens_per_second(self) -> float | None:
        if not self.started_at or not self.tokens_done:
            return None
        from django.utils import timezone

        seconds = ((self.finished_at or timezone.now()) - self.started_at).total_seconds()
        return self.tokens_done / seconds if seconds > 0 else None

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    def warnings_for(self, source_slug: str) -> list[dict]:
        """The automatic checks' warnings about one source, and those about the whole run."""
        return [warning for warning in self.warnings if warning.get("source", "") in ("", source_slug)]

    def manifest_for(self, source_slug: str) -> dict:
        """The manifest with only this source's dictionary (a run may read several)."""
        dictionaries = self.manifest.get("dictionaries", {})
        return {**self.manifest, "dictionaries": {slug: d for slug, d in dictionaries.items() if slug == source_slug}}

    @property
    def is_stalled(self) -> bool:
        """Unfinished with no sign of life for STALLED_AFTER: its worker probably died, so it may be resumed.
        (A run waiting behind a long one on a busy queue looks the same; resuming it is harmless, as every
        step is safe to run again.)"""
        from django.utils import timezone

        last_sign = self.heartbeat_at or self.started_at or self.created_at
        return not self.is_finished and last_sign is not None and timezone.now() - last_sign > STALLED_AFTER


class PipelineShard(models.Model):
    """One slice of a run's windows, computed by one task; its partial result waits in ShardPartial
    rows until every shard is done and the run is finalized."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    first_window = models.PositiveIntegerField()
    n_windows = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)  # also the claim number of the attempt under way
    claimed_by = models.CharField(max_length=200, blank=True)  # the worker computing it (WorkerHeartbeat.name)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="shard_unique_index_per_run")]

    def __str__(self) -> str:
        return f"shard {self.index} of run {self.run_id} ({self.status})"


class WorkerHeartbeat(models.Model):
    """A django-q2 worker process's sign of life, written every few seconds by a thread of the process
    (features/services/workers.py). A step claimed by a worker whose beat is older than DEAD_AFTER is queued
    again by the watchdog. Shown to staff in /admin/."""

    name = models.CharField(max_length=200, unique=True)  # host:pid
    host = models.CharField(max_length=150)
    pid = models.PositiveIntegerField()
    cluster = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)
    task = models.CharField(max_length=300, blank=True, help_text="What it is doing (empty: idle)")

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return self.name


class ShardPartial(models.Model):
    """A shard's partial result for one source, as safetensors bytes (never pickle)."""

    shard = models.ForeignKey(PipelineShard, on_delete=models.CASCADE, related_name="partials")
    source_slug = models.CharField(max_length=64)
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shard", "source_slug"], name="partial_unique_source_per_shard")]

    def __str__(self) -> str:
        return f"partial {self.source_slug} of {self.shard}"
