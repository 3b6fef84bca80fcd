"""Self-checks for chapter 10, {ref}`ch-anomaly-detection` ("Anomaly detection").

- :func:`check_precision_recall_at` -- precision and recall of a set of flags against the true
  anomaly labels.
- :func:`check_calibrate_threshold` -- fit a detector on part of the normal data and set its
  threshold on the other, held-out part.
- :func:`check_suspicious_components` -- find the components of a fitted mixture that have a
  small weight *and* a covariance far smaller than the others' (a tight group of anomalies that
  captured a component of its own).

Each check calls the reader's function on random inputs from a seeded generator, compares the
result with a reference, and either prints a short success message or raises
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numbers

import numpy as np

from ._core import (
    call_reader_function,
    check_rng,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_precision_recall_at", "check_calibrate_threshold", "check_suspicious_components"]


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
    fail("the check could not draw distinguishable flags; please report this.")  # pragma: no cover


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
    """Check ``precision_recall_at(flags, is_anomaly)`` from chapter 10.

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

    rng = check_rng("check_precision_recall_at")
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


# --- calibrate_threshold ----------------------------------------------------------------------


class _RecordingFit:
    """The ``fit`` passed to the reader: fits a detector and remembers what it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, X):
        from ..anomaly import fit_detector

        X = np.asarray(X, dtype=float)
        detector = fit_detector(X, 2)
        self.calls.append((X.copy(), detector))
        return detector


def _calibration_problem(rng):
    """Normal data from a random 2-D mixture, stored sorted by the first coordinate."""
    params = random_mixture(rng, 2, 2, "full")
    n_samples = int(rng.integers(150, 260))
    X = sample_mixture(rng, *params, covariance_type="full", n_samples=n_samples)[0]
    return X[np.argsort(X[:, 0])]


def _rows_used(X_normal, X_fit):
    """Indices of the rows of X_normal that X_fit holds (None if some row is not in X_normal)."""
    where = {row.tobytes(): i for i, row in enumerate(X_normal)}
    rows = [where.get(row.tobytes()) for row in np.ascontiguousarray(X_fit)]
    return None if None in rows else np.array(rows)


def _call_calibrate(func, X_normal, percentile, share, seed):
    fit = _RecordingFit()
    reader_rng = np.random.default_rng(seed)
    result = call_reader_function(func, X_normal, fit, percentile, share, reader_rng)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("your function should return two things, `detector, threshold`; it returned "
             f"{type(result).__name__}.")
    detector, threshold = result
    if len(fit.calls) == 0:
        fail("your function never called `fit`: fit the detector with `fit(X_fit)`, the function "
             "passed in, on the part of the data kept for fitting.")
    if len(fit.calls) > 1:
        fail(f"your function called `fit` {len(fit.calls)} times; fit the detector once, on the "
             "part of the data kept for fitting.")
    X_fit, fitted = fit.calls[0]
    if detector is not fitted:
        fail("the detector your function returns is not the one `fit` returned: return the "
             "fitted detector itself, so that its threshold belongs to it.")
    if np.ndim(threshold) != 0:
        fail("the threshold should be one number; your function returned an array of shape "
             f"{np.shape(threshold)}.")
    rows = _rows_used(X_normal, X_fit)
    if rows is None:
        fail("`fit` was called with points that are not rows of X_normal (scaled, or changed?). "
             "Pass it a subset of the rows of X_normal as they are.")
    return rows, fitted, float(threshold)


def check_calibrate_threshold(func):
    """Check ``calibrate_threshold(X_normal, fit, percentile, calibration_share, rng)``.

    The reader's function must split the normal data at random (with the generator ``rng``)
    into a part to fit on and a held-out calibration part of about ``calibration_share`` of the
    points, fit the detector once with ``detector = fit(X_fit)``, and return ``(detector,
    threshold)`` with ``threshold = np.percentile(detector.score_samples(X_calibration),
    percentile)``: a threshold set on points the detector has not seen, so that on new normal
    data it flags about ``percentile`` percent.

    Parameters
    ----------
    func : callable
        ``func(X_normal, fit, percentile, calibration_share, rng)``: ``X_normal`` of shape (N, D),
        ``fit`` a function that fits and returns a detector (a pipeline with ``score_samples``),
        ``percentile`` in percent, ``calibration_share`` between 0 and 1, and ``rng`` a
        :class:`numpy.random.Generator`.

    Raises
    ------
    SelfCheckError
        If the split or the threshold is wrong; the message recognises fitting on all the data,
        a split without shuffling (the check's data are stored sorted), a calibration part of the
        wrong size, a split that ignores ``rng``, a threshold from the points the detector was
        fitted to or from all points, and a percentile taken as a fraction.

    Notes
    -----
    Introduced in {ref}`ch-anomaly-detection`, Exercise ``ch10_ex3``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_calibrate_threshold
    >>> def calibrate_threshold(X_normal, fit, percentile, calibration_share, rng):
    ...     order = rng.permutation(len(X_normal))
    ...     n_calibration = round(calibration_share * len(X_normal))
    ...     detector = fit(X_normal[order[n_calibration:]])
    ...     scores = detector.score_samples(X_normal[order[:n_calibration]])
    ...     return detector, np.percentile(scores, percentile)
    >>> check_calibrate_threshold(calibrate_threshold)
    Correct! your function fits on one part of the data and sets the threshold on the other, held-out part.
    """
    rng = check_rng("check_calibrate_threshold")
    for percentile, share in [(5.0, 0.3), (10.0, 0.4)]:
        X_normal = _calibration_problem(rng)
        n = len(X_normal)
        seed = int(rng.integers(2**31))
        rows, detector, threshold = _call_calibrate(func, X_normal, percentile, share, seed)
        held_out = np.setdiff1d(np.arange(n), rows)
        if held_out.size == 0:
            fail("`fit` was given ALL the points, so none is left to set the threshold on. Keep "
                 "a calibration part out of the fit: that is the point of the exercise.")
        n_expected = n - share * n
        if abs(len(rows) - share * n) <= 1 < abs(len(rows) - n_expected):
            fail(f"`fit` was given {len(rows)} of {n} points, the calibration share "
                 f"({share:g}). calibration_share is the part held OUT of the fit: fit on the "
                 "other {:.0%}.".format(1 - share))
        if abs(len(rows) - n_expected) > 1:
            fail(f"`fit` was given {len(rows)} of {n} points; with calibration_share = {share:g} "
                 f"it should get about {n_expected:.0f}, and the other {share * n:.0f} are kept "
                 "for the threshold.")
        if np.array_equal(np.sort(rows), np.arange(len(rows))) or np.array_equal(
            np.sort(rows), np.arange(n - len(rows), n)
        ):
            fail("your split takes the first (or last) rows of X_normal as they come. Data are "
                 "often stored in some order (these are sorted by their first coordinate), so "
                 "shuffle first, e.g. `order = rng.permutation(len(X_normal))`.")
        scores_held_out = detector.score_samples(X_normal[held_out])
        expected = float(np.percentile(scores_held_out, percentile))
        if not matches(threshold, expected):
            for value, message in [
                (np.percentile(detector.score_samples(X_normal[rows]), percentile),
                 "your threshold is a percentile of the scores of the points the detector was "
                 "FITTED to, the optimistic choice this exercise is about. Take it from the "
                 "held-out calibration points."),
                (np.percentile(detector.score_samples(X_normal), percentile),
                 "your threshold is a percentile of the scores of ALL the points, fitted ones "
                 "included. Take it from the held-out calibration points only."),
                (np.percentile(scores_held_out, percentile / 100),
                 "`percentile` is in percent (5 means 5 %), but your threshold is the "
                 f"{percentile / 100:g}th percentile. Pass it to np.percentile as it is."),
                (np.percentile(scores_held_out, 100 - percentile),
                 "your threshold is at the TOP of the held-out scores. Anomalies have LOW "
                 "log-density: use the low percentile, `np.percentile(scores, percentile)`."),
            ]:
                if matches(threshold, float(value)):
                    fail(message)
            fail(f"the threshold is {threshold:.6g}, but the {percentile:g}th percentile of the "
                 f"held-out points' scores is {expected:.6g}.")
        same_rows, _, _ = _call_calibrate(func, X_normal, percentile, share, seed)
        if not np.array_equal(np.sort(same_rows), np.sort(rows)):
            fail("called twice with generators of the same seed, your function split the data "
                 "differently: draw the split from the generator `rng` passed in, so that the "
                 "result is reproducible.")
        other_rows, _, _ = _call_calibrate(func, X_normal, percentile, share, seed + 1)
        if np.array_equal(np.sort(other_rows), np.sort(rows)):
            fail("with generators of different seeds your function makes the same split: it "
                 "does not seem to use `rng`. Draw the permutation from it, "
                 "`rng.permutation(len(X_normal))`.")
    passed("your function fits on one part of the data and sets the threshold on the other, "
           "held-out part.")


# --- suspicious_components --------------------------------------------------------------------


class _FittedMixture:
    """Just the fitted attributes of a full-covariance mixture that the exercise uses."""

    covariance_type = "full"

    def __init__(self, weights, means, covariances):
        self.weights_, self.means_, self.covariances_ = weights, means, covariances
        self.n_components = len(weights)

    def __repr__(self):
        return f"<a fitted mixture with {self.n_components} full-covariance components>"


def _covariance_of_size(rng, n_features, size, elongation=1.0):
    """A random covariance with sqrt(det) = size; elongation stretches one axis against another."""
    q, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    scales = np.exp(rng.uniform(-0.3, 0.3, n_features))
    scales[0] *= elongation
    scales[-1] /= elongation
    scales *= size ** (1 / n_features) / np.prod(scales) ** (1 / n_features)
    return (q * scales**2) @ q.T


def _suspicious_problem(rng, n_features, max_weight, max_ratio):
    """A mixture with light, tight components (suspicious) and near misses for each mistake:
    light but of ordinary size, tight but heavy, one whose det (not sqrt det) is below the ratio,
    one that the mean (not the median) size would catch, and a thin, long one (small det, large
    trace)."""
    light, heavy = 0.4 * max_weight, 2.0 * max_weight
    ordinary = [0.9, 1.0, 1.05, 1.1, 1.2]
    median = float(np.median(ordinary + [1.0, 10.0] + [0.0] * 5))  # the traps sit below it
    # (size, weight, elongation) of every component
    components = [(size, heavy, 1.0) for size in ordinary] + [
        (1.0, light, 1.0),                                  # light, ordinary size
        (10.0, heavy, 1.0),                                 # huge: lifts the mean size
        (0.2 * max_ratio * median, light, 1.0),             # light and tight: suspicious
        (0.3 * max_ratio * median, heavy, 1.0),             # tight but heavy
        (0.8 * np.sqrt(max_ratio) * median, light, 1.0),    # tight only by det, not sqrt det
        (1.2 * max_ratio * median, light, 1.0),             # tight only against the mean size
        (0.5 * max_ratio * median, light, 12.0),            # thin and long: suspicious
    ]
    order = rng.permutation(len(components))
    sizes, weights, elongations = (np.array(column)[order] for column in zip(*components))
    covariances = np.array([_covariance_of_size(rng, n_features, size, elongation)
                            for size, elongation in zip(sizes, elongations)])
    weights = weights / weights.sum() * (1.0 - 1e-9) + 1e-9 / len(weights)  # sum to 1
    means = 3.0 * rng.standard_normal((len(weights), n_features))
    return _FittedMixture(weights, means, covariances)


def _component_sizes(covariances):
    return np.sqrt(np.linalg.det(covariances))


def _flagged(weights, sizes, reference, max_weight, max_ratio):
    return np.flatnonzero((weights < max_weight) & (sizes < max_ratio * reference))


def check_suspicious_components(func):
    """Check ``suspicious_components(mixture, max_weight, max_size_ratio) -> indices``.

    A component is suspicious when its weight :math:`\\pi_k` is below ``max_weight`` *and* its
    size :math:`\\sqrt{\\det\\Sigma_k}` is below ``max_size_ratio`` times the median size of
    all the components: a tight group that captured a component of its own. The function must
    return the indices :math:`k` of the suspicious components, in increasing order (an empty list
    when there are none); a boolean mask of length :math:`K` is accepted too.

    Parameters
    ----------
    func : callable
        ``func(mixture, max_weight, max_size_ratio)`` with a fitted full-covariance mixture
        (``weights_`` of shape (K,), ``covariances_`` of shape (K, D, D)).

    Raises
    ------
    SelfCheckError
        If the indices are wrong; the message recognises "or" instead of "and", the determinant
        instead of its square root, the mean size instead of the median, the trace instead of
        the determinant, and indices counted from 1.

    Notes
    -----
    Introduced in {ref}`ch-anomaly-detection`, Exercise ``ch10_ex4``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_suspicious_components
    >>> def suspicious_components(mixture, max_weight, max_size_ratio):
    ...     sizes = np.sqrt(np.linalg.det(mixture.covariances_))
    ...     small = sizes < max_size_ratio * np.median(sizes)
    ...     return np.flatnonzero((mixture.weights_ < max_weight) & small)
    >>> check_suspicious_components(suspicious_components)
    Correct! your function finds the light, tight components (and only those) in 2 and 3 dimensions.
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    rng = check_rng("check_suspicious_components")
    for n_features, max_weight, max_ratio in [(2, 0.06, 0.1), (3, 0.08, 0.15)]:
        mixture = _suspicious_problem(rng, n_features, max_weight, max_ratio)
        weights, covariances = mixture.weights_, mixture.covariances_
        sizes = _component_sizes(covariances)
        expected = _flagged(weights, sizes, np.median(sizes), max_weight, max_ratio)
        result = call_reader_function(func, mixture, max_weight, max_ratio)
        got = np.asarray(result)
        n_components = len(weights)
        if got.dtype == bool:
            if got.shape != (n_components,):
                fail(f"`{name}` returned a boolean array of shape {got.shape}; a mask needs one "
                     f"entry per component, shape ({n_components},). (Or return the indices.)")
            got = np.flatnonzero(got)
        try:
            got = np.sort(np.asarray(got, dtype=int).ravel())
        except (TypeError, ValueError):
            fail(f"`{name}` should return the indices of the suspicious components, e.g. "
                 f"[2, 5]; it returned {result!r}.")
        if np.array_equal(got, expected):
            continue
        either = np.flatnonzero((weights < max_weight) | (sizes < max_ratio * np.median(sizes)))
        traces = np.trace(covariances, axis1=1, axis2=2)
        dets = np.linalg.det(covariances)
        for value, message in [
            (expected + 1, "the right components, counted from 1. Python counts from 0: "
             f"return {expected.tolist()}."),
            (either, "it flags components that are light OR tight. A component is suspicious "
             "when it is both: its weight is small AND its covariance is small."),
            (_flagged(weights, dets, np.median(dets), max_weight, max_ratio),
             "it compares determinants det(Sigma_k). The size of a component is sqrt(det "
             "Sigma_k) (the area or volume of its ellipse, up to a constant); comparing "
             "determinants squares every ratio, so it catches components that are not that "
             "small."),
            (_flagged(weights, sizes, np.mean(sizes), max_weight, max_ratio),
             "it compares with the MEAN size. One huge component lifts the mean, so compare "
             "with the median, which a few odd components cannot move."),
            (_flagged(weights, traces, np.median(traces), max_weight, max_ratio),
             "it measures size by the trace of Sigma_k. A thin, long component has a large "
             "trace but a tiny sqrt(det Sigma_k): use the determinant's square root."),
        ]:
            if np.array_equal(got, np.sort(value)):
                fail(f"`{name}` is not right: {message}")
        fail(f"`{name}` returned {got.tolist()}, but the suspicious components are "
             f"{expected.tolist()} (weights {np.round(weights[expected], 3).tolist()}, sizes "
             f"{np.round(sizes[expected], 4).tolist()} against a median size of "
             f"{np.median(sizes):.3g}).")
    passed("your function finds the light, tight components (and only those) in 2 and 3 "
           "dimensions.")
