"""Self-checks for chapter 9, {ref}`ch-anomaly-detection` ("Anomaly detection").

- :func:`check_flag_anomalies` -- flag the test points whose log-density is below a percentile
  of the *training* log-densities.
- :func:`check_precision_recall_at` -- precision and recall of a set of flags against the true
  anomaly labels.

Both call the reader's function on fresh random inputs (new scores, sizes and percentiles every
time), compare the result with a reference, and either print a short success message or raise
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numbers

import numpy as np

from ._core import SelfCheckError, call_reader_function, check_shape, fail, passed

__all__ = ["check_flag_anomalies", "check_precision_recall_at"]


# --- flag_anomalies ---------------------------------------------------------------------------


def _random_scores(rng):
    """Training and test log-densities whose distributions clearly differ.

    The training scores are those of normal points; the test set mixes normal points with many
    anomalies (much lower log-densities), so a percentile of the test scores is far from the same
    percentile of the training scores.
    """
    n_train = int(rng.integers(80, 300))
    n_normal, n_anomalous = int(rng.integers(30, 80)), int(rng.integers(20, 50))
    centre = rng.uniform(-6.0, -1.0)
    train = centre + rng.standard_normal(n_train)
    test = np.concatenate(
        [
            centre + rng.standard_normal(n_normal),
            centre - 5.0 + 1.5 * rng.standard_normal(n_anomalous),
        ]
    )
    return train, rng.permutation(test)


def _as_flags(result, n_test):
    """The reader's result as a boolean array of shape (n_test,), or a SelfCheckError."""
    if isinstance(result, numbers.Real) or (isinstance(result, np.ndarray) and result.ndim == 0):
        fail(
            "your function returned a single number (the threshold?). It should return one "
            f"True/False flag per test point, an array of shape ({n_test},): compare "
            "`test_scores` with the threshold, e.g. `test_scores < threshold`."
        )
    arr = np.asarray(result)
    if arr.ndim == 1 and arr.shape[0] != n_test and np.issubdtype(arr.dtype, np.integer):
        fail(
            f"your function returned {arr.shape[0]} integers for {n_test} test points: they look "
            "like the INDICES of the flagged points (as `np.where` or `np.flatnonzero` give). "
            "Return the boolean mask itself, one True/False per test point."
        )
    check_shape("the flags", arr, (n_test,))
    if arr.dtype != bool:
        values = np.unique(arr)
        if not np.all(np.isin(values, [0, 1])):
            fail(
                "the flags should be True/False (True = anomaly), but your array holds other "
                f"values, e.g. {values[:3].tolist()}. Did you return the scores instead of "
                "comparing them with the threshold?"
            )
        arr = arr.astype(bool)
    return arr


