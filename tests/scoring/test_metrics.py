import numpy as np
import pytest

from scoring.core.metrics import average_ranks, balanced_accuracy, pearson, precision_recall_f1, roc_auc, spearman


def test_pearson_equals_numpy_on_ordinary_data():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_pearson_is_undefined_for_constant_inputs_rather_than_nan():
    assert pearson([0, 0, 0], [1, 2, 3]) is None
    assert pearson([1, 2, 3], [5, 5, 5]) is None
    assert pearson([1], [1]) is None


def test_pearson_refuses_unequal_lengths():
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])


def test_balanced_accuracy_averages_the_two_rates():
    labels = [True, True, True, True, False, False]
    predictions = [True, True, True, False, True, False]
    assert balanced_accuracy(labels, predictions) == pytest.approx((3 / 4 + 1 / 2) / 2)


def test_balanced_accuracy_is_undefined_with_one_class():
    assert balanced_accuracy([True, True], [True, False]) is None


def test_roc_auc_counts_ties_as_half_and_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    labels = rng.random(200) < 0.3
    scores = rng.integers(0, 4, size=200)  # many ties
    assert roc_auc(labels, scores) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))
    assert roc_auc([True, False], [0.5, 0.5]) == 0.5
    assert roc_auc([True, False], [1.0, 0.0]) == 1.0
    assert roc_auc([True, True], [1.0, 0.0]) is None


def test_average_ranks_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    assert average_ranks(values).tolist() == stats.rankdata(values).tolist()


def test_spearman_matches_scipy_with_ties_and_is_none_on_a_constant():
    stats = pytest.importorskip("scipy.stats")
    x = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    y = [2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4]
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert spearman([0.3, 0.1, 0.2], [1, 0, 0]) == pytest.approx(stats.spearmanr([0.3, 0.1, 0.2], [1, 0, 0]).statistic)
    assert spearman([0.5, 0.5, 0.5], [1, 0, 0]) is None


def test_precision_recall_and_f1_are_exact_and_zero_when_nothing_is_predicted():
    labels = [True, True, False, False, True]
    predictions = [True, False, True, False, True]
    precision, recall, f1 = precision_recall_f1(labels, predictions)
    assert (precision, recall) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert f1 == pytest.approx(2 / 3)
    assert precision_recall_f1([True, False], [False, False]) == (0.0, 0.0, 0.0)
