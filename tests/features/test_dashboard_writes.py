"""A run's results are written as plain rows (COPY on PostgreSQL, executemany on SQLite): they must be, field by
field, what the ORM writes from the same dashboards; a write that fails midway leaves nothing; a re-run replaces."""

import json
import math
from contextlib import contextmanager

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from features.models import ActivationExample, ContextWindow, Feature, LanguageModel, PipelineRun, Source
from features.pipeline.dashboards import HISTOGRAM_BINS, NO_POSITIVE, SAMPLE_BINS, DashboardAccumulator
from features.services import activation_runs, dashboard_store, registration

pytestmark = pytest.mark.django_db


def run_sync(**params) -> PipelineRun:
    run = activation_runs.activation_run_create(sync=True, **params)
    return activation_runs.activation_run_start(run_id=run.pk)


def stored(model_slug: str) -> dict:
    """Every row a run stored for a model, every field but the keys that differ between databases and runs,
    examples in the order of their primary keys (the order they were written)."""
    features = [
        (f.source.slug, *(getattr(f, name) for name in ("index", "max_activation", "density", "histogram",
         "top_logits", "bottom_logits", "similar", "page_version")))
        for f in Feature.objects.filter(source__model__slug=model_slug).select_related("source").order_by("pk")
    ]  # fmt: skip
    windows = [
        (w.corpus_key, w.position, w.token_ids, w.tokens)
        for w in ContextWindow.objects.filter(model__slug=model_slug).order_by("pk")
    ]
    examples = [
        (e.feature.source.slug, e.feature.index, e.window.position, e.kind, e.rank, bytes(e.values), e.max_value,
         e.max_token_index, e.interval_index, e.bin_min, e.bin_max, e.bin_contains)
        for e in ActivationExample.objects.filter(feature__source__model__slug=model_slug)
        .select_related("feature__source", "window")
        .order_by("pk")
    ]  # fmt: skip
    return {"features": features, "windows": windows, "examples": examples}


def signs(values) -> set[float]:
    return {math.copysign(1.0, value) for value in values if value == 0}


# ------------------------------------------------------------------- the ORM path, as the store wrote before COPY


def orm_rows_insert(model, fields, rows, **_) -> None:
    objects = []
    for row in rows:
        values = dict(zip(fields, row, strict=True))
        if model is ActivationExample:
            values["values"] = bytes(values["values"])
        for name in ("feature", "window", "model", "source"):
            if name in values:
                values[f"{name}_id"] = values.pop(name)
        objects.append(model(**{name: _python_value(model, name, value) for name, value in values.items()}))
    model.objects.bulk_create(objects, batch_size=500)


def orm_rows_update(model, fields, rows, **_) -> None:
    objects = []
    for *values, pk in rows:
        instance = model(pk=pk)
        for name, value in zip(fields, values, strict=True):
            setattr(instance, name, _python_value(model, name, value))
        objects.append(instance)
    model.objects.bulk_update(objects, fields, batch_size=500)


def _python_value(model, name, value):
    """The value a model instance holds for a database value of the store's rows (JSON comes as text)."""
    field = model._meta.get_field(name.removesuffix("_id"))
    if field.get_internal_type() == "JSONField" and value is not None:
        return json.loads(value)
    if field.get_internal_type() == "DateTimeField":
        return timezone.now()  # not compared: it differs from run to run
    return value


def loop_example_rows(dashboards, feature_ids, window_ids, *, top_kind, interval_kind, **_):
    """The examples one at a time, as the store built them before its rows were computed on arrays (and before
    it stored zeros as +0.0, which `+ 0.0` does here)."""
    bins_per_sample_bin = HISTOGRAM_BINS // SAMPLE_BINS
    for index, feature_id in enumerate(feature_ids):
        for rank, position in enumerate(dashboards.top_windows[:, index]):
            if position < 0:
                break
            values = dashboards.top_token_values[rank, index]
            yield (
                feature_id, window_ids[int(position)], top_kind, rank, (values + np.float32(0)).astype("<f4").tobytes(),
                float(dashboards.top_values[rank, index]) + 0.0, int(values.argmax()), None, None, None, None,
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
                    feature_id, window_ids[int(position)], interval_kind, rank,
                    (values + np.float32(0)).astype("<f4").tobytes(),
                    float(dashboards.sample_values[sample_bin, rank, index]) + 0.0, int(np.argmax(values)),
                    sample_bin, float(low), min(float(low + width), float(dashboards.max_activation[index])),
                    float(share) / positives,
                )  # fmt: skip