def check_flag_anomalies(flag_anomalies):
    """Check ``flag_anomalies(train_scores, test_scores, percentile)`` from chapter 9.

    The reader's function should return a boolean array with one entry per test point, True
    where ``test_scores`` lies below ``np.percentile(train_scores, percentile)``: the threshold
    comes from the *training* log-densities, ``percentile`` is in percent (5 means 5 %), and the
    *lowest* log-densities are the anomalies.

    Parameters
    ----------
    flag_anomalies : callable
        The reader's function ``flag_anomalies(train_scores, test_scores, percentile) -> ndarray
        of bool, shape (n_test,)``.

    Raises
    ------
    SelfCheckError
        If the result has the wrong type or shape, or flags the wrong points; the message
        recognises flagging the highest instead of the lowest scores, a threshold computed from
        the test scores, and ``percentile`` treated as a fraction (or a fraction as a percent).
    """
    rng = np.random.default_rng()
    percentiles = rng.permutation([2.0, 5.0, 10.0, 20.0])[:3]
    for percentile in percentiles:
        percentile = float(percentile)
        train, test = _random_scores(rng)
        threshold = np.percentile(train, percentile)
        expected = test < threshold
        try:
            result = call_reader_function(flag_anomalies, train, test, percentile)
        except SelfCheckError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValueError) and "range [0, 1]" in str(cause):
                fail(
                    f"your function asked NumPy for the quantile {percentile:g} and NumPy "
                    "refused (quantiles must lie between 0 and 1). `percentile` is given in "
                    f"percent ({percentile:g} means {percentile:g} %): use "
                    "`np.percentile(train_scores, percentile)`, or "
                    "`np.quantile(train_scores, percentile / 100)`."
                )
            if isinstance(cause, ValueError) and "range [0, 100]" in str(cause):
                fail(
                    "your function asked NumPy for a percentile above 100 and NumPy refused. "
                    f"`percentile` is already in percent ({percentile:g} means {percentile:g} %): "
                    "pass it to `np.percentile` as it is, without multiplying by 100."
                )
            raise
        got = _as_flags(result, test.shape[0])
        if np.array_equal(got, expected):
            continue
        guesses = [
            (
                test > np.percentile(train, 100 - percentile),
                "you flagged the points with the HIGHEST log-densities. Anomalies are the "
                "points the model finds unlikely: flag `test_scores` BELOW the threshold.",
            ),
            (
                ~expected,
                "your flags are exactly the opposite of the right ones: you flagged the points "
                "ABOVE the threshold. Anomalies have LOW log-density: use `test_scores < "
                "threshold`.",
            ),
            (
                test < np.percentile(test, percentile),
                "your threshold is a percentile of the TEST scores. It must come from the "
                "training scores (the normal data the model was fitted to): "
                "`np.percentile(train_scores, percentile)`. A percentile of the test scores "
                "always flags the same share of the test set, however many anomalies it holds.",
            ),
            (
                test < np.percentile(train, percentile / 100),
                f"you flagged far too few points: your threshold is the {percentile / 100:g}th "
                f"percentile, not the {percentile:g}th. `percentile` is already in percent "
                f"({percentile:g} means {percentile:g} %): pass it to `np.percentile` as it is, "
                "without dividing by 100.",
            ),
        ]
        for guess, message in guesses:
            if np.array_equal(got, guess):
                fail(message)
        n_wrong = int(np.sum(got != expected))
        fail(
            f"{n_wrong} of {expected.size} flags are wrong (percentile = {percentile:g}). Compute "
            "the threshold `np.percentile(train_scores, percentile)` and flag "
            "`test_scores < threshold`."
        )
    passed(
        "on 3 fresh sets of scores, with 3 different percentiles, your function flagged exactly "
        "the test points below the percentile of the training scores."
    )


# --- precision_recall_at ----------------------------------------------------------------------


def _precision_recall_variants(flags, is_anomaly):
    tp = int(np.sum(flags & is_anomaly))
    fp = int(np.sum(flags & ~is_anomaly))
    fn = int(np.sum(~flags & is_anomaly))
    tn = int(np.sum(~flags & ~is_anomaly))
    n = flags.size
    return {
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "accuracy": (tp + tn) / n,
        "specificity": tn / (tn + fp),
        "npv": tn / (tn + fn),
        "tp_over_n": tp / n,
        "flag_rate": (tp + fp) / n,
    }


def _random_flags(rng):
    """Labels and flags on which every common mistake gives a different answer."""
    for _ in range(100):
        n = int(rng.integers(40, 200))
        is_anomaly = rng.random(n) < rng.uniform(0.1, 0.3)
        # a decent but imperfect detector: catches most anomalies, flags a few normal points
        flags = np.where(is_anomaly, rng.random(n) < 0.7, rng.random(n) < 0.08)
        if not (flags & is_anomaly).any() or (~flags & is_anomaly).sum() == 0:
            continue
        if (flags & ~is_anomaly).sum() == 0:
            continue
        values = np.array(list(_precision_recall_variants(flags, is_anomaly).values()))
        gaps = np.abs(values[:, None] - values[None, :])[np.triu_indices(values.size, 1)]
        if gaps.min() > 1e-3:
            return flags, is_anomaly
    raise RuntimeError("could not draw distinguishable flags")  # pragma: no cover


_WHAT_IT_IS = {
    "accuracy": (
        "it is the share of ALL points that were judged correctly, (TP + TN) / N: you counted "
        "the correctly unflagged normal points (true negatives) as hits. Precision and recall "
        "ignore true negatives."
    ),
    "specificity": (
        "it is the share of the NORMAL points that were left unflagged, TN / (TN + FP): you "
        "computed it for the normal points (the negatives) instead of the anomalies."
    ),
    "npv": (
        "it is the share of the unflagged points that are normal, TN / (TN + FN): you counted "
        "negatives (unflagged normal points) instead of true anomalies among the flags."
    ),
    "tp_over_n": (
        "it is the number of correctly flagged anomalies divided by ALL points; divide by the "
        "number of flagged points (precision) or of true anomalies (recall) instead."
    ),
    "flag_rate": (
        "it is the share of all points that were flagged, not how many of them are right."
    ),
}


