"""Structured logs: with LOG_FORMAT=json every record is one JSON object a line (time, level, logger, message and
the fields a run's log lines carry: run_id, kind, status, event, shard, worker), for a log collector to index.
The standard library's logging does the rest; a formatter is all it needs (no dependency)."""

import json
import logging
from datetime import UTC, datetime

# The `extra` fields our log lines pass (features/services/runs.py, workers.py); others are left out, so a line
# never carries an object that JSON cannot hold.
FIELDS = ("run_id", "kind", "status", "event", "shard", "worker")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