@pytest.fixture
def run_twice(tiny_gpt2_dir, tiny_sae_dir, sample_corpus_file):
    """Register the tiny GPT-2 with a dictionary under `slug`, run it, then run it again (the second run updates
    the features and replaces their examples); what was stored after each."""

    def run(slug: str) -> tuple[dict, dict]:
        model = registration.model_register(slug=slug, path=str(tiny_gpt2_dir))
        source = registration.dictionary_register(model=model, path=str(tiny_sae_dir), slug="1-res")
        params = {"model": model, "dictionary_sources": [source], "layers": [0], "corpus": str(sample_corpus_file)}
        first = run_sync(**params, **RUN)
        assert first.status == PipelineRun.Status.SUCCEEDED, first.error
        after_first = stored(slug)
        second = run_sync(**params, **RUN)
        assert second.status == PipelineRun.Status.SUCCEEDED, second.error
        return after_first, stored(slug)

    return run


RUN = {"n_windows": 10, "window_len": 12, "top_k": 4, "samples_per_bin": 2}


@pytest.mark.parametrize("path", ["copy-as-superuser", "copy-as-a-plain-role", "executemany"], ids=lambda path: path)
def test_each_write_path_stores_what_the_orm_path_stored(path, run_twice, monkeypatch):
    if path.startswith("copy") and connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    monkeypatch.setattr(DashboardAccumulator, "result", dead_first_feature(DashboardAccumulator.result))
    with monkeypatch.context() as orm:
        orm.setattr(dashboard_store, "rows_insert", orm_rows_insert)
        orm.setattr(dashboard_store, "rows_update", orm_rows_update)
        orm.setattr(dashboard_store, "example_rows", loop_example_rows)
        expected = run_twice("orm")
    monkeypatch.setattr(dashboard_store, "_copies", lambda: path.startswith("copy"))
    outcomes = spy_on_row_checks(monkeypatch)
    if path == "copy-as-a-plain-role":
        # A role that may not skip the per-row foreign-key checks (no superuser): its COPY keeps them.
        with connection.cursor() as cursor:
            cursor.execute("CREATE ROLE np_plain_writer NOSUPERUSER")  # rolled back with the test's transaction
            cursor.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO np_plain_writer")
            cursor.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO np_plain_writer")
            cursor.execute("SET ROLE np_plain_writer")
        try:
            actual = run_twice("rows")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
    else:
        actual = run_twice("rows")
    # Two sources written twice: the per-row checks skipped where the role may, kept where it may not.
    assert outcomes == {"copy-as-superuser": ["skipped"] * 4, "copy-as-a-plain-role": ["refused"] * 4}.get(path, [])

    examples = actual[0]["examples"]
    assert len(examples) > 100 and {row[3] for row in examples} == {"top", "interval"}
    assert sum(row[4] is None for row in actual[0]["features"]) == 2, "each source's dead feature has no histogram"
    for written, reference in zip(actual, expected, strict=True):
        for table in ("features", "windows", "examples"):
            assert written[table] == reference[table], table


def test_a_write_that_fails_midway_leaves_nothing(tiny_gpt2_dir, sample_corpus_file, monkeypatch):
    insert = dashboard_store.rows_insert
    example_writes = []

    def failing_on_the_second_source(model, fields, rows, **options):
        if model is ActivationExample:
            example_writes.append(model)
            if len(example_writes) == 2:
                rows = _fail_after(rows, 50)
        return insert(model, fields, rows, **options)

    monkeypatch.setattr(dashboard_store, "rows_insert", failing_on_the_second_source)
    run = run_sync(
        model_path=str(tiny_gpt2_dir), model_slug="broken", layers=[0, 1], corpus=str(sample_corpus_file), **RUN
    )

    assert run.status == PipelineRun.Status.FAILED and "No space left on device" in run.error
    assert len(example_writes) == 2, "the first source's examples were written before the failure"
    assert not LanguageModel.objects.exists() and not Source.objects.exists() and not Feature.objects.exists()
    assert not ContextWindow.objects.exists() and not ActivationExample.objects.exists()


