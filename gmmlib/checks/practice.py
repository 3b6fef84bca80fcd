"""Self-checks for chapter 5, {ref}`ch-em-in-practice` ("EM in practice").

- :func:`check_best_of_n_init` -- run EM once per seed and keep the run with the highest
  log-likelihood (what ``n_init`` does inside :class:`gmmlib.GaussianMixture`).
- :func:`check_standardize` -- standardise every feature: subtract its mean, divide by its
  standard deviation (what :class:`sklearn.preprocessing.StandardScaler` does).

Both call the reader's function on fresh random inputs (a new data set, size and number of
features every time), compare the result with a reference, and either print a short success
message or raise :class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..mixture import GaussianMixture
from ._core import call_reader_function, check_close, check_shape, fail, passed, random_mixture
from ._core import sample_mixture

__all__ = ["check_best_of_n_init", "check_standardize"]

_TOL = 1e-8


def _fit_one(X, n_components, seed):
    """The reference run: one EM run from ``init_params="random_from_data"`` with ``seed``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            n_components, init_params="random_from_data", random_state=seed
        ).fit(X)


def _data_with_local_optima(rng):
    """Data, K, seeds and reference runs where the runs end at clearly different log-likelihoods.

    The seeds are ordered so that the first and the last run are neither the best nor the worst
    one: a function that keeps the first, the last or the worst run can then be told apart.
    """
    for _ in range(20):
        n_components = int(rng.integers(3, 5))
        weights, means, covariances = random_mixture(rng, n_components + 1, 2, "full")
        X = sample_mixture(rng, weights, means, covariances, "full", int(rng.integers(80, 140)))[0]
        seeds = [int(s) for s in rng.choice(10_000, size=int(rng.integers(5, 8)), replace=False)]
        runs = [_fit_one(X, n_components, seed) for seed in seeds]
        bounds = np.array([run.lower_bound_ for run in runs])
        # keep one run per distinct optimum, from the worst to the best
        order = np.argsort(bounds)
        distinct = [order[0]]
        for i in order[1:]:
            if bounds[i] - bounds[distinct[-1]] > 1e-4:
                distinct.append(i)
        if len(distinct) < 4:
            continue
        worst, first, last, best = distinct[0], distinct[1], distinct[-2], distinct[-1]
        others = [i for i in range(len(runs)) if i not in (worst, first, last, best)]
        arranged = [first, worst, *others, best, last]
        return X, n_components, [seeds[i] for i in arranged], [runs[i] for i in arranged]
    raise RuntimeError("could not draw a data set with distinct local optima")  # pragma: no cover


