"""Reads for the score pages: a stored score's per-example breakdown, ready to render."""

from dataclasses import dataclass, field

from features.core.highlighting import TokenSpan, token_spans
from features.models import ContextWindow

from .models import ExplanationScore

KIND_LABELS = {
    "top": "Top example",
    "interval": "Interval sample",
    "random": "Random window",
    "hard_negative": "Hard negative",
}


@dataclass
class BreakdownRow:
    kind: str
    index: int
    spans: list[TokenSpan]
    fires: bool | None  # whether the window (or the marked tokens) really fire
    answer: str  # what the simulator/judge said, in words
    correct: bool | None  # None where the scorer has no right or wrong for one example
    predicted_spans: list[TokenSpan] = field(default_factory=list)  # simulation: its guess, highlighted
    marked: list[str] = field(default_factory=list)  # fuzzing: the tokens it was asked about
    place: str = ""  # a dense feature's span: where in its window it was cut

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass
class Breakdown:
    rows: list[BreakdownRow]
    summary: list[tuple[str, int, int]]  # (kind label, right, of how many)
    missing_windows: int  # examples whose stored window is gone (their rows show no tokens)


def score_for_page(*, explanation_pk: int, score_pk: int) -> ExplanationScore | None:
    return (
        ExplanationScore.objects.select_related(
            "explanation__feature__source__model", "revision", "explanation__current_revision"
        )
        .filter(pk=score_pk, explanation_id=explanation_pk)
        .first()
    )


def _values(shown: dict, length: int) -> list[float]:
    sparse = shown.get("values") or {}
    return [float(sparse.get(str(position), 0.0)) for position in range(length)]


def score_breakdown(score: ExplanationScore) -> Breakdown:
    """Every example the scorer saw, with its tokens highlighted by the feature's true activations, what
    the simulator or judge answered, and whether that was right."""
    details = score.details or {}
    shown = details.get("shown") or {}
    rows_in = details.get("examples") or []
    window_ids = {entry.get("window") for entry in shown.values() if entry.get("window")}
    windows = ContextWindow.objects.only("pk", "tokens").in_bulk(list(window_ids))
    true_maxes = [row.get("true_max") or 0.0 for row in rows_in if row.get("kind") == "top"]
    scale = score.explanation.feature.max_activation or max(true_maxes, default=0.0) or 1.0
    threshold = details.get("threshold")
    if threshold is None:
        threshold = 0.1 * scale
    rows, missing = [], 0
    for row in rows_in:
        entry = shown.get(f"{row.get('kind')}:{row.get('index')}") or {}
        window = windows.get(entry.get("window"))
        tokens = list(window.tokens) if window else []
        if "start" in entry:  # a span of the window (a dense feature's example)
            tokens = tokens[entry["start"] : entry["start"] + entry.get("length", len(tokens))]
        if not window:
            missing += 1
        values = _values(entry, len(tokens))
        peak = max(range(len(values)), key=values.__getitem__) if values else None
        spans = token_spans(tokens, values, scale=scale, max_index=peak)
        breakdown_row = _row(score.scorer, row, spans, tokens, float(threshold))
        if "start" in entry and window:
            start = entry["start"]
            breakdown_row.place = f"tokens {start + 1}–{start + len(tokens)} of {len(window.tokens)} in its window"
        rows.append(breakdown_row)
    summary = {}
    for row in rows:
        if row.correct is None:
            continue
        right, total = summary.get(row.kind_label, (0, 0))
        summary[row.kind_label] = (right + int(row.correct), total + 1)
    return Breakdown(
        rows=rows,
        summary=[(label, right, total) for label, (right, total) in summary.items()],
        missing_windows=missing,
    )


def _row(scorer: str, row: dict, spans: list[TokenSpan], tokens: list[str], threshold: float) -> BreakdownRow:
    kind, index = row.get("kind", ""), row.get("index", 0)
    if scorer == "simulation":
        predicted = row.get("predicted") or []
        fires = (row.get("true_max") or 0.0) > threshold
        guessed = (row.get("predicted_max") or 0.0) >= 1
        correlation = row.get("correlation")
        answer = f"simulated max {row.get('predicted_max')} of 10" + (
            f", correlation {correlation:.3f}" if correlation is not None else ", correlation undefined"
        )
        predicted_spans = token_spans(tokens, predicted[: len(tokens)], scale=10.0, max_index=None) if tokens else []
        return BreakdownRow(kind, index, spans, fires, answer, guessed == fires, predicted_spans=predicted_spans)
    if scorer in ("detection", "fuzzing"):
        marked = [tokens[i] for i in row.get("marked", []) if i < len(tokens)] if scorer == "fuzzing" else []
        probability = row.get("probability")
        answer = f"p = {probability:.2f}" if probability is not None else ""
        if scorer == "fuzzing":
            answer += f" that the marked tokens ({row.get('marking', '')}) fit"
        else:
            answer += " that the window fits"
        return BreakdownRow(kind, index, spans, row.get("label"), answer, row.get("correct"), marked=marked)
    if scorer == "embedding":
        answer = f"similarity {row.get('similarity', 0):.3f}"
        return BreakdownRow(kind, index, spans, row.get("label"), answer, None)
    if scorer == "rule":
        answer = (
            f"{row.get('true_positives', 0)} right, {row.get('false_positives', 0)} false alarms, "
            f"{row.get('false_negatives', 0)} missed"
        )
        return BreakdownRow(kind, index, spans, None, answer, row.get("correct"))
    return BreakdownRow(kind, index, spans, None, "", None)