def test_a_failed_rewrite_keeps_the_previous_results_and_a_rerun_replaces_them(computed_run, monkeypatch):
    params = {**computed_run.params}
    rerun = {"model": computed_run.model, "layers": params["layers"], "corpus": params["corpus"], "top_k": 5,
             "n_windows": params["n_windows"], "window_len": params["window_len"]}  # fmt: skip
    before = stored("tiny-bert")
    insert = dashboard_store.rows_insert
    with monkeypatch.context() as failing:
        failing.setattr(
            dashboard_store,
            "rows_insert",
            lambda model, fields, rows, **options: insert(
                model, fields, _fail_after(rows, 10) if model is ActivationExample else rows, **options
            ),
        )
        assert run_sync(**rerun).status == PipelineRun.Status.FAILED
    assert stored("tiny-bert") == before

    assert run_sync(**rerun).status == PipelineRun.Status.SUCCEEDED
    assert stored("tiny-bert") == before
    assert ActivationExample.objects.count() == len(before["examples"])


def spy_on_row_checks(monkeypatch) -> list[str]:
    """Whether each examples' COPY skipped the per-row foreign-key checks ("skipped") or was refused ("refused")."""
    skip = dashboard_store._row_checks_skipped
    outcomes = []

    @contextmanager
    def spied():
        try:
            with skip():
                outcomes.append("skipped")
                yield
        except dashboard_store._RowChecksRefused:
            outcomes.append("refused")
            raise

    monkeypatch.setattr(dashboard_store, "_row_checks_skipped", spied)
    return outcomes


def _fail_after(rows, count: int):
    for n, row in enumerate(rows):
        if n == count:
            raise OSError(28, "No space left on device")
        yield row


def dead_first_feature(result):
    """DashboardAccumulator.result, with feature 0 made a feature that peaks at 0 everywhere (a ReLU that never
    fires): its maximum is a negated zero priority, -0.0, and so are its examples' values."""

    def wrapped(self):
        dashboards = result(self)
        dashboards.max_activation[0] = -0.0
        dashboards.density[0] = 0.0
        dashboards.positive_counts[0] = 0
        dashboards.range_exponent[0] = NO_POSITIVE
        dashboards.top_values[:, 0] = -0.0
        dashboards.top_token_values[:, 0] = -0.0
        return dashboards

    return wrapped


def test_a_dead_features_zeros_are_stored_positive_on_a_fresh_database_and_after_a_rerun(
    tiny_bert_dir, sample_corpus_file, monkeypatch
):
    monkeypatch.setattr(DashboardAccumulator, "result", dead_first_feature(DashboardAccumulator.result))
    params = {"layers": [0], "corpus": str(sample_corpus_file), **RUN}
    first = run_sync(model_path=str(tiny_bert_dir), model_slug="dead", **params)
    assert first.status == PipelineRun.Status.SUCCEEDED, first.error
    for _ in range(2):  # as inserted, then as updated by the re-run
        feature = Feature.objects.get(source__model__slug="dead", index=0)
        assert feature.is_dead and signs([feature.max_activation, feature.density]) == {1.0}
        examples = list(feature.examples.all())
        assert examples and signs(e.max_value for e in examples) == {1.0}
        assert signs(value for e in examples for value in e.activations) == {1.0}
        rerun = run_sync(model=LanguageModel.objects.get(slug="dead"), **params)
        assert rerun.status == PipelineRun.Status.SUCCEEDED, rerun.error


def test_a_figure_that_is_not_a_number_fails_the_run_with_the_reason_and_stores_nothing(
    tiny_bert_dir, sample_corpus_file, monkeypatch
):
    result = DashboardAccumulator.result

    def with_nan(self):
        dashboards = result(self)
        dashboards.top_values[1, 3] = np.nan
        return dashboards

    monkeypatch.setattr(DashboardAccumulator, "result", with_nan)
    run = run_sync(model_path=str(tiny_bert_dir), model_slug="nan", layers=[0], corpus=str(sample_corpus_file), **RUN)

    assert run.status == PipelineRun.Status.FAILED
    assert "The dashboards of 0-mlp cannot be stored: an example's maximum" in run.error
    assert "not a finite number" in run.error and "Internal error" not in run.error
    assert not LanguageModel.objects.exists() and not Feature.objects.exists()
