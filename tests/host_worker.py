"""A worker host for tests/hosts.py: `manage.py qcluster`, with test-only faults set by environment variables
(applied before the cluster forks its workers, so they hold in each):

TEST_MERGE_DELAY_S  the merge of an activation run waits this long after claiming the run, before writing
                    (a window in which a test kills the host mid-merge).
TEST_SHARD_DELAY_S  each shard waits this long after claiming its shard, before computing (mid-shard).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.test_settings")

import django  # noqa: E402

django.setup()

merge_delay = float(os.environ.get("TEST_MERGE_DELAY_S", "0"))
if merge_delay:
    from features.services import activation_runs

    real_finalize = activation_runs._finalize

    def slow_finalize(*args, **kwargs):
        time.sleep(merge_delay)
        return real_finalize(*args, **kwargs)

    activation_runs._finalize = slow_finalize

shard_delay = float(os.environ.get("TEST_SHARD_DELAY_S", "0"))
if shard_delay:
    from features.services import activation_runs

    real_compute = activation_runs.compute_dashboards

    def slow_compute(*args, **kwargs):
        time.sleep(shard_delay)
        return real_compute(*args, **kwargs)

    activation_runs.compute_dashboards = slow_compute

from django.core.management import execute_from_command_line  # noqa: E402

execute_from_command_line([str(Path(__file__).resolve().parent.parent / "manage.py"), "qcluster"])
