"""Query-string filters of the list endpoints (django-filter). Every parameter is validated: a bad value is a
400 with the field's message, never a database error."""

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.drainage import set_override

from explanations.models import Comment, Explanation, FeatureList
from features.models import ActivationExample, Feature, PipelineRun, Source

MAX_INDEX = 2**31 - 1
MAX_ID = 2**63 - 1


class IndexFilter(filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args, maximum: int = MAX_INDEX, **kwargs) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", maximum)
        super().__init__(*args, **kwargs)
        # The schema states what the form field checks (drf-spectacular would say "number", unbounded), so that
        # a client generated from it never sends a value that is refused.
        set_override(self, "field", {"type": "integer", "minimum": kwargs["min_value"], "maximum": kwargs["max_value"]})


class IdFilter(IndexFilter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, maximum=MAX_ID, **kwargs)


class FiniteFloatFilter(filters.NumberFilter):
    """Any finite number (forms.FloatField refuses inf and nan), without django-filter's cap of 1e50, which the
    schema's "number" does not state."""

    field_class = forms.FloatField

    def get_max_validator(self):
        return None


class _TrueOrFalseSelect(forms.NullBooleanSelect):
    """true/false (or 1/0, any case) as True/False, absent or empty as None, and anything else as it came, for the
    field to refuse: django-filter's own widget reads every unknown value as "no filter"."""

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if value in (None, ""):
            return None
        return {"true": True, "1": True, "false": False, "0": False}.get(str(value).lower(), value)


class _StrictNullBooleanField(forms.NullBooleanField):
    widget = _TrueOrFalseSelect

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        raise ValidationError("Use true or false.", code="invalid")

    def validate(self, value) -> None:
        pass


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = _StrictNullBooleanField


class SourceFilter(filters.FilterSet):
    model = filters.CharFilter(field_name="model__slug", max_length=64, help_text="Model slug")
    kind = filters.ChoiceFilter(choices=Source.Kind.choices)
    set_name = filters.CharFilter(max_length=64)
    layer = IndexFilter()

    class Meta:
        model = Source
        fields = ["model", "kind", "set_name", "layer"]


class FeatureFilter(filters.FilterSet):
    model = filters.CharFilter(field_name="source__model__slug", max_length=64, help_text="Model slug")
    source = filters.CharFilter(field_name="source__slug", max_length=64, help_text="Source slug, e.g. 3-mlp")
    source_id = IdFilter(field_name="source_id")
    index = IndexFilter()
    index_min = IndexFilter(field_name="index", lookup_expr="gte")
    index_max = IndexFilter(field_name="index", lookup_expr="lte")
    max_activation_min = FiniteFloatFilter(field_name="max_activation", lookup_expr="gte")
    max_activation_max = FiniteFloatFilter(field_name="max_activation", lookup_expr="lte")
    density_min = FiniteFloatFilter(field_name="density", lookup_expr="gte")
    density_max = FiniteFloatFilter(field_name="density", lookup_expr="lte")

    class Meta:
        model = Feature
        fields = []


class ExampleFilter(filters.FilterSet):
    feature = IdFilter(field_name="feature_id")
    model = filters.CharFilter(field_name="feature__source__model__slug", max_length=64)
    source = filters.CharFilter(field_name="feature__source__slug", max_length=64)
    index = IndexFilter(field_name="feature__index")
    kind = filters.ChoiceFilter(choices=ActivationExample.Kind.choices)
    interval_index = IndexFilter(maximum=32767)

    class Meta:
        model = ActivationExample
        fields = []


class ExplanationFilter(filters.FilterSet):
    feature = IdFilter(field_name="feature_id")
    model = filters.CharFilter(field_name="feature__source__model__slug", max_length=64)
    source = filters.CharFilter(field_name="feature__source__slug", max_length=64)
    index = IndexFilter(field_name="feature__index")
    author = filters.CharFilter(field_name="author__username", max_length=150, help_text="Username")
    method = filters.CharFilter(max_length=64, help_text="Explainer, e.g. token-stats")
    explainer_model = filters.CharFilter(max_length=200)
    machine_written = StrictBooleanFilter(field_name="author", lookup_expr="isnull")

    class Meta:
        model = Explanation
        fields = []


class CommentFilter(filters.FilterSet):
    feature = IdFilter(field_name="feature_id")
    explanation = IdFilter(field_name="explanation_id")
    parent = IdFilter(field_name="parent_id")
    author = filters.CharFilter(field_name="author__username", max_length=150)

    class Meta:
        model = Comment
        fields = []


class ListFilter(filters.FilterSet):
    owner = filters.CharFilter(field_name="owner__username", max_length=150)
    is_public = StrictBooleanFilter()

    class Meta:
        model = FeatureList
        fields = []


class RunFilter(filters.FilterSet):
    model = filters.CharFilter(field_name="model__slug", max_length=64)
    status = filters.ChoiceFilter(choices=PipelineRun.Status.choices)
    kind = filters.ChoiceFilter(choices=PipelineRun.Kind.choices)
    created_by = filters.CharFilter(field_name="created_by__username", max_length=150)

    class Meta:
        model = PipelineRun
        fields = []
