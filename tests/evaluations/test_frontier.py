"""The sparsity-fidelity frontier, the fixed feature sample and the confidence interval, checked by hand."""

import statistics

import pytest

from evaluations.core.frontier import Point, feature_sample, mean_with_interval, pareto_frontier


def test_the_frontier_keeps_only_undominated_points():
    points = [
        Point("a", 10, 0.90),
        Point("b", 20, 0.95),
        Point("c", 20, 0.93),  # as sparse as b, less faithful
        Point("d", 30, 0.94),  # less sparse than b and less faithful
        Point("e", 5, 0.80),
        Point("f", 40, 0.99),
        Point("nan", 1, float("nan")),
    ]
    assert [p.key for p in pareto_frontier(points, higher_is_better=True)] == ["e", "a", "b", "f"]


def test_with_delta_loss_lower_fidelity_figures_are_better():
    points = [Point("a", 10, 0.5), Point("b", 20, 0.2), Point("c", 30, 0.3), Point("d", 10, 0.6)]
    assert [p.key for p in pareto_frontier(points, higher_is_better=False)] == ["a", "b"]


def test_two_identical_points_are_both_on_the_frontier():
    points = [Point("a", 10, 0.5), Point("b", 10, 0.5)]
    assert {p.key for p in pareto_frontier(points, higher_is_better=True)} == {"a", "b"}


def test_the_feature_sample_is_fixed_by_its_seed():
    first = feature_sample(1000, 30, seed="gpt2/6-res")
    assert first == feature_sample(1000, 30, seed="gpt2/6-res") and len(set(first)) == 30
    assert first != feature_sample(1000, 30, seed="gpt2/7-res")
    assert feature_sample(5, 30, seed="x") == [0, 1, 2, 3, 4]


def test_the_interval_is_the_normal_one():
    values = [0.6, 0.7, 0.8, 0.9]
    interval = mean_with_interval(values)
    half = 1.96 * statistics.stdev(values) / 2
    assert interval.mean == pytest.approx(0.75)
    assert (interval.low, interval.high) == pytest.approx((0.75 - half, 0.75 + half))
    assert mean_with_interval([]) is None and mean_with_interval([0.5]).low == 0.5


def test_close_dictionaries_labels_do_not_overlap():
    from evaluations.charts import ChartEntry, _label_box, frontier_chart

    chart = frontier_chart(
        [ChartEntry("a", "1-res-topk3", "/a/", 3.0, 0.00230), ChartEntry("b", "1-res-topk8", "/b/", 4.0, 0.00232)],
        y_label="Delta loss",
        higher_is_better=False,
    )
    first, second = (_label_box(point) for point in chart.points)
    assert not (first[0] < second[2] and second[0] < first[2] and first[1] < second[3] and second[1] < first[3])
