"""What a feature's dashboard draws: histogram bars as SVG geometry, and interval sample groups."""

from dataclasses import dataclass, field

from .models import ActivationExample

HISTOGRAM_WIDTH = 600
HISTOGRAM_HEIGHT = 120


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    low: float
    high: float
    count: int


def histogram_bars(histogram: dict | None, width: int = HISTOGRAM_WIDTH, height: int = HISTOGRAM_HEIGHT) -> list[Bar]:
    """Bars for the stored histogram {"bin_width", "counts"}, heights on a square-root scale so that
    the rare high activations stay visible next to the crowd near zero."""
    if not histogram or not histogram.get("counts"):
        return []
    counts = histogram["counts"]
    tallest = max(counts) or 1
    bar_width = width / len(counts)
    bars = []
    for position, count in enumerate(counts):
        bar_height = height * (count / tallest) ** 0.5
        bars.append(
            Bar(
                x=position * bar_width,
                y=height - bar_height,
                width=max(bar_width - 1, 1),
                height=bar_height,
                low=position * histogram["bin_width"],
                high=(position + 1) * histogram["bin_width"],
                count=count,
            )
        )
    return bars


@dataclass
class IntervalGroup:
    index: int
    low: float
    high: float
    share: float
    examples: list[ActivationExample] = field(default_factory=list)


def interval_groups(examples: list[ActivationExample]) -> list[IntervalGroup]:
    """Interval samples grouped by interval, highest interval first (as Neuronpedia shows them)."""
    groups: dict[int, IntervalGroup] = {}
    for example in examples:
        group = groups.get(example.interval_index)
        if group is None:
            group = groups[example.interval_index] = IntervalGroup(
                index=example.interval_index, low=example.bin_min, high=example.bin_max, share=example.bin_contains
            )
        group.examples.append(example)
    return sorted(groups.values(), key=lambda group: -group.index)
