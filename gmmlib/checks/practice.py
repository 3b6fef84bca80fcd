"""Self-checks for chapter 5, {ref}`ch-em-in-practice` ("EM in practice").

- :func:`check_best_sensible_run` -- run EM once per seed, set aside the runs in which a component
  collapsed (a covariance eigenvalue below a floor), and keep the best of the others: what
  ``n_init`` does not do, since it keeps the highest log-likelihood whatever produced it.
- :func:`check_standardize` -- standardise every feature: subtract its mean, divide by its
  standard deviation (what :class:`sklearn.preprocessing.StandardScaler` does).

Both call the reader's function on random inputs drawn from a seeded generator (the same inputs at
every call, so a check never passes once and fails the next time), compare the result with a reference, and either print a short success
message or raise :class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..mixture import GaussianMixture
from ._core import call_reader_function, check_close, check_rng, check_shape, fail, passed

__all__ = ["check_best_sensible_run", "check_standardize"]

_TOL = 1e-8


def _fit_one(X, n_components, seed):
    """The reference run: one EM run from ``init_params="random_from_data"`` with ``seed``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            n_components, init_params="random_from_data", random_state=seed
        ).fit(X)


def _smallest_eigenvalue(model):
    return min(np.linalg.eigvalsh(cov).min() for cov in model.covariances_)


def _smallest_diagonal(model):
    return min(np.diag(cov).min() for cov in model.covariances_)


def _data_with_collapsing_runs(rng, min_variance):
    """Data, K, seeds and reference runs where the highest log-likelihood belongs to a collapsed run.

    Three round clusters, six readings exactly on one oblique line and one reading repeated four
    times. A component that settles on the repeated reading has variances of ``reg_covar``; one
    that settles on the line has a covariance whose diagonal entries look ordinary but whose
    smallest eigenvalue is ``reg_covar``. The seeds are arranged so that the first and the last run
    are sensible runs other than the best and the worst one, so that each mistake is told apart.
    """
    for _ in range(30):
        centres = rng.uniform(-6, 6, size=(3, 2))
        blobs = [c + rng.standard_normal((int(rng.integers(40, 60)), 2)) for c in centres]
        direction = rng.standard_normal(2)
        direction /= np.linalg.norm(direction)
        line = rng.uniform(-6, 6, size=2) + 3 * np.linspace(0, 1, 6)[:, None] * direction
        repeated = np.tile(rng.uniform(-6, 6, size=2), (4, 1))
        X = rng.permutation(np.vstack([*blobs, line, repeated]))
        seeds = [int(s) for s in rng.choice(10_000, size=12, replace=False)]
        runs = [_fit_one(X, 5, seed) for seed in seeds]
        bounds = np.array([run.lower_bound_ for run in runs])
        sensible = np.array([_smallest_eigenvalue(run) >= min_variance for run in runs])
        diagonal_ok = np.array([_smallest_diagonal(run) >= min_variance for run in runs])
        if sensible.sum() < 4 or sensible.all():
            continue
        best = int(np.argmax(bounds))
        best_sensible = int(np.flatnonzero(sensible)[np.argmax(bounds[sensible])])
        by_diagonal = int(np.flatnonzero(diagonal_ok)[np.argmax(bounds[diagonal_ok])])
        others = np.sort(bounds[sensible])
        # the best run collapsed, the diagonal test is fooled, and the sensible runs differ
        if sensible[best] or by_diagonal in (best, best_sensible) or others[-1] - others[-2] < 1e-4:
            continue
        # the first and the last seed: other sensible runs, so that keeping either is told apart
        worst_sensible = int(np.flatnonzero(sensible)[np.argmin(bounds[sensible])])
        first, last = [i for i in np.flatnonzero(sensible) if i not in (best_sensible,
                                                                         worst_sensible)][:2]
        rest = [i for i in range(len(runs)) if i not in (best, best_sensible, first, last)]
        arranged = [first, best, *rest, best_sensible, last]
        return X, 5, [seeds[i] for i in arranged], [runs[i] for i in arranged]
    fail("the check could not draw its test data; please report this.")  # pragma: no cover


