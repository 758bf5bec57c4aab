"""A finished activation run's results written to the database: each source's features (statistics, histogram,
logits, similar features), their examples, and the corpus windows the examples show, stored once per
(model, corpus) and shared by every example on them. Features are updated in place, so explanations and comments
attached to them survive a re-run; their examples are replaced."""

import itertools
import json
from collections.abc import Iterable
from contextlib import contextmanager

from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from features.models import ActivationExample, ContextWindow, Feature, LanguageModel, Source
from features.pipeline.corpus import token_display_strings_many
from features.pipeline.dashboards import NO_POSITIVE, Dashboards
from features.pipeline.errors import PipelineInputError
from features.pipeline.example_rows import example_rows
from features.pipeline.figures import FigureError, stored_figure, stored_figures
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


def _token_lists(loaded: LoadedModel, scores) -> list[list[dict]] | None:
    """Each feature's logit tokens (TokenScores [F, k]) as the feature page shows them, or None for every
    feature of a model without an unembedding."""
    if scores is None:
        return None
    ids, values = scores.ids.tolist(), scores.values.tolist()
    strings = token_display_strings_many(loaded.tokenizer, ids)
    return [
        [
            {"token": text, "id": token_id, "value": stored_figure(round(value, 4))}
            for text, token_id, value in zip(feature_strings, feature_ids, feature_values, strict=True)
        ]
        for feature_strings, feature_ids, feature_values in zip(strings, ids, values, strict=True)
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
    """Replace a source's stored dashboards, all or nothing. Features are updated in place, so explanations and
    comments attached to them survive a re-run; their examples are replaced."""
    try:
        _source_dashboards_write(
            loaded=loaded, spec=spec, source=source, dashboards=dashboards, window_pk=window_pk, corpus_key=corpus_key
        )
    except FigureError as error:
        raise PipelineInputError(f"The dashboards of {spec.slug} cannot be stored: {error}.") from error


def _source_dashboards_write(
    *,
    loaded: LoadedModel,
    spec: SourceSpec,
    source: Source,
    dashboards: Dashboards,
    window_pk: dict[int, int],
    corpus_key: str,
) -> None:
    directions = output_directions(loaded, spec)
    unembedding = loaded.unembedding()
    top_logits = bottom_logits = None
    if unembedding is not None and directions.shape[1] == unembedding.shape[0]:
        top_logits, bottom_logits = logit_effects(directions, unembedding, k=SHOWN_LOGITS)
    similar = similar_features(directions, k=SHOWN_SIMILAR) if len(directions) > 1 else None
    max_activation = stored_figures(dashboards.max_activation, what="a feature's maximum")
    density = stored_figures(dashboards.density, what="a feature's density")

    with transaction.atomic():
        source.n_features = spec.n_features
        source.config = {**source.config, "corpus_key": corpus_key, "token_count": dashboards.token_count}
        source.save(update_fields=["n_features", "config"])

        existing = dict(source.features.values_list("index", "pk"))
        now = Feature._meta.get_field("updated_at").get_db_prep_value(timezone.now(), connection)
        top_lists, bottom_lists = _token_lists(loaded, top_logits), _token_lists(loaded, bottom_logits)
        similar_ids, similar_values = (similar.ids.tolist(), similar.values.tolist()) if similar else (None, None)
        updates, inserts = [], []
        for index in range(spec.n_features):
            figures = (
                float(max_activation[index]),
                float(density[index]),
                _json(_histogram_json(dashboards, index)),
                _json(top_lists[index] if top_lists else None),
                _json(bottom_lists[index] if bottom_lists else None),
                _json(
                    [
                        {"index": j, "similarity": stored_figure(round(v, 4))}
                        for j, v in zip(similar_ids[index], similar_values[index], strict=True)
                    ]
                    if similar
                    else None
                ),
                now,
            )
            if index in existing:
                updates.append((*figures, existing[index]))
            else:
                inserts.append((source.pk, index, *figures, 0))
        rows_update(Feature, FEATURE_FIELDS, updates)
        rows_insert(Feature, ["source", "index", *FEATURE_FIELDS, "page_version"], inserts)
        feature_pk = dict(source.features.values_list("index", "pk"))

        ActivationExample.objects.filter(feature__source=source).delete()
        rows = example_rows(
            dashboards,
            [feature_pk[index] for index in range(spec.n_features)],
            window_pk,
            top_kind=ActivationExample.Kind.TOP.value,
            interval_kind=ActivationExample.Kind.INTERVAL.value,
        )
        if _copies() and _references_locked(source=source, window_ids=set(window_pk.values())):
            try:
                with _row_checks_skipped():
                    rows_insert(ActivationExample, EXAMPLE_FIELDS, rows)
            except _RowChecksRefused:
                rows_insert(ActivationExample, EXAMPLE_FIELDS, rows)
        else:
            rows_insert(ActivationExample, EXAMPLE_FIELDS, rows)


def _references_locked(*, source: Source, window_ids: set[int]) -> bool:
    """Lock every feature of the source and every window the examples show as PostgreSQL's foreign-key check
    would (FOR KEY SHARE, until the transaction ends: nobody can delete them meanwhile), in two statements; True
    when all of them exist. The examples' ids come only from these rows (example_rows() maps through them)."""
    features, windows = Feature._meta.db_table, ContextWindow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {features} WHERE source_id = %s FOR KEY SHARE) AS locked",
            [source.pk],
        )
        (locked_features,) = cursor.fetchone()
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {windows} WHERE id = ANY(%s) FOR KEY SHARE) AS locked",
            [sorted(window_ids)],
        )
        (locked_windows,) = cursor.fetchone()
    return locked_features == source.n_features and locked_windows == len(window_ids)


