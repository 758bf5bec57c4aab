"""What the evaluation pages draw, as SVG geometry computed here (the templates only place it): the L0 and
log-density histograms of one dictionary, and the sparsity-fidelity chart of every dictionary on a hook."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .core.frontier import Point, pareto_frontier

BARS_WIDTH, BARS_HEIGHT = 320, 90
CHART_WIDTH, CHART_HEIGHT = 640, 380
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 16, 48  # room for the axes' ticks and labels
TICKS = 5


@dataclass
class HistogramBar:
    x: float
    y: float
    width: float
    height: float
    title: str  # what a pointer over the bar reads


def histogram_bars(
    counts: Sequence[int], titles: Sequence[str], width: int = BARS_WIDTH, height: int = BARS_HEIGHT
) -> list[HistogramBar]:
    """One bar per count, heights proportional to the count (an empty bin draws nothing)."""
    if not counts or not any(counts):
        return []
    tallest = max(counts)
    bar_width = width / len(counts)
    bars = []
    for position, (count, title) in enumerate(zip(counts, titles, strict=True)):
        bar_height = height * count / tallest
        bars.append(
            HistogramBar(
                x=position * bar_width,
                y=height - bar_height,
                width=max(bar_width - 1, 1),
                height=bar_height,
                title=title,
            )
        )
    return bars


def l0_bars(histogram: dict | None) -> list[HistogramBar]:
    if not histogram:
        return []
    edges, counts = histogram["edges"], histogram["counts"]
    titles = [
        f"L0 {low}: {count:,} tokens" if high - low == 1 else f"L0 {low} to {high - 1}: {count:,} tokens"
        for low, high, count in zip(edges, edges[1:], counts, strict=False)
    ]
    return histogram_bars(counts, titles)


def density_bars(histogram: dict | None) -> list[HistogramBar]:
    if not histogram:
        return []
    edges, counts = histogram["edges"], histogram["counts"]
    titles = [
        f"fire on 1e{low:.2f} to 1e{high:.2f} of tokens: {count:,} features"
        for low, high, count in zip(edges, edges[1:], counts, strict=False)
    ]
    return histogram_bars(counts, titles)


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class PlotPoint:
    cx: float
    cy: float
    label: str
    url: str
    title: str
    on_frontier: bool
    label_left: bool  # write its label to the left of the dot (points near the right edge)
    label_dy: float = -9  # above the dot, or below where another label already sits there


@dataclass
class FrontierChart:
    width: int
    height: int
    left: int
    top: int
    right: int  # x of the plot's right edge
    bottom: int  # y of the plot's bottom edge
    points: list[PlotPoint]
    frontier: str  # the polyline's "x,y x,y ..."
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str


@dataclass(frozen=True)
class ChartEntry:
    key: str
    label: str
    url: str
    l0: float
    fidelity: float


def _ticks(low: float, high: float) -> list[float]:
    """About TICKS round values from low to high (1, 2 or 5 times a power of ten apart)."""
    span = high - low
    raw = span / (TICKS - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _format(value: float) -> str:
    return f"{value:.4g}"


LABEL_CHAR_WIDTH, LABEL_HEIGHT = 8.5, 18  # a label's size at the chart's 14 px type, roughly


def _label_box(point: PlotPoint) -> tuple[float, float, float, float]:
    width = len(point.label) * LABEL_CHAR_WIDTH
    x = point.cx - 11 - width if point.label_left else point.cx + 11
    y = point.cy + point.label_dy - LABEL_HEIGHT
    return x, y, x + width, y + LABEL_HEIGHT


def _place_labels(points: list[PlotPoint]) -> None:
    """Move a label below its dot where it would overlap a label already placed (two close dictionaries)."""
    placed: list[tuple[float, float, float, float]] = []

    def overlaps(box) -> bool:
        return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in placed)

    for point in sorted(points, key=lambda point: (point.cy, point.cx)):
        if overlaps(_label_box(point)):
            point.label_dy = LABEL_HEIGHT + 6
        placed.append(_label_box(point))


def frontier_chart(entries: Sequence[ChartEntry], *, y_label: str, higher_is_better: bool) -> FrontierChart | None:
    """L0 across, fidelity up, every dictionary a dot linking to its page, the frontier drawn through the
    dictionaries no other beats on both; None without an entry to draw."""
    entries = [entry for entry in entries if math.isfinite(entry.l0) and math.isfinite(entry.fidelity)]
    if not entries:
        return None
    right, bottom = CHART_WIDTH - RIGHT, CHART_HEIGHT - BOTTOM
    x_values = [entry.l0 for entry in entries]
    y_values = [entry.fidelity for entry in entries]
    x_low, x_high = 0.0, max(x_values) * 1.1 or 1.0
    y_low, y_high = min(y_values), max(y_values)
    pad = (y_high - y_low) * 0.1 or abs(y_high) * 0.1 or 0.1
    y_low, y_high = y_low - pad, y_high + pad

    def x_of(value: float) -> float:
        return LEFT + (value - x_low) / (x_high - x_low) * (right - LEFT)

    def y_of(value: float) -> float:
        return bottom - (value - y_low) / (y_high - y_low) * (bottom - TOP)

    frontier = pareto_frontier(
        [Point(entry.key, entry.l0, entry.fidelity) for entry in entries], higher_is_better=higher_is_better
    )
    on_frontier = {point.key for point in frontier}
    points = [
        PlotPoint(
            cx=x_of(entry.l0),
            cy=y_of(entry.fidelity),
            label=entry.label,
            url=entry.url,
            title=f"{entry.label}: L0 {_format(entry.l0)}, {y_label.lower()} {_format(entry.fidelity)}",
            on_frontier=entry.key in on_frontier,
            label_left=x_of(entry.l0) > (LEFT + right) / 2,
        )
        for entry in entries
    ]
    _place_labels(points)
    return FrontierChart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        left=LEFT,
        top=TOP,
        right=right,
        bottom=bottom,
        points=points,
        frontier=" ".join(f"{x_of(point.x):.1f},{y_of(point.y):.1f}" for point in frontier),
        x_ticks=[Tick(x_of(value), _format(value)) for value in _ticks(x_low, x_high)],
        y_ticks=[Tick(y_of(value), _format(value)) for value in _ticks(y_low, y_high)],
        x_label="L0: features firing per token (sparser to the left)",
        y_label=y_label,
    )
