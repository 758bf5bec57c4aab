"""Compact examples for pages that list many features (lists of features): a few tokens of each feature's
strongest example around its peak, drawn as the feature page draws them (token_html.activation_snippet_html),
with every feature's example read in one query."""

from collections.abc import Iterable

from django.utils.safestring import SafeString

from .models import ActivationExample, Feature, unpack_floats
from .token_html import activation_snippet_html


def top_example_snippets(features: Iterable[Feature]) -> dict[int, SafeString]:
    """{feature pk: its first top example's snippet as highlighted tokens}; a feature without examples (dead, or
    not computed yet) is absent. One query, whatever the number of features."""
    by_pk = {feature.pk: feature for feature in features}
    if not by_pk:
        return {}
    examples = (
        ActivationExample.objects.filter(feature_id__in=by_pk, kind=ActivationExample.Kind.TOP, rank=0)
        .select_related("window")
        .only("feature_id", "values", "max_value", "max_token_index", "window__tokens")
    )
    snippets = {}
    for example in examples:
        # The feature's own maximum sets the colour scale, as on its page (the example's if none is stored).
        scale = by_pk[example.feature_id].max_activation or example.max_value
        snippets[example.feature_id] = activation_snippet_html(
            example.window.tokens, unpack_floats(example.values), scale=scale, max_index=example.max_token_index
        )
    return snippets