def check_precision_recall_at(precision_recall_at):
    """Check ``precision_recall_at(flags, is_anomaly)`` from chapter 9.

    The reader's function should return the pair ``(precision, recall)``: with TP the flagged
    anomalies, FP the flagged normal points and FN the missed anomalies, precision =
    TP / (TP + FP) and recall = TP / (TP + FN). The check draws fresh boolean flags and labels
    (with at least one flag and one anomaly) and compares with
    :func:`sklearn.metrics.precision_score` and :func:`sklearn.metrics.recall_score`.

    Parameters
    ----------
    precision_recall_at : callable
        The reader's function ``precision_recall_at(flags, is_anomaly) -> (precision, recall)``;
        both arguments are boolean arrays of shape (N,), True meaning "flagged" and "really an
        anomaly".

    Raises
    ------
    SelfCheckError
        If the result is not a pair of numbers or a value is wrong; the message recognises
        swapped precision and recall, accuracy (counting true negatives), measures computed on
        the negatives, and division by the number of all points.
    """
    from sklearn.metrics import precision_score, recall_score

    rng = np.random.default_rng()
    for _ in range(3):
        flags, is_anomaly = _random_flags(rng)
        variants = _precision_recall_variants(flags, is_anomaly)
        expected = (
            float(precision_score(is_anomaly, flags)),
            float(recall_score(is_anomaly, flags)),
        )
        result = call_reader_function(precision_recall_at, flags, is_anomaly)
        if isinstance(result, numbers.Real) or (
            isinstance(result, np.ndarray) and result.ndim == 0
        ):
            fail(
                "your function returned a single number; it should return two, the pair "
                "`(precision, recall)`."
            )
        try:
            got = np.asarray(result, dtype=float).ravel()
        except (TypeError, ValueError):
            fail(
                "your function should return the pair `(precision, recall)` of numbers, but "
                f"its result ({type(result).__name__}) cannot be read as two numbers."
            )
        if got.size != 2:
            fail(
                f"your function returned {got.size} numbers; it should return exactly two, "
                "`(precision, recall)`, in that order."
            )
        if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
            continue
        if np.allclose(got, expected[::-1], rtol=1e-9, atol=1e-12):
            fail(
                "precision and recall are swapped. Precision = TP / (TP + FP) is the share of "
                "the FLAGGED points that are real anomalies; recall = TP / (TP + FN) is the "
                "share of the REAL anomalies that were flagged. Return `(precision, recall)`."
            )
        if np.any(got > 1 + 1e-12) or np.any(got < -1e-12):
            fail(
                f"your values {np.round(got, 4).tolist()} are not fractions between 0 and 1: did "
                "you return counts (e.g. the number of true positives) instead of dividing?"
            )
        for position, name in enumerate(("precision", "recall")):
            value = got[position]
            if np.isclose(value, expected[position], rtol=1e-9, atol=1e-12):
                continue
            for key, explanation in _WHAT_IT_IS.items():
                if np.isclose(value, variants[key], rtol=1e-9, atol=1e-12):
                    fail(f"your {name} ({value:.4f}) is not right: {explanation}")
            other = "recall" if name == "precision" else "precision"
            if np.isclose(value, variants[other], rtol=1e-9, atol=1e-12):
                fail(
                    f"your {name} ({value:.4f}) is actually the {other}. Precision = TP / (TP + "
                    "FP) divides by the number of FLAGGED points, recall = TP / (TP + FN) by the "
                    "number of REAL anomalies."
                )
            formula = "TP / (TP + FP)" if name == "precision" else "TP / (TP + FN)"
            fail(
                f"your {name} is {value:.4f} but should be {expected[position]:.4f} "
                f"({name} = {formula}, where TP counts flagged real anomalies)."
            )
    passed(
        "on 3 fresh sets of flags and labels your precision and recall match scikit-learn's "
        "precision_score and recall_score."
    )
