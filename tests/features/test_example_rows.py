"""A run writes its examples as plain rows (dashboard_store.rows_insert: COPY on PostgreSQL, executemany elsewhere),
not model instances: they must read back exactly as bulk_create of the same examples wrote them."""

import struct

import numpy as np

from features.models import ActivationExample, pack_floats, unpack_floats
from features.services import dashboard_store

READ_BACK = ["feature_id", "window_id", "kind", "rank", "values", "max_value", "max_token_index", "interval_index",
             "bin_min", "bin_max", "bin_contains"]  # fmt: skip


def stored(feature_ids) -> list[tuple]:
    rows = ActivationExample.objects.filter(feature_id__in=feature_ids).order_by(
        "feature_id", "kind", "interval_index", "rank"
    )
    return [(*row[:4], bytes(row[4]), *row[5:]) for row in rows.values_list(*READ_BACK)]


def test_inserted_rows_read_back_as_bulk_created_examples(computed_run):
    feature_ids = list(ActivationExample.objects.values_list("feature_id", flat=True).distinct()[:5])
    written_by_run = stored(feature_ids)
    kinds = {row[2] for row in written_by_run}
    assert len(written_by_run) >= 15 and kinds == {"top", "interval"}

    ActivationExample.objects.filter(feature_id__in=feature_ids).delete()
    ActivationExample.objects.bulk_create(
        ActivationExample(**dict(zip(READ_BACK, row, strict=True))) for row in written_by_run
    )
    assert stored(feature_ids) == written_by_run

    ActivationExample.objects.filter(feature_id__in=feature_ids).delete()
    # Batches of 7 on SQLite, the last one short; one COPY on PostgreSQL.
    dashboard_store.rows_insert(ActivationExample, dashboard_store.EXAMPLE_FIELDS, written_by_run, batch_size=7)
    assert stored(feature_ids) == written_by_run


def test_pack_floats_packs_arrays_as_it_packs_lists():
    values = np.array([0.0, 1.5, -2.25, 3.4e-5, 7.0], dtype=np.float32)
    assert pack_floats(values) == pack_floats(values.tolist()) == struct.pack("<5f", *values.tolist())
    assert pack_floats(values[::2]) == pack_floats(values[::2].tolist())  # a strided view
    assert unpack_floats(pack_floats(values)) == values.tolist()
