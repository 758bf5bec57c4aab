"""The line loop shared by the `score_explanations` and `explain` commands: one JSON object per line in,
one per line out. A bad line becomes an error line naming it and the rest are still processed."""

import json
import math
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from scoring.core.errors import LLMError, ScoringInputError


class FatalLineError(Exception):
    """Stops the whole file: the next line would fail the same way (no credit, bad key, server down)."""


@dataclass
class LineCounts:
    ok: int = 0
    failed: int = 0


@contextmanager
def open_text(path: str, mode: str):
    """A file, or stdin/stdout for '-'."""
    if path == "-":
        yield sys.stdin if "r" in mode else sys.stdout
        return
    with Path(path).open(mode, encoding="utf-8") as handle:
        yield handle


def _finite(value: Any) -> Any:
    # json.dumps would write NaN, which is not JSON; a scorer's None already marks what is undefined.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def run_jsonl(
    source: TextIO,
    sink: TextIO,
    handle_line: Callable[[dict], dict],
    *,
    report_error: Callable[[str], None],
    expected_errors: tuple[type[Exception], ...] = (ScoringInputError,),
) -> LineCounts:
    counts = LineCounts()
    for number, text in enumerate(source, start=1):
        if not text.strip():
            continue
        try:
            try:
                line = json.loads(text)
            except json.JSONDecodeError as error:
                raise ScoringInputError(f"not valid JSON ({error})") from error
            if not isinstance(line, dict):
                raise ScoringInputError("expected a JSON object")
            output = handle_line(line)
        except LLMError as error:
            _write_error(sink, number, str(error), report_error, counts)
            if error.fatal:
                raise FatalLineError(f"line {number}: {error}") from error
            continue
        except expected_errors as error:
            _write_error(sink, number, str(error), report_error, counts)
            continue
        sink.write(json.dumps(_finite(output), ensure_ascii=False) + "\n")
        counts.ok += 1
    return counts


def _write_error(sink: TextIO, number: int, message: str, report_error: Callable[[str], None], counts: LineCounts):
    sink.write(json.dumps({"line": number, "error": message}, ensure_ascii=False) + "\n")
    report_error(f"line {number}: {message}")
    counts.failed += 1
