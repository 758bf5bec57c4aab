"""The API's contract: what each endpoint returns (…Out) and accepts (…In). Output serializers read
prefetched rows and never query; input serializers only check shapes and look rows up — the rules
(who may write what, text limits, locks, bans) are the services' (explanations.services, ...)."""

import numpy as np
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from explanations.models import Comment, Explanation, ExplanationRevision, FeatureList, FeatureListItem
from features.models import ActivationExample, Feature, LanguageModel, PipelineRun, Source
from scoring.models import ExplanationScore

MAX_DB_ID = 2**63 - 1
MAX_INDEX = 2**31 - 1


def _username(user) -> str | None:
    return user.username if user is not None else None


# --- Models, sources, features, examples -------------------------------------------------------


class ModelOut(serializers.ModelSerializer):
    can_run_inference = serializers.SerializerMethodField(
        help_text="False for models imported from a data dump without a checkpoint on this server."
    )
    page = serializers.SerializerMethodField()

    class Meta:
        model = LanguageModel
        fields = [
            "slug", "display_name", "architecture", "n_layers", "d_model", "d_mlp", "vocab_size", "description",
            "can_run_inference", "created_at", "page",
        ]  # fmt: skip

    def get_can_run_inference(self, model: LanguageModel) -> bool:
        return bool(model.path)

    def get_page(self, model: LanguageModel) -> str:
        return model.get_absolute_url()


class RunWarningOut(serializers.Serializer):
    """One automatic check's finding about an activation run (features/pipeline/checks.py)."""

    code = serializers.CharField(help_text="e.g. special_tokens, first_position, dead_features, poor_reconstruction")
    severity = serializers.ChoiceField(choices=["warning", "info"])
    source = serializers.CharField(help_text="The source slug it concerns; empty for the whole run")
    message = serializers.CharField()
    detail = serializers.DictField(help_text="The figures behind it: feature indices, shares, limits, FVU")


