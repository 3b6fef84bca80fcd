"""Chapter 9 self-checks (anomaly detection) accept right answers and explain typical wrong ones."""

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score

from gmmlib.checks import SelfCheckError, check_flag_anomalies, check_precision_recall_at

# --- flag_anomalies ---------------------------------------------------------------------------


def flag_right(train_scores, test_scores, percentile):
    return test_scores < np.percentile(train_scores, percentile)


def flag_right_quantile(train_scores, test_scores, percentile):
    return test_scores <= np.quantile(train_scores, percentile / 100)


def flag_right_as_ints(train_scores, test_scores, percentile):
    return (test_scores < np.percentile(train_scores, percentile)).astype(int)


def flag_top(train_scores, test_scores, percentile):
    return test_scores > np.percentile(train_scores, 100 - percentile)


def flag_above_threshold(train_scores, test_scores, percentile):
    return test_scores > np.percentile(train_scores, percentile)


def flag_test_percentile(train_scores, test_scores, percentile):
    return test_scores < np.percentile(test_scores, percentile)


def flag_fraction_confusion(train_scores, test_scores, percentile):
    return test_scores < np.percentile(train_scores, percentile / 100)


def flag_quantile_of_percent(train_scores, test_scores, percentile):
    return test_scores < np.quantile(train_scores, percentile)


def flag_percentile_times_100(train_scores, test_scores, percentile):
    return test_scores < np.percentile(train_scores, percentile * 100)


def flag_returns_threshold(train_scores, test_scores, percentile):
    return np.percentile(train_scores, percentile)


def flag_returns_indices(train_scores, test_scores, percentile):
    return np.flatnonzero(test_scores < np.percentile(train_scores, percentile))


def flag_not_implemented(train_scores, test_scores, percentile):
    raise NotImplementedError


@pytest.mark.parametrize("func", [flag_right, flag_right_quantile, flag_right_as_ints])
def test_flag_anomalies_accepts_right_answers(func, capsys):
    check_flag_anomalies(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, message",
    [
        (flag_top, r"HIGHEST log-densities"),
        (flag_above_threshold, r"ABOVE the threshold"),
        (flag_test_percentile, r"percentile of the TEST scores"),
        (flag_fraction_confusion, r"without dividing by 100"),
        (flag_quantile_of_percent, r"quantiles must lie between 0 and 1"),
        (flag_percentile_times_100, r"without multiplying by 100"),
        (flag_returns_threshold, r"single number \(the threshold\?\)"),
        (flag_returns_indices, r"INDICES of the flagged points"),
        (flag_not_implemented, r"not implemented yet"),
    ],
)
def test_flag_anomalies_rejects_wrong_answers(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_flag_anomalies(func)


# --- precision_recall_at ----------------------------------------------------------------------


def _counts(flags, is_anomaly):
    flags, is_anomaly = np.asarray(flags, bool), np.asarray(is_anomaly, bool)
    tp = np.sum(flags & is_anomaly)
    fp = np.sum(flags & ~is_anomaly)
    fn = np.sum(~flags & is_anomaly)
    tn = np.sum(~flags & ~is_anomaly)
    return tp, fp, fn, tn


def pr_right(flags, is_anomaly):
    tp, fp, fn, _ = _counts(flags, is_anomaly)
    return tp / (tp + fp), tp / (tp + fn)


def pr_sklearn(flags, is_anomaly):
    return precision_score(is_anomaly, flags), recall_score(is_anomaly, flags)


def pr_swapped(flags, is_anomaly):
    return pr_right(flags, is_anomaly)[::-1]


def pr_accuracy_as_precision(flags, is_anomaly):
    tp, fp, fn, tn = _counts(flags, is_anomaly)
    return (tp + tn) / (tp + fp + fn + tn), tp / (tp + fn)


def pr_specificity_as_recall(flags, is_anomaly):
    tp, fp, fn, tn = _counts(flags, is_anomaly)
    return tp / (tp + fp), tn / (tn + fp)


def pr_npv_as_precision(flags, is_anomaly):
    tp, fp, fn, tn = _counts(flags, is_anomaly)
    return tn / (tn + fn), tp / (tp + fn)


def pr_counts(flags, is_anomaly):
    tp, fp, fn, _ = _counts(flags, is_anomaly)
    return tp, tp + fp


def pr_single_number(flags, is_anomaly):
    return pr_right(flags, is_anomaly)[0]


def pr_three_numbers(flags, is_anomaly):
    return (*pr_right(flags, is_anomaly), 0.5)


@pytest.mark.parametrize("func", [pr_right, pr_sklearn])
def test_precision_recall_at_accepts_right_answers(func, capsys):
    check_precision_recall_at(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, message",
    [
        (pr_swapped, r"precision and recall are swapped"),
        (pr_accuracy_as_precision, r"your precision .* true negatives"),
        (pr_specificity_as_recall, r"your recall .* NORMAL points"),
        (pr_npv_as_precision, r"your precision .* counted negatives"),
        (pr_counts, r"not fractions between 0 and 1"),
        (pr_single_number, r"returned a single number"),
        (pr_three_numbers, r"returned 3 numbers"),
    ],
)
def test_precision_recall_at_rejects_wrong_answers(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_precision_recall_at(func)
