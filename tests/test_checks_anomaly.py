"""Chapter 10 self-checks (anomaly detection) accept right answers and explain typical wrong ones."""

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score

from gmmlib.checks import (
    SelfCheckError,
    check_calibrate_threshold,
    check_precision_recall_at,
    check_suspicious_components,
)

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


# --- calibrate_threshold ----------------------------------------------------------------------


def _split(X_normal, share, rng, shuffle=True):
    order = rng.permutation(len(X_normal)) if shuffle else np.arange(len(X_normal))
    n_calibration = round(share * len(X_normal))
    return order[n_calibration:], order[:n_calibration]


def calibrate(X_normal, fit, percentile, calibration_share, rng):
    fit_rows, calibration_rows = _split(X_normal, calibration_share, rng)
    detector = fit(X_normal[fit_rows])
    return detector, np.percentile(detector.score_samples(X_normal[calibration_rows]), percentile)


def calibrate_with_sklearn_split(X_normal, fit, percentile, calibration_share, rng):
    from sklearn.model_selection import train_test_split

    X_fit, X_calibration = train_test_split(X_normal, test_size=calibration_share,
                                            random_state=int(rng.integers(2**31)))
    detector = fit(X_fit)
    return detector, float(np.quantile(detector.score_samples(X_calibration), percentile / 100))


@pytest.mark.parametrize("func", [calibrate, calibrate_with_sklearn_split])
def test_calibrate_accepts_right_answers(func, capsys):
    check_calibrate_threshold(func)
    assert capsys.readouterr().out.startswith("Correct!")


def _wrong_calibration(threshold_from="calibration", shuffle=True, share_for_fit=False,
                       percentile_scale=1.0, own_rng=None, top=False):
    def calibrate_threshold(X_normal, fit, percentile, calibration_share, rng):
        generator = rng if own_rng is None else own_rng()
        share = 1 - calibration_share if share_for_fit else calibration_share
        fit_rows, calibration_rows = _split(X_normal, share, generator, shuffle)
        detector = fit(X_normal[fit_rows])
        rows = {"calibration": calibration_rows, "fit": fit_rows,
                "all": np.arange(len(X_normal))}[threshold_from]
        q = 100 - percentile if top else percentile * percentile_scale
        return detector, np.percentile(detector.score_samples(X_normal[rows]), q)

    return calibrate_threshold


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threshold_from": "fit"}, "FITTED to"),
        ({"threshold_from": "all"}, "ALL the points"),
        ({"shuffle": False}, "shuffle first"),
        ({"share_for_fit": True}, "held OUT of the fit"),
        ({"percentile_scale": 0.01}, "in percent"),
        ({"top": True}, "TOP of the held-out scores"),
        ({"own_rng": lambda: np.random.default_rng()}, "split the data differently"),
        ({"own_rng": lambda: np.random.default_rng(0)}, "does not seem to use `rng`"),
    ],
    ids=["fit-scores", "all-scores", "unshuffled", "share-swapped", "fraction", "top", "unseeded",
         "own-seed"],
)
def test_calibrate_rejects_typical_mistakes(kwargs, message):
    with pytest.raises(SelfCheckError, match=message):
        check_calibrate_threshold(_wrong_calibration(**kwargs))


def test_calibrate_rejects_fitting_everything_and_other_detectors():
    def fit_all(X_normal, fit, percentile, calibration_share, rng):
        detector = fit(X_normal)
        return detector, np.percentile(detector.score_samples(X_normal), percentile)

    def refit_myself(X_normal, fit, percentile, calibration_share, rng):
        from gmmlib.anomaly import fit_detector

        fit_rows, calibration_rows = _split(X_normal, calibration_share, rng)
        fit(X_normal[fit_rows])
        detector = fit_detector(X_normal[fit_rows], 2)
        return detector, np.percentile(detector.score_samples(X_normal[calibration_rows]), 5)

    def scaled_first(X_normal, fit, percentile, calibration_share, rng):
        return calibrate(X_normal / X_normal.std(axis=0), fit, percentile, calibration_share, rng)

    with pytest.raises(SelfCheckError, match="ALL the points, so none is left"):
        check_calibrate_threshold(fit_all)
    with pytest.raises(SelfCheckError, match="not the one `fit` returned"):
        check_calibrate_threshold(refit_myself)
    with pytest.raises(SelfCheckError, match="not rows of X_normal"):
        check_calibrate_threshold(scaled_first)
    with pytest.raises(SelfCheckError, match="never called `fit`"):
        check_calibrate_threshold(lambda X, fit, p, share, rng: (None, 0.0))
    with pytest.raises(SelfCheckError, match="two things"):
        check_calibrate_threshold(lambda X, fit, p, share, rng: fit(X))


# --- suspicious_components --------------------------------------------------------------------


def suspicious(mixture, max_weight, max_size_ratio):
    sizes = np.sqrt(np.linalg.det(mixture.covariances_))
    return np.flatnonzero((mixture.weights_ < max_weight)
                          & (sizes < max_size_ratio * np.median(sizes)))


def suspicious_mask_from_log_det(mixture, max_weight, max_size_ratio):
    half_log_det = 0.5 * np.linalg.slogdet(mixture.covariances_)[1]
    tight = half_log_det < np.log(max_size_ratio) + np.median(half_log_det)
    return (mixture.weights_ < max_weight) & tight


@pytest.mark.parametrize("func", [suspicious, suspicious_mask_from_log_det,
                                  lambda m, w, r: list(reversed(suspicious(m, w, r).tolist()))])
def test_suspicious_accepts_right_answers(func, capsys):
    check_suspicious_components(func)
    assert capsys.readouterr().out.startswith("Correct!")


def _sizes(mixture, measure):
    covariances = mixture.covariances_
    return {"sqrt-det": np.sqrt(np.linalg.det(covariances)), "det": np.linalg.det(covariances),
            "trace": np.trace(covariances, axis1=1, axis2=2)}[measure]


@pytest.mark.parametrize(
    "measure, centre, combine, shift, message",
    [
        ("sqrt-det", np.median, np.logical_or, 0, "light OR tight"),
        ("det", np.median, np.logical_and, 0, "compares determinants"),
        ("sqrt-det", np.mean, np.logical_and, 0, "MEAN size"),
        ("trace", np.median, np.logical_and, 0, "trace"),
        ("sqrt-det", np.median, np.logical_and, 1, "counted from 1"),
        ("sqrt-det", np.median, lambda a, b: b, 0, "the suspicious components are"),
    ],
    ids=["or", "det", "mean", "trace", "one-based", "size-only"],
)
def test_suspicious_rejects_typical_mistakes(measure, centre, combine, shift, message):
    def suspicious_components(mixture, max_weight, max_size_ratio):
        sizes = _sizes(mixture, measure)
        flagged = combine(mixture.weights_ < max_weight, sizes < max_size_ratio * centre(sizes))
        return np.flatnonzero(flagged) + shift

    with pytest.raises(SelfCheckError, match=message):
        check_suspicious_components(suspicious_components)


def test_suspicious_rejects_masks_of_the_wrong_length_and_non_indices():
    with pytest.raises(SelfCheckError, match="one entry per component"):
        check_suspicious_components(lambda m, w, r: np.ones(3, dtype=bool))
    with pytest.raises(SelfCheckError, match="indices of the suspicious components"):
        check_suspicious_components(lambda m, w, r: "component 3")