def check_best_of_n_init(best_of_n_init):
    """Check ``best_of_n_init(X, n_components, seeds)`` from the exercises of chapter 5.

    The reader's function should fit one ``GaussianMixture(n_components,
    init_params="random_from_data", random_state=seed)`` per seed and return the fitted model
    whose (mean per-sample) log-likelihood is highest. The check draws a fresh 2-D data set on
    which the runs end in different local optima and compares the returned model with the best
    of the reference runs.

    Parameters
    ----------
    best_of_n_init : callable
        The reader's function ``best_of_n_init(X, n_components, seeds) -> fitted model``.

    Raises
    ------
    SelfCheckError
        If the function does not return a fitted model, or returns a run that is not the best.
    """
    rng = np.random.default_rng()
    X, n_components, seeds, runs = _data_with_local_optima(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = call_reader_function(best_of_n_init, X, n_components, list(seeds))
    if isinstance(model, numbers.Real) or (isinstance(model, np.ndarray) and model.ndim == 0):
        fail(
            "your function returned a number; it should return the fitted model itself (the "
            "GaussianMixture of the best run), so that it can be used to predict and sample."
        )
    if isinstance(model, (list, tuple)):
        fail(
            f"your function returned a {type(model).__name__} of {len(model)} items; it should "
            "return a single fitted model: the best run."
        )
    if not hasattr(model, "score") or not hasattr(model, "means_"):
        fail(
            f"your function returned a {type(model).__name__}, not a fitted GaussianMixture. Call "
            "`.fit(X)` on each model and return the best one."
        )
    if getattr(model, "n_components", n_components) != n_components:
        fail(
            f"the returned model has {model.n_components} components, but the check asked for "
            f"{n_components}: pass `n_components` on to GaussianMixture."
        )
    score = float(model.score(X))
    ref_scores = np.array([run.score(X) for run in runs])
    ref_bounds = np.array([run.lower_bound_ for run in runs])
    best = max(ref_scores.max(), ref_bounds.max())
    # choosing by score(X) or by lower_bound_ are both right (they can differ a little)
    if np.isclose(score, ref_scores[np.argmax(ref_scores)], rtol=0, atol=_TOL) or np.isclose(
        score, ref_scores[np.argmax(ref_bounds)], rtol=0, atol=_TOL
    ):
        passed(
            "on fresh data where the seeds end in different local maxima, your function kept "
            "the run with the highest log-likelihood."
        )
        return
    if score > best + 1e-6:
        fail(
            f"your model's log-likelihood ({score:.4f} per sample) is higher than that of every "
            f"run with the given seeds (best {best:.4f}): fit one GaussianMixture per seed with "
            "`init_params=\"random_from_data\"` and `random_state=seed` (and nothing else "
            "changed, e.g. n_init=1), and return the best of those runs."
        )
    if np.isclose(score, ref_scores.min(), rtol=0, atol=_TOL):
        fail(
            f"your function returned the WORST run ({score:.4f} per sample; the best reached "
            f"{ref_scores.max():.4f}). A higher log-likelihood is better: keep the maximum, not "
            "the minimum."
        )
    if np.isclose(score, ref_scores[-1], rtol=0, atol=_TOL):
        fail(
            f"your function returned the run of the LAST seed ({score:.4f} per sample), not the "
            f"best one ({ref_scores.max():.4f}): compare each run's log-likelihood with the best "
            "so far and keep the better model."
        )
    if np.isclose(score, ref_scores[0], rtol=0, atol=_TOL):
        fail(
            f"your function returned the run of the FIRST seed ({score:.4f} per sample), not the "
            f"best one ({ref_scores.max():.4f}): is the best model updated inside the loop?"
        )
    fail(
        f"your model's log-likelihood is {score:.4f} per sample, but the best run with these seeds "
        f"reaches {ref_scores.max():.4f}. Fit one GaussianMixture per seed with "
        "`init_params=\"random_from_data\"` and `random_state=seed`, and keep the run with the "
        "largest `lower_bound_` (or `score(X)`)."
    )


def check_standardize(standardize):
    """Check ``standardize(X)`` from the exercises of chapter 5.

    The reader's function should return :math:`(x_{nd} - m_d) / s_d`, where :math:`m_d` and
    :math:`s_d` are the mean and the standard deviation (dividing by :math:`N`, as
    ``np.std`` and ``StandardScaler`` do) of feature :math:`d`, i.e. of column ``d`` of ``X``.

    Parameters
    ----------
    standardize : callable
        The reader's function ``standardize(X) -> ndarray of shape (N, D)``.

    Raises
    ------
    SelfCheckError
        If the shape or the values are wrong; the message recognises dividing by the variance,
        the wrong axis, a forgotten centring or scaling, and ``ddof=1``.
    """
    rng = np.random.default_rng()
    for _ in range(3):
        n_samples, n_features = int(rng.integers(20, 60)), int(rng.integers(2, 5))
        # features in very different units: scales from 1e-3 to 1e3, means far from 0
        scales = 10.0 ** rng.uniform(-3, 3, size=n_features)
        offsets = scales * rng.uniform(-20, 20, size=n_features)
        X = offsets + scales * rng.standard_normal((n_samples, n_features))
        expected = (X - X.mean(axis=0)) / X.std(axis=0)
        got = check_shape(
            "the standardised data", call_reader_function(standardize, X), X.shape
        )
        if np.allclose(got, expected, rtol=1e-6, atol=1e-8):
            continue
        mean, var = X.mean(axis=0), X.var(axis=0)
        with np.errstate(all="ignore"):
            guesses = [
                (
                    (X - mean) / var,
                    "you divided by the variance; divide by the standard deviation (its square "
                    "root), `X.std(axis=0)`.",
                ),
                (
                    (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True),
                    "you standardised each ROW (each data point) instead of each column (each "
                    "feature): use `axis=0` for the mean and the standard deviation.",
                ),
                (
                    (X - X.mean()) / X.std(),
                    "you used one mean and one standard deviation for the whole array; each "
                    "feature (column) needs its own: use `axis=0`.",
                ),
                (
                    X / X.std(axis=0),
                    "your columns have standard deviation 1 but their means are not 0: subtract "
                    "the mean of each column first.",
                ),
                (
                    X - mean,
                    "your columns have mean 0 but are not rescaled: divide by the standard "
                    "deviation of each column.",
                ),
                (
                    (X - mean) / X.std(axis=0, ddof=1),
                    "you divided by the standard deviation with ddof=1 (N - 1); StandardScaler "
                    "and the book use `X.std(axis=0)`, which divides by N.",
                ),
            ]
        for candidate, message in guesses:
            if got.shape == candidate.shape and np.allclose(got, candidate, rtol=1e-6, atol=1e-8):
                fail(message)
        check_close("the standardised data", got, expected)
    passed(
        "every column of your result has mean 0 and standard deviation 1, as StandardScaler's "
        "(tested on 3 random data sets with features in very different units)."
    )
