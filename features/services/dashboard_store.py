"""A finished activation run's results written to the database: each source's features (statistics, histogram,
logits, similar features), their examples, and the corpus windows the examples show, stored once per
(model, corpus) and shared by every example on them. Features are updated in place, so explanations and comments
attached to them survive a re-run; their examples are replaced."""

import itertools
from collections.abc import Iterable

import numpy as np
from django.db import connection
from django.utils import timezone

from features.models import ActivationExample, ContextWindow, Feature, LanguageModel, Source, pack_floats
from features.pipeline.corpus import token_display_strings
from features.pipeline.dashboards import HISTOGRAM_BINS, NO_POSITIVE, SAMPLE_BINS, Dashboards
from features.pipeline.loading import LoadedModel
from features.pipeline.logits import logit_effects, similar_features
from features.pipeline.sources import SourceSpec, output_directions

HISTOGRAM_BARS = 64  # bars of the feature page's histogram over [0, R]
SHOWN_LOGITS = 10
SHOWN_SIMILAR = 10


def neuron_source_save(*, model: LanguageModel, spec: SourceSpec) -> Source:
    """The source row of a run's MLP neurons at one layer, created or updated."""
    source, _ = Source.objects.update_or_create(
        model=model,
        slug=spec.slug,
        defaults={
            "kind": Source.Kind.NEURONS,
            "hook_name": spec.hook.name,
            "layer": spec.hook.layer,
            "set_name": "mlp",
            "n_features": spec.n_features,
        },
    )
    return source


def _token_list(loaded: LoadedModel, ids, values) -> list[dict]:
    strings = token_display_strings(loaded.tokenizer, [int(i) for i in ids])
    return [
        {"token": text, "id": int(token_id), "value": round(float(value), 4)}
        for text, token_id, value in zip(strings, ids, values, strict=True)
    ]


def source_dashboards_save(
    *,
    loaded: LoadedModel,
    spec: SourceSpec,
    source: Source,
    dashboards: Dashboards,
    window_pk: dict[int, int],
    corpus_key: str,
) -> None:
    """Replace a source's stored dashboards. Features are updated in place, so explanations and
    comments attached to them survive a re-run; their examples are replaced."""
    directions = output_directions(loaded, spec)
    unembedding = loaded.unembedding()
    top_logits = bottom_logits = None
    if unembedding is not None and directions.shape[1] == unembedding.shape[0]:
        top_logits, bottom_logits = logit_effects(directions, unembedding, k=SHOWN_LOGITS)
    similar = similar_features(directions, k=SHOWN_SIMILAR) if len(directions) > 1 else None

    source.n_features = spec.n_features
    source.config = {**source.config, "corpus_key": corpus_key, "token_count": dashboards.token_count}
    source.save(update_fields=["n_features", "config"])

    existing = {feature.index: feature for feature in source.features.all()}
    now = timezone.now()
    features = []
    for index in range(spec.n_features):
        feature = existing.get(index) or Feature(source=source, index=index)
        feature.max_activation = float(dashboards.max_activation[index])
        feature.density = float(dashboards.density[index])
        feature.histogram = _histogram_json(dashboards, index)
        feature.top_logits = (
            _token_list(loaded, top_logits.ids[index], top_logits.values[index]) if top_logits else None
        )
        feature.bottom_logits = (
            _token_list(loaded, bottom_logits.ids[index], bottom_logits.values[index]) if bottom_logits else None
        )
        feature.similar = (
            [
                {"index": int(j), "similarity": round(float(v), 4)}
                for j, v in zip(similar.ids[index], similar.values[index], strict=True)
            ]
            if similar
            else None
        )
        feature.updated_at = now
        features.append(feature)
    fields = ["max_activation", "density", "histogram", "top_logits", "bottom_logits", "similar", "updated_at"]
    Feature.objects.bulk_update([f for f in features if f.pk], fields, batch_size=1000)
    Feature.objects.bulk_create([f for f in features if not f.pk], batch_size=1000)
    features = list(source.features.order_by("index"))

    ActivationExample.objects.filter(feature__source=source).delete()
    example_rows_insert(_examples(features, dashboards, window_pk))


# The columns of an example row (_examples() yields them), in order.
EXAMPLE_FIELDS = [
    "feature", "window", "kind", "rank", "values", "max_value", "max_token_index", "interval_index", "bin_min",
    "bin_max", "bin_contains",
]  # fmt: skip


