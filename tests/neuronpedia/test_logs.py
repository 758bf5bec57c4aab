"""Structured logs (neuronpedia/logs.py): a run's transitions are logged with its id, kind, status and event,
and LOG_FORMAT=json writes each record as one JSON object."""

import json
import logging
import sys

import pytest

from features.models import PipelineRun
from features.services.runs import run_fail, run_succeed
from neuronpedia.logs import JsonFormatter


@pytest.mark.django_db
def test_a_runs_end_is_logged_with_its_fields_and_formats_as_one_json_object(caplog):
    failed = PipelineRun.objects.create(kind=PipelineRun.Kind.SCORING, params={"sync": True})
    succeeded = PipelineRun.objects.create(kind=PipelineRun.Kind.ACTIVATIONS, params={"sync": True})
    with caplog.at_level(logging.INFO, logger="features.services.runs"):
        run_fail(run=failed, error="The corpus file is gone: /data/x.txt")
        run_succeed(run=succeeded, message="Done: 2 source(s)")

    lines = [json.loads(JsonFormatter().format(record)) for record in caplog.records]
    ends = [(line["run_id"], line["kind"], line["status"], line["event"]) for line in lines]
    assert ends == [(failed.pk, "scoring", "failed", "failed"), (succeeded.pk, "activations", "succeeded", "succeeded")]
    assert lines[0]["level"] == "WARNING" and "The corpus file is gone" in lines[0]["message"]
    assert lines[1]["logger"] == "features.services.runs" and lines[1]["time"].endswith("+00:00")


def test_a_record_without_run_fields_and_with_an_exception_still_formats():
    try:
        raise ValueError("bad window")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here" and "run_id" not in line
    assert "ValueError: bad window" in line["exception"]