def check_best_sensible_run(best_sensible_run):
    """Check ``best_sensible_run(X, n_components, seeds, min_variance)`` from chapter 5.

    The reader's function should fit one ``GaussianMixture(n_components,
    init_params="random_from_data", random_state=seed)`` per seed, set aside every run in which
    some component's covariance matrix has an eigenvalue below ``min_variance`` (a component
    collapsed onto a point or onto a lower-dimensional set of points), and return the remaining
    run with the highest log-likelihood. The check draws data (from a seeded generator) on which
    the run with the highest log-likelihood of all has collapsed onto a repeated reading, and
    another run that beats every sensible one has collapsed onto six points on a line, so that
    its covariance has ordinary diagonal entries but a tiny eigenvalue.

    Parameters
    ----------
    best_sensible_run : callable
        The reader's function ``best_sensible_run(X, n_components, seeds, min_variance) ->
        fitted model``.

    Raises
    ------
    SelfCheckError
        If the function does not return a fitted model, or returns another run than the best
        one without a collapsed component: the collapsed run with the highest log-likelihood of
        all, a run chosen by the covariances' diagonal entries instead of their eigenvalues, the
        first, last or worst run.

    Introduced in {ref}`ch-em-in-practice`, Exercise ``ch05_ex2``.
    """
    min_variance = 1e-3
    X, n_components, seeds, runs = _data_with_collapsing_runs(check_rng("check_best_sensible_run"),
                                                              min_variance)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = call_reader_function(best_sensible_run, X, n_components, list(seeds), min_variance)
    if isinstance(model, numbers.Real) or (isinstance(model, np.ndarray) and model.ndim == 0):
        fail("your function returned a number; it should return the fitted model itself (the "
             "GaussianMixture of the chosen run), so that it can be used to predict and sample.")
    if isinstance(model, (list, tuple)):
        fail(f"your function returned a {type(model).__name__} of {len(model)} items; it should "
             "return a single fitted model.")
    if not hasattr(model, "score") or not hasattr(model, "covariances_"):
        fail(f"your function returned a {type(model).__name__}, not a fitted GaussianMixture. "
             "Call `.fit(X)` on each model and return the chosen one.")
    score = float(model.score(X))
    scores = np.array([run.score(X) for run in runs])
    bounds = np.array([run.lower_bound_ for run in runs])
    sensible = np.array([_smallest_eigenvalue(run) >= min_variance for run in runs])
    diagonal_ok = np.array([_smallest_diagonal(run) >= min_variance for run in runs])
    right = np.flatnonzero(sensible)[np.argmax(bounds[sensible])]
    by_diagonal = np.flatnonzero(diagonal_ok)[np.argmax(bounds[diagonal_ok])]

    def returned(i):
        return bool(np.isclose(score, scores[i], rtol=0, atol=_TOL))

    if returned(right):
        passed("on data where the runs with the highest log-likelihoods have collapsed (onto a "
               "repeated reading, and onto points on a line), your function set them aside and "
               "kept the best sensible run.")
        return
    if returned(int(np.argmax(bounds))):
        fail(f"your function returned the run with the highest log-likelihood of all "
             f"({score:.4f} per sample), but one of its components has collapsed: its covariance "
             f"has an eigenvalue of {_smallest_eigenvalue(runs[int(np.argmax(bounds))]):.1e}, "
             f"below min_variance={min_variance:g}. Set aside such runs before you pick the best.")
    if returned(by_diagonal):
        fail("your function returned a run with a collapsed component: its covariance has "
             "ordinary diagonal entries (variances along x1 and x2) but an eigenvalue of "
             f"{_smallest_eigenvalue(runs[by_diagonal]):.1e}, because its points lie on an "
             "oblique line. Test the smallest EIGENVALUE of each covariance "
             "(np.linalg.eigvalsh), not its diagonal.")
    if not sensible[np.argmin(np.abs(scores - score))] and np.isclose(
            score, scores, rtol=0, atol=_TOL).any():
        fail("your function returned a run with a collapsed component (a covariance eigenvalue "
             f"below min_variance={min_variance:g}); keep only runs whose every covariance "
             "eigenvalue is at least min_variance.")
    if returned(len(runs) - 1):
        fail("your function returned the run of the LAST seed: compare each remaining run's "
             "log-likelihood with the best so far and keep the better model.")
    if returned(0):
        fail("your function returned the run of the FIRST seed: is the chosen model updated "
             "inside the loop?")
    if np.isclose(score, scores[sensible].min(), rtol=0, atol=_TOL):
        fail("your function returned the WORST of the sensible runs: a higher log-likelihood is "
             "better, keep the maximum.")
    fail(f"your model's log-likelihood is {score:.4f} per sample, but the best run without a "
         f"collapsed component reaches {scores[right]:.4f}. Fit one GaussianMixture per seed "
         "with `init_params=\"random_from_data\"` and `random_state=seed`, skip the runs with a "
         "covariance eigenvalue below min_variance, and keep the highest `lower_bound_`.")


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
    rng = check_rng("check_standardize")
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