class SourceOut(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    page = serializers.SerializerMethodField()
    checks_run = serializers.PrimaryKeyRelatedField(
        source="dashboards_run", read_only=True, help_text="The activation run whose dashboards this source shows"
    )
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = Source
        fields = [
            "id", "model", "slug", "kind", "hook_name", "layer", "set_name", "n_features", "created_at", "page",
            "checks_run", "warnings",
        ]  # fmt: skip

    def get_page(self, source: Source) -> str:
        return reverse("front:source", args=[source.model.slug, source.slug])

    @extend_schema_field(RunWarningOut(many=True))
    def get_warnings(self, source: Source) -> list[dict]:
        run = source.dashboards_run
        return run.warnings_for(source.slug) if run is not None else []


class FeatureOut(serializers.ModelSerializer):
    model = serializers.CharField(source="source.model.slug", read_only=True)
    source = serializers.CharField(source="source.slug", read_only=True)
    page = serializers.SerializerMethodField()

    class Meta:
        model = Feature
        fields = ["id", "model", "source", "index", "max_activation", "density", "page"]

    def get_page(self, feature: Feature) -> str:
        source = feature.source
        return reverse("front:feature", args=[source.model.slug, source.slug, feature.index])


class LogitOut(serializers.Serializer):
    token = serializers.CharField()
    id = serializers.IntegerField(required=False)
    value = serializers.FloatField()


class SimilarOut(serializers.Serializer):
    index = serializers.IntegerField()
    similarity = serializers.FloatField()


class HistogramOut(serializers.Serializer):
    bin_width = serializers.FloatField(help_text="Width of each bar; bar i covers [i, i+1) x bin_width")
    counts = serializers.ListField(child=serializers.FloatField(), help_text="Activating tokens per bar")

    def to_representation(self, histogram: dict) -> dict:
        return histogram  # stored as it is shown (counts stay whole numbers)


class ExampleOut(serializers.ModelSerializer):
    """An activation example: a window of tokens and the feature's activation at each of them."""

    tokens = serializers.SerializerMethodField()
    values = serializers.SerializerMethodField()

    class Meta:
        model = ActivationExample
        fields = [
            "id", "feature", "kind", "rank", "interval_index", "bin_min", "bin_max", "bin_contains", "max_value",
            "max_token_index", "window", "tokens", "values",
        ]  # fmt: skip

    def get_tokens(self, example: ActivationExample) -> list[str]:
        return example.window.tokens

    def get_values(self, example: ActivationExample) -> list[float]:
        # float32, written in float32's shortest form (the renderer is orjson), as the feature endpoint does
        return np.frombuffer(bytes(example.values), dtype="<f4")


class ScoreOut(serializers.ModelSerializer):
    class Meta:
        model = ExplanationScore
        fields = ["id", "scorer", "value", "details", "example_mix", "created_at"]


class LatestScoreOut(serializers.ModelSerializer):
    class Meta:
        model = ExplanationScore
        fields = ["scorer", "value", "created_at"]


class ExplanationOut(serializers.ModelSerializer):
    text = serializers.CharField(read_only=True)
    rule = serializers.SerializerMethodField(help_text="The machine-checkable rule's text, if it has one")
    author = serializers.SerializerMethodField()
    model = serializers.CharField(source="feature.source.model.slug", read_only=True)
    source = serializers.CharField(source="feature.source.slug", read_only=True)
    index = serializers.IntegerField(source="feature.index", read_only=True)
    scores = serializers.SerializerMethodField(help_text="Each scorer's latest score")

    class Meta:
        model = Explanation
        fields = [
            "id", "feature", "model", "source", "index", "text", "rule", "author", "method", "explainer_model",
            "vote_score", "best_score", "current_revision", "scores", "created_at", "updated_at",
        ]  # fmt: skip

    def get_rule(self, explanation: Explanation) -> str | None:
        revision = explanation.current_revision
        return revision.rule_source or None if revision is not None else None

    def get_author(self, explanation: Explanation) -> str | None:
        return _username(explanation.author)

    @extend_schema_field(LatestScoreOut(many=True))
    def get_scores(self, explanation: Explanation) -> list:
        return LatestScoreOut(getattr(explanation, "latest_scores", []), many=True).data


class FeatureDetailOut(FeatureOut):
    """A feature with its whole dashboard: histogram, logits, similar features, examples, explanations."""

    histogram = HistogramOut(allow_null=True, read_only=True)
    top_logits = LogitOut(many=True, allow_null=True, read_only=True)
    bottom_logits = LogitOut(many=True, allow_null=True, read_only=True)
    similar = SimilarOut(many=True, allow_null=True, read_only=True)
    top_examples = ExampleOut(many=True, read_only=True)
    interval_examples = ExampleOut(many=True, read_only=True)
    explanations = ExplanationOut(many=True, read_only=True, source="visible_explanations")

    class Meta(FeatureOut.Meta):
        fields = [
            *FeatureOut.Meta.fields, "updated_at", "histogram", "top_logits", "bottom_logits", "similar",
            "top_examples", "interval_examples", "explanations",
        ]  # fmt: skip


class RevisionOut(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    rule = serializers.SerializerMethodField()

    class Meta:
        model = ExplanationRevision
        fields = ["id", "explanation", "text", "rule", "author", "message", "previous", "created_at"]

    def get_author(self, revision: ExplanationRevision) -> str | None:
        return _username(revision.author)

    def get_rule(self, revision: ExplanationRevision) -> str | None:
        return revision.rule_source or None


class CommentOut(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField(help_text="Empty once the comment is deleted or hidden")

    class Meta:
        model = Comment
        fields = ["id", "feature", "explanation", "parent", "author", "body", "deleted", "created_at", "edited_at"]

    def get_author(self, comment: Comment) -> str | None:
        return _username(comment.author)

    def get_body(self, comment: Comment) -> str:
        return comment.body if comment.is_visible else ""


class ListOut(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    item_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = FeatureList
        fields = ["id", "name", "description", "is_public", "owner", "item_count", "created_at", "updated_at"]

    def get_owner(self, feature_list: FeatureList) -> str:
        return feature_list.owner.username


class ListItemOut(serializers.ModelSerializer):
    feature = FeatureOut(read_only=True)

    class Meta:
        model = FeatureListItem
        fields = ["id", "feature", "note", "added_at"]


class RunOut(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SerializerMethodField()
    warnings = RunWarningOut(many=True, read_only=True)
    page = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="This run in the API: poll it for progress")

    class Meta:
        model = PipelineRun
        fields = [
            "id", "kind", "model", "status", "progress", "message", "shards_total", "shards_done", "tokens_done",
            "error", "params", "created_by", "created_at", "started_at", "finished_at", "page", "url", "warnings",
        ]  # fmt: skip

    def get_created_by(self, run: PipelineRun) -> str | None:
        return _username(run.created_by)

    def get_page(self, run: PipelineRun) -> str:
        return run.get_absolute_url()

    def get_url(self, run: PipelineRun) -> str:
        return reverse("api:run", args=[run.pk])


class RunGraphOut(serializers.Serializer):
    """The graph an attribution run stored."""

    slug = serializers.CharField()
    title = serializers.CharField()
    target = serializers.CharField(help_text="What it explains, in words")
    page = serializers.CharField(help_text="Its page on the site")
    url = serializers.CharField(help_text="It in the API")
    export = serializers.CharField(help_text="Its JSON in circuit-tracer's schema")


class RunDetailOut(RunOut):
    manifest = serializers.DictField(
        read_only=True, help_text="What an activation run read: files' hashes, corpus, windowing, versions"
    )
    graph = serializers.SerializerMethodField(
        help_text="The graph an attribution run stored: null until it has succeeded, and for other kinds of run"
    )

    class Meta(RunOut.Meta):
        fields = [*RunOut.Meta.fields, "manifest", "graph"]

    @extend_schema_field(RunGraphOut(allow_null=True))
    def get_graph(self, run: PipelineRun) -> dict | None:
        graph = next(iter(run.graphs.all()), None)  # prefetched with its model: selectors.run_for_api_detail
        if graph is None:
            return None
        slugs = [graph.model.slug, graph.slug]
        return {
            "slug": graph.slug,
            "title": graph.title,
            "target": graph.target,
            "page": graph.get_absolute_url(),
            "url": reverse("api:graph", args=slugs),
            "export": reverse("api:graph-export", args=slugs),
        }


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    authenticated_by = serializers.CharField(help_text="api-key or session")


# --- Inputs --------------------------------------------------------------------------------------


class FeatureIdField(serializers.PrimaryKeyRelatedField):
    """A feature by its id; an absurd id is 'does not exist', never a database error."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("queryset", Feature.objects.select_related("source__model"))
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).isdigit():
            self.fail("incorrect_type", data_type=type(data).__name__)
        if int(data) > MAX_DB_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(int(data))


class BoundedIdField(serializers.IntegerField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DB_ID)
        super().__init__(**kwargs)


class ExplanationIn(serializers.Serializer):
    feature = FeatureIdField(help_text="The feature's id")
    text = serializers.CharField(max_length=5000, trim_whitespace=True)
    rule = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    message = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RevisionIn(serializers.Serializer):
    text = serializers.CharField(max_length=5000)
    rule = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    message = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    base_revision = BoundedIdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The revision you started editing from: if someone saved another since, you get 409",
    )


class RevertIn(serializers.Serializer):
    revision = BoundedIdField()
    message = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class VoteIn(serializers.Serializer):
    value = serializers.ChoiceField(choices=[1, -1, 0], help_text="1 up, -1 down, 0 withdraw")


class VoteOut(serializers.Serializer):
    score = serializers.IntegerField(help_text="The explanation's vote total")
    value = serializers.IntegerField(help_text="Your vote now: 1, -1, or 0 for none")


class CommentIn(serializers.Serializer):
    feature = FeatureIdField(required=False, help_text="Required unless replying (`parent`)")
    body = serializers.CharField(max_length=20_000, trim_whitespace=False)
    parent = BoundedIdField(required=False, allow_null=True, default=None)
    explanation = BoundedIdField(required=False, allow_null=True, default=None)


class CommentEditIn(serializers.Serializer):
    body = serializers.CharField(max_length=20_000, trim_whitespace=False)


class ListIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    is_public = serializers.BooleanField(required=False, default=False)


class ListPatchIn(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    is_public = serializers.BooleanField(required=False)


class ListItemIn(serializers.Serializer):
    feature = FeatureIdField()
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RunIn(serializers.Serializer):
    model = serializers.SlugRelatedField(slug_field="slug", queryset=LanguageModel.objects.all())
    layers = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=10_000), required=False, default=list, max_length=1000
    )
    dictionaries = serializers.ListField(
        child=BoundedIdField(), required=False, default=list, max_length=100, help_text="Ids of dictionary sources"
    )
    corpus = serializers.CharField(
        required=False,
        default="builtin",
        max_length=1000,
        help_text=(
            "'builtin' (a mix of Python's docs, package READMEs, standard-library docstrings and licences) or "
            "builtin:NAME (mix, stdlib-docstrings, python-docs, package-docs, package-docstrings, licenses); for "
            "staff also a .txt/.jsonl/.parquet path on the server or datasets:NAME[:CONFIG][:SPLIT] from its cache"
        ),
    )
    n_windows = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=1700)
    window_len = serializers.IntegerField(min_value=2, max_value=4096, required=False, default=128)
    top_k = serializers.IntegerField(min_value=1, max_value=200, required=False, default=20)
    shard_windows = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=2048)


class DictionaryUploadIn(serializers.Serializer):
    model = serializers.SlugRelatedField(slug_field="slug", queryset=LanguageModel.objects.all())
    slug = serializers.CharField(max_length=64, help_text="The new source's name, e.g. 6-res-mine")
    hook_name = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    config = serializers.FileField(required=False, help_text="cfg.json (SAELens format)")
    weights = serializers.FileField(required=False, help_text="sae_weights.safetensors")
    path = serializers.CharField(
        max_length=1000, required=False, help_text="Staff only: a SAELens directory already on the server"
    )

    def validate(self, data: dict) -> dict:
        has_files = "config" in data and "weights" in data
        if has_files == ("path" in data):
            raise serializers.ValidationError("Send either the files `config` and `weights`, or (staff) a `path`.")
        return data


class ModelUploadIn(serializers.Serializer):
    slug = serializers.CharField(max_length=64)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    files = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=200, help_text="A transformers checkpoint's files"
    )
    path = serializers.CharField(
        max_length=1000, required=False, help_text="Staff only: a checkpoint directory already on the server"
    )

    def validate(self, data: dict) -> dict:
        if bool(data.get("files")) == ("path" in data):
            raise serializers.ValidationError("Send either the checkpoint's `files`, or (staff) a `path`.")
        return data


# --- Live inference ------------------------------------------------------------------------------


class TextIn(serializers.Serializer):
    text = serializers.CharField(max_length=4000, trim_whitespace=False)


class TokenActivationsOut(serializers.Serializer):
    tokens = serializers.ListField(child=serializers.CharField())
    values = serializers.ListField(child=serializers.FloatField())
    max_value = serializers.FloatField()
    max_index = serializers.IntegerField()


class TopFeaturesIn(serializers.Serializer):
    text = serializers.CharField(max_length=4000, trim_whitespace=False)
    sources = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=200,
        help_text="Source slugs; all if empty",
    )
    k = serializers.IntegerField(min_value=1, max_value=100, required=False, default=10)


class FeatureHitOut(serializers.Serializer):
    source = serializers.CharField(source="source_slug")
    index = serializers.IntegerField()
    value = serializers.FloatField()
    page = serializers.CharField(source="url")


class TopFeaturesOut(serializers.Serializer):
    tokens = serializers.ListField(child=serializers.CharField())
    per_token = serializers.ListField(child=FeatureHitOut(many=True))
    overall = FeatureHitOut(many=True)


class SteeringFeatureIn(serializers.Serializer):
    source = serializers.CharField(max_length=64)
    index = serializers.IntegerField(min_value=0, max_value=MAX_INDEX)
    strength = serializers.FloatField(min_value=-100, max_value=100)


class SteerIn(serializers.Serializer):
    prompt = serializers.CharField(max_length=4000, trim_whitespace=False)
    features = SteeringFeatureIn(many=True)
    max_new_tokens = serializers.IntegerField(min_value=1, max_value=64, required=False, default=32)
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False, default=0.7)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, default=0)


class SteerOut(serializers.Serializer):
    prompt = serializers.CharField()
    steered = serializers.CharField()
    plain = serializers.CharField()
    seed = serializers.IntegerField()


class ErrorDetailOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class ErrorOut(serializers.Serializer):
    error = ErrorDetailOut()
