"""Anomaly detection with a Gaussian mixture: a scaler and a mixture in one pipeline.

- :func:`fit_detector` -- scale the training data, fit a :class:`gmmlib.GaussianMixture`, and
  return both as one scikit-learn :class:`~sklearn.pipeline.Pipeline`, whose ``score_samples``
  gives the log-density :math:`\\log p(x)` of new points in the units of the raw data's scaler.
- :func:`trimmed_refit` -- fit again without the training points that the first fit finds least
  likely (a remedy for contaminated training data, and its limits).

A point is flagged when its score is below a low percentile of the *training* scores; chapter
{ref}`ch-anomaly-detection` explains the recipe, how to judge it, and where it fails.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["fit_detector", "trimmed_refit"]


def _scaler_instance(scaler):
    """A fresh, unfitted scaler from a scaler class or a scaler instance."""
    from sklearn.base import clone

    if isinstance(scaler, type):
        return scaler()
    if hasattr(scaler, "fit") and hasattr(scaler, "transform"):
        return clone(scaler)
    raise TypeError(
        "scaler must be a scikit-learn transformer class such as StandardScaler, or an instance "
        f"such as RobustScaler(); got {scaler!r}."
    )


def fit_detector(X, n_components, scaler=None, *, random_state=0, **gmm_kwargs):
    """Fit a scaler and a Gaussian mixture to (mostly normal) training data, as one pipeline.

    The pipeline scales every feature with statistics of ``X`` alone and fits
    ``GaussianMixture(n_components, random_state=random_state, **gmm_kwargs)`` to the scaled
    data. Its ``score_samples(X_new)`` scales new points with the *training* statistics and
    returns their log-density under the mixture, the anomaly score: lower means more unusual.
    Introduced in {ref}`ch-anomaly-detection`.

    Parameters
    ----------
    X : array-like of shape (N, D)
        Training data, assumed to be (almost) all normal.
    n_components : int
        Number of mixture components :math:`K`.
    scaler : transformer class or instance, default=None
        How to scale the features, e.g. :class:`~sklearn.preprocessing.RobustScaler` or
        ``RobustScaler(quantile_range=(10, 90))``; an instance is cloned, so it is never fitted
        in place. ``None`` means :class:`~sklearn.preprocessing.StandardScaler`.
    random_state : int, RandomState or None, default=0
        Seed of the mixture's initialisation.
    **gmm_kwargs
        Further arguments of :class:`gmmlib.GaussianMixture` (``covariance_type``, ``n_init``,
        ``reg_covar``, ...).

    Returns
    -------
    sklearn.pipeline.Pipeline
        The fitted pipeline; ``detector[0]`` is the scaler, ``detector[-1]`` the mixture.

    See Also
    --------
    trimmed_refit

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.anomaly import fit_detector
    >>> rng = np.random.default_rng(0)
    >>> X_train = rng.normal(size=(300, 2))
    >>> detector = fit_detector(X_train, 1)
    >>> threshold = np.percentile(detector.score_samples(X_train), 5)
    >>> detector.score_samples([[0.0, 0.0], [6.0, 6.0]]) < threshold  # flag the far point
    array([False,  True])
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .mixture import GaussianMixture

    scaler = _scaler_instance(StandardScaler if scaler is None else scaler)
    mixture = GaussianMixture(n_components, random_state=random_state, **gmm_kwargs)
    return make_pipeline(scaler, mixture).fit(X)


def trimmed_refit(X, detector, percentile=5.0):
    """Drop the training points that ``detector`` scores lowest and fit the same pipeline again.

    The points of ``X`` whose score ``detector.score_samples(X)`` is below its ``percentile``-th
    percentile are left out, and a copy of ``detector`` with the same settings (scaler, number
    of components, covariance type, seed) is fitted to the rest. The idea: anomalies hidden in
    the training data sit in the low-density tail, and without them the refitted model stops
    stretching towards them. It cannot help when the anomalies are *dense* (a tight group that
    won a component of its own sits at high density, so trimming removes normal points instead);
    {ref}`ch-anomaly-detection` shows both cases. Introduced in {ref}`ch-anomaly-detection`.

    Parameters
    ----------
    X : array-like of shape (N, D)
        The training data ``detector`` was fitted to.
    detector : sklearn.pipeline.Pipeline
        A fitted detector, e.g. from :func:`fit_detector`. It is not changed.
    percentile : float, default=5.0
        Share of the training points to leave out, in percent (strictly between 0 and 100).

    Returns
    -------
    sklearn.pipeline.Pipeline
        A new fitted pipeline with the same settings as ``detector``. Set its threshold from
        the scores of *all* the training points, so that the false-alarm budget stays the same.

    Raises
    ------
    ValueError
        If ``percentile`` is not a number strictly between 0 and 100.

    See Also
    --------
    fit_detector

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.anomaly import fit_detector, trimmed_refit
    >>> rng = np.random.default_rng(0)
    >>> X_train = np.vstack([rng.normal(size=(285, 2)), rng.uniform(-8, 8, size=(15, 2))])
    >>> detector = fit_detector(X_train, 1)
    >>> refitted = trimmed_refit(X_train, detector)
    >>> int(refitted[0].n_samples_seen_)  # fitted to the 95 % of the points scored highest
    285
    >>> refitted[-1].n_components, type(refitted[0]).__name__  # the same settings
    (1, 'StandardScaler')
    """
    from sklearn.base import clone

    if (
        isinstance(percentile, (bool, np.bool_))
        or not isinstance(percentile, numbers.Real)
        or not 0.0 < float(percentile) < 100.0
    ):
        raise ValueError(
            "percentile is the share of training points to leave out, in percent: a number "
            f"strictly between 0 and 100 (5 means 5 %); got {percentile!r}."
        )
    scores = detector.score_samples(X)
    kept = scores >= np.percentile(scores, percentile)
    # A DataFrame stays a DataFrame, so a pipeline fitted on named columns sees the same names.
    rows = X.iloc[kept] if hasattr(X, "iloc") else np.asarray(X)[kept]
    return clone(detector).fit(rows)