class _RowChecksRefused(Exception):
    """The database role may not skip the per-row checks (it is no superuser, nor granted SET on the parameter)."""


@contextmanager
def _row_checks_skipped():
    """Within the current transaction, skip the foreign-key triggers that check each inserted row (more than half
    of PostgreSQL's work for 1.7 million examples); _references_locked() has checked and locked what they would.
    session_replication_role=replica skips every trigger of the session, and only the COPY runs under it."""
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():  # a savepoint: a refused SET leaves the run's transaction usable
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError as error:
            raise _RowChecksRefused from error
        yield
        # Not on an error: the transaction is then rolled back, to before the SET as well.
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")


# The figures of a feature a run writes, in the order source_dashboards_save() gives them.
FEATURE_FIELDS = ["max_activation", "density", "histogram", "top_logits", "bottom_logits", "similar", "updated_at"]

# The columns of an example row (features.pipeline.example_rows yields them), in order.
EXAMPLE_FIELDS = [
    "feature", "window", "kind", "rank", "values", "max_value", "max_token_index", "interval_index", "bin_min",
    "bin_max", "bin_contains",
]  # fmt: skip


def _json(value) -> str | None:
    """A JSONField's value as the field stores it (SQL NULL for None, as the ORM writes a null=True field)."""
    return None if value is None else json.dumps(value)


def _copies() -> bool:
    return connection.vendor == "postgresql"


def _copy_type(field: models.Field) -> str:
    """The PostgreSQL type name of a field's column, as psycopg's set_types() takes it (no length)."""
    return field.db_type(connection).split("(")[0]