def example_rows_insert(rows: Iterable[tuple], *, batch_size: int = 5000) -> None:
    """INSERT the examples' rows (tuples of EXAMPLE_FIELDS) with executemany, a batch at a time. A run writes
    up to 68 examples a feature (565,336 for the demo's 10,752 features); bulk_create spent three times as long
    building a model instance per row as inserting it."""
    meta = ActivationExample._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in EXAMPLE_FIELDS)
    placeholders = ", ".join(["%s"] * len(EXAMPLE_FIELDS))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
    rows = iter(rows)
    with connection.cursor() as cursor:
        while batch := list(itertools.islice(rows, batch_size)):
            cursor.executemany(sql, batch)


def _histogram_json(dashboards: Dashboards, index: int) -> dict | None:
    exponent = int(dashboards.range_exponent[index])
    if exponent == NO_POSITIVE:
        return None
    top = float(2.0**exponent)
    bars = dashboards.histogram[index].reshape(HISTOGRAM_BARS, -1).sum(axis=1)
    bar_width = top / HISTOGRAM_BARS
    last = min(int(dashboards.max_activation[index] / bar_width), HISTOGRAM_BARS - 1)
    return {"bin_width": bar_width, "counts": [int(count) for count in bars[: last + 1]]}


def _examples(features: list[Feature], dashboards: Dashboards, window_pk: dict[int, int]):
    """The rows of every feature's examples, as tuples of EXAMPLE_FIELDS."""
    bins_per_sample_bin = HISTOGRAM_BINS // SAMPLE_BINS
    for index, feature in enumerate(features):
        for rank, position in enumerate(dashboards.top_windows[:, index]):
            if position < 0:
                break
            values = dashboards.top_token_values[rank, index]
            yield (
                feature.pk, window_pk[int(position)], ActivationExample.Kind.TOP.value, rank, pack_floats(values),
                float(dashboards.top_values[rank, index]), int(values.argmax()), None, None, None, None,
            )  # fmt: skip
        exponent = int(dashboards.range_exponent[index])
        positives = int(dashboards.positive_counts[index])
        if exponent == NO_POSITIVE or positives == 0:
            continue
        width = 2.0**exponent / SAMPLE_BINS
        histogram = dashboards.histogram[index]
        for sample_bin in range(SAMPLE_BINS):
            low = sample_bin * width
            if low >= dashboards.max_activation[index]:
                break
            share = histogram[sample_bin * bins_per_sample_bin : (sample_bin + 1) * bins_per_sample_bin].sum()
            for rank, position in enumerate(dashboards.sample_windows[sample_bin, :, index]):
                if position < 0:
                    break
                values = dashboards.sample_token_values[sample_bin, rank, index]
                yield (
                    feature.pk, window_pk[int(position)], ActivationExample.Kind.INTERVAL.value, rank,
                    pack_floats(values), float(dashboards.sample_values[sample_bin, rank, index]),
                    int(np.argmax(values)), sample_bin, float(low),
                    min(float(low + width), float(dashboards.max_activation[index])), float(share) / positives,
                )  # fmt: skip


def context_windows_store(
    *,
    model: LanguageModel,
    loaded: LoadedModel,
    corpus_key: str,
    token_ids: list[list[int]],
    positions: list[int],
    display: dict[int, list[str]] | None = None,
) -> dict[int, int]:
    """Store the windows at `positions` once per (model, corpus); return {position: primary key}. A window's
    tokens read as `display` gives them (the corpus's own characters), else as the tokenizer spells them."""
    display = display or {}
    if not positions:
        return {}
    # A range scan on the unique index, not IN (...): a corpus can have a million windows.
    in_range = ContextWindow.objects.filter(
        model=model, corpus_key=corpus_key, position__gte=positions[0], position__lte=positions[-1]
    )
    wanted = set(positions)
    stored = {position: pk for position, pk in in_range.values_list("position", "pk") if position in wanted}
    missing = [
        ContextWindow(
            model=model,
            corpus_key=corpus_key,
            position=position,
            token_ids=token_ids[position],
            tokens=display.get(position) or token_display_strings(loaded.tokenizer, token_ids[position]),
        )
        for position in positions
        if position not in stored
    ]
    ContextWindow.objects.bulk_create(missing, batch_size=500)
    return {position: pk for position, pk in in_range.values_list("position", "pk") if position in wanted}