def rows_insert(model: type[models.Model], fields: list[str], rows: Iterable[tuple], *, batch_size: int = 5000) -> None:
    """INSERT plain rows (tuples of `fields`' database values: JSON as text, datetimes as the connection takes
    them). On PostgreSQL one COPY streams them all; elsewhere executemany, a batch at a time, in the caller's
    transaction. A run writes up to 68 examples a feature (1.7 million for 24,576 features): bulk_create spent
    three times as long building a model instance per row as inserting it, and on PostgreSQL an INSERT per row
    costs a round trip and a statement's parse that COPY does not."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    rows = iter(rows)
    with connection.cursor() as cursor:
        if _copies():
            # Binary COPY sends numbers and bytes as they are, not as text to parse (bytea as hex doubles the
            # examples' bytes); JSON values come as text, so a table with a JSON column is copied as text.
            types = [_copy_type(meta.get_field(name)) for name in fields]
            binary = "jsonb" not in types
            with cursor.copy(
                f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
            ) as copy:
                if binary:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
        while batch := list(itertools.islice(rows, batch_size)):
            cursor.executemany(sql, batch)


def rows_update(model: type[models.Model], fields: list[str], rows: list[tuple], *, batch_size: int = 5000) -> None:
    """UPDATE rows by primary key: `rows` are tuples of `fields`' database values followed by the key. On
    PostgreSQL the rows are COPied into a temporary table and applied by one UPDATE ... FROM; elsewhere
    executemany. (bulk_update builds one CASE expression a field over a batch, which PostgreSQL evaluates row by
    row.)"""
    if not rows:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    columns = [quote(meta.get_field(name).column) for name in fields]
    with connection.cursor() as cursor:
        if _copies():
            staged = quote(f"{meta.db_table}_staged")
            cursor.execute(f"DROP TABLE IF EXISTS {staged}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {staged} AS SELECT {', '.join(columns)}, {pk} FROM {table} WITH NO DATA"
            )
            with cursor.copy(f"COPY {staged} ({', '.join(columns)}, {pk}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            assignments = ", ".join(f"{column} = {staged}.{column}" for column in columns)
            cursor.execute(f"UPDATE {table} SET {assignments} FROM {staged} WHERE {table}.{pk} = {staged}.{pk}")
            cursor.execute(f"DROP TABLE {staged}")
            return
        assignments = ", ".join(f"{column} = %s" for column in columns)
        sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"
        for start in range(0, len(rows), batch_size):
            cursor.executemany(sql, rows[start : start + batch_size])


def _histogram_json(dashboards: Dashboards, index: int) -> dict | None:
    exponent = int(dashboards.range_exponent[index])
    if exponent == NO_POSITIVE:
        return None
    top = float(2.0**exponent)
    bars = dashboards.histogram[index].reshape(HISTOGRAM_BARS, -1).sum(axis=1)
    bar_width = top / HISTOGRAM_BARS
    last = min(int(dashboards.max_activation[index] / bar_width), HISTOGRAM_BARS - 1)
    return {"bin_width": bar_width, "counts": [int(count) for count in bars[: last + 1]]}


def context_windows_store(
    *,
    model: LanguageModel,
    loaded: LoadedModel,
    corpus_key: str,
    token_ids: list[list[int]],
    positions: list[int],
    display: dict[int, list[str]] | None = None,
) -> dict[int, int]:
    """Store the windows at `positions` once per (model, corpus): a window shown by several features, sources or
    runs is one row. Return {position: primary key}. A window's tokens read as `display` gives them (the
    corpus's own characters), else as the tokenizer spells them."""
    display = display or {}
    if not positions:
        return {}
    # A range scan on the unique index, not IN (...): a corpus can have a million windows.
    in_range = ContextWindow.objects.filter(
        model=model, corpus_key=corpus_key, position__gte=positions[0], position__lte=positions[-1]
    )
    wanted = set(positions)
    with transaction.atomic():
        stored = {position for position in in_range.values_list("position", flat=True) if position in wanted}
        missing = sorted(wanted - stored)
        spelled = iter(
            token_display_strings_many(
                loaded.tokenizer, [token_ids[position] for position in missing if not display.get(position)]
            )
        )
        strings = [display.get(position) or next(spelled) for position in missing]
        rows_insert(
            ContextWindow,
            ["model", "corpus_key", "position", "token_ids", "tokens"],
            (
                (model.pk, corpus_key, position, json.dumps(token_ids[position]), json.dumps(tokens))
                for position, tokens in zip(missing, strings, strict=True)
            ),
        )
    return {position: pk for position, pk in in_range.values_list("position", "pk") if position in wanted}
