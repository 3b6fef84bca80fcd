"""Self-checks for chapter 9, {ref}`ch-density-estimation` ("Density estimation: two moons").

- :func:`check_kde_log_density` -- the log-density of a Gaussian kernel density estimate, written
  as the mixture it is (one component per training point), with the log-sum-exp trick.
- :func:`check_kde_loo_log_likelihood` -- the leave-one-out log-likelihood of a kernel density
  estimate: each training point scored by the estimate built from all the *other* points.
- :func:`check_log_density_grid` -- the log-density of a fitted model on a ``meshgrid``, for
  contour plots.

Each check calls the reader's function on random data drawn from a seeded generator, compares the
result with an exact reference (the kernel sums with log-sum-exp) or
:class:`gmmlib.GaussianMixture`'s own ``score_samples``, and either prints a short success
message or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np

from ._core import (
    as_number,
    call_reader_function,
    check_close,
    check_rng,
    check_shape,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = [
    "check_kde_log_density",
    "check_kde_loo_log_likelihood",
    "check_log_density_grid",
]


def _name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _kde_problem(rng, n_features):
    """Training points from a random mixture, points to evaluate (one of them far from all
    training points, where a density without log-sum-exp underflows to 0) and a bandwidth."""
    params = random_mixture(rng, int(rng.integers(2, 4)), n_features, "full")
    X_train = sample_mixture(rng, *params, covariance_type="full",
                             n_samples=int(rng.integers(40, 120)))[0]
    X_eval = sample_mixture(rng, *params, covariance_type="full",
                            n_samples=int(rng.integers(20, 60)))[0]
    X_eval[0] = X_train.max(axis=0) + 6.0  # far away
    bandwidth = float(rng.uniform(0.15, 0.4))
    return X_train, X_eval, bandwidth


def _kde_reference(X_train, X_eval, bandwidth, variance=None, dims=None, keep_self=True):
    """log( (1/M) sum_m N(x | x_m, h^2 I) ) with log-sum-exp, and variants for the hints.

    ``variance`` replaces h^2 (to recognise h used as a variance), ``dims`` the D in the
    normalising constant, and ``keep_self=False`` leaves out the pair (n, n) when ``X_eval`` is
    ``X_train`` (leave-one-out, averaging over the other N - 1 points)."""
    from scipy.special import logsumexp

    n_features = X_train.shape[1]
    variance = bandwidth**2 if variance is None else variance
    dims = n_features if dims is None else dims
    squared = ((X_eval[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2)
    log_kernel = -0.5 * squared / variance - 0.5 * dims * np.log(2 * np.pi * variance)
    n_terms = len(X_train)
    if not keep_self:
        np.fill_diagonal(log_kernel, -np.inf)
        n_terms -= 1
    return logsumexp(log_kernel, axis=1) - np.log(n_terms)


def check_kde_log_density(func):
    """Check a reader's ``func(X_train, X_eval, bandwidth) -> log_density``: a Gaussian KDE.

    The kernel density estimate with a Gaussian kernel of bandwidth :math:`h` is the mixture
    :math:`\\hat p_h(x) = \\frac1N \\sum_{n=1}^N \\mathcal{N}(x \\mid x_n, h^2 I)` of one component
    per training point. The function must return :math:`\\log \\hat p_h(x)` for every row of
    ``X_eval``, shape ``(len(X_eval),)``, also for points far from all training points (which
    needs the log-sum-exp trick: their densities underflow to 0). The reference is the exact sum,
    computed with :func:`scipy.special.logsumexp`.

    Parameters
    ----------
    func : callable
        ``func(X_train, X_eval, bandwidth)`` with arrays of shape (N, D) and (M, D) and a
        positive float.

    Raises
    ------
    SelfCheckError
        If the values are wrong; the message recognises the density instead of its log, a
        missing :math:`1/N`, :math:`h` used as the variance, the normalising constant of one
        dimension in :math:`D` dimensions, a missing factor 1/2 in the exponent, and minus
        infinity far from the data (no log-sum-exp).

    Notes
    -----
    Introduced in {ref}`ch-density-estimation`, Exercise ``ch09_ex2``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import logsumexp
    >>> from gmmlib.checks import check_kde_log_density
    >>> def kde_log_density(X_train, X_eval, bandwidth):
    ...     squared = ((X_eval[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2)
    ...     D = X_train.shape[1]
    ...     log_kernel = -squared / (2 * bandwidth**2) - D / 2 * np.log(2 * np.pi * bandwidth**2)
    ...     return logsumexp(log_kernel, axis=1) - np.log(len(X_train))
    >>> check_kde_log_density(kde_log_density)
    Correct! your log-densities are right in 1, 2 and 3 dimensions, also far from the data.
    """
    name = _name(func)
    rng = check_rng("check_kde_log_density")
    for n_features in (2, 1, 3):
        X_train, X_eval, bandwidth = _kde_problem(rng, n_features)
        expected = _kde_reference(X_train, X_eval, bandwidth)
        got = call_reader_function(func, X_train, X_eval, bandwidth)
        if np.ndim(got) == 0:
            fail(f"`{name}` returned one number; it should return the log-density of EVERY "
                 f"row of X_eval, an array of shape ({len(X_eval)},). (Do not average them.)")
        got = check_shape(f"the result of `{name}`", got, expected.shape)
        if np.isneginf(got[0]) and matches(got[1:], expected[1:]):
            fail(f"`{name}` returns -inf for a point far from every training point, where the "
                 "true log-density is finite (about {:.1f}). Each Gaussian's density underflows "
                 "to 0 there: add the log-kernels with the log-sum-exp trick "
                 "(scipy.special.logsumexp) instead of summing densities and taking the log."
                 .format(expected[0]))
        near = slice(1, None)  # the far point's density is 0 in floating point: leave it out
        variants = [
            (np.exp(expected[near]), "it is the DENSITY, not its logarithm: return the log."),
            (expected[near] + np.log(len(X_train)),
             f"it is too large by exactly log N = log {len(X_train)}: the KDE AVERAGES the N "
             "kernels, so divide by N (subtract log N)."),
            (_kde_reference(X_train, X_eval, bandwidth, variance=bandwidth)[near],
             "it uses the bandwidth h as the VARIANCE of each kernel. The bandwidth is a "
             "standard deviation: the kernel is N(x | x_n, h^2 I)."),
        ]
        if n_features > 1:
            variants.append((_kde_reference(X_train, X_eval, bandwidth, dims=1)[near],
                             f"its normalising constant is that of ONE dimension. In D = "
                             f"{n_features} dimensions each kernel has -D/2 log(2 pi h^2)."))
        variants.append((_kde_reference(X_train, X_eval, bandwidth,
                                        variance=bandwidth**2 / 2.0, dims=0)[near]
                         - 0.5 * n_features * np.log(2 * np.pi * bandwidth**2),
                         "the exponent misses its factor 1/2: the kernel is "
                         "exp(-|x - x_n|^2 / (2 h^2)) / (2 pi h^2)^(D/2)."))
        for value, message in variants:
            if matches(got[near], value):
                fail(f"`{name}` is not right ({n_features}-D data): {message}")
        check_close(f"the log-densities from `{name}` ({n_features}-D data)", got, expected)
    passed("your log-densities are right in 1, 2 and 3 dimensions, also far from the data.")


def check_kde_loo_log_likelihood(func):
    """Check a reader's ``func(X, bandwidth) -> float``: the leave-one-out log-likelihood of a KDE.

    Scoring a kernel density estimate on its own training points is optimistic: each point sits
    on its own kernel. The leave-one-out log-likelihood scores each point :math:`x_n` by the
    estimate built from the *other* :math:`N - 1` points,
    :math:`\\frac1N \\sum_n \\log \\frac{1}{N-1} \\sum_{m \\ne n}
    \\mathcal{N}(x_n \\mid x_m, h^2 I)`,
    a single number (higher is better).

    Parameters
    ----------
    func : callable
        ``func(X, bandwidth)`` with an array of shape (N, D) and a positive float.

    Raises
    ------
    SelfCheckError
        If the value is wrong; the message recognises the training score (each point's own
        kernel left in), an average over :math:`N` instead of :math:`N - 1` other points, a total
        instead of a mean, and per-point values instead of their mean.

    Notes
    -----
    Introduced in {ref}`ch-density-estimation`, Exercise ``ch09_ex3``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import logsumexp
    >>> from gmmlib.checks import check_kde_loo_log_likelihood
    >>> def kde_loo_log_likelihood(X, bandwidth):
    ...     squared = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    ...     D = X.shape[1]
    ...     log_kernel = -squared / (2 * bandwidth**2) - D / 2 * np.log(2 * np.pi * bandwidth**2)
    ...     np.fill_diagonal(log_kernel, -np.inf)  # leave each point out of its own estimate
    ...     return np.mean(logsumexp(log_kernel, axis=1) - np.log(len(X) - 1))
    >>> check_kde_loo_log_likelihood(kde_loo_log_likelihood)
    Correct! your leave-one-out log-likelihood is right on 3 data sets, in 1, 2 and 3 dimensions.
    """
    name = _name(func)
    rng = check_rng("check_kde_loo_log_likelihood")
    for n_features in (2, 1, 3):
        X, _, bandwidth = _kde_problem(rng, n_features)
        per_point = _kde_reference(X, X, bandwidth, keep_self=False)
        expected = float(per_point.mean())
        result = call_reader_function(func, X, bandwidth)
        if np.ndim(result) != 0:
            if np.shape(result) == per_point.shape and matches(result, per_point):
                fail(f"`{name}` returned the leave-one-out log-density of every point; the "
                     "check expects their MEAN, one number (e.g. `.mean()`).")
            fail(f"`{name}` should return one number, the mean leave-one-out log-likelihood "
                 f"per point; it returned an array of shape {np.shape(result)}.")
        got = as_number(name, result)
        if matches(got, expected):
            continue
        with_self = float(_kde_reference(X, X, bandwidth).mean())
        over_n = float((per_point + np.log(len(X) - 1) - np.log(len(X))).mean())
        for value, message in [
            (with_self, "it scores each point with its OWN kernel still in the estimate (the "
             "training score, which is optimistic). Leave the pair (n, n) out, e.g. set the "
             "diagonal of the log-kernel matrix to -inf before log-sum-exp."),
            (over_n, "it leaves each point out but still divides by N. The estimate without "
             "x_n averages the other N - 1 kernels: subtract log(N - 1)."),
            (expected * len(X), "it is the TOTAL over the points; return the mean per point."),
        ]:
            if matches(got, value):
                fail(f"`{name}` is not right ({n_features}-D data): {message}")
        fail(f"`{name}` returned {got:.6g}, but the mean leave-one-out log-likelihood of these "
             f"{len(X)} points ({n_features}-D, h = {bandwidth:.3g}) is {expected:.6g}.")
    passed("your leave-one-out log-likelihood is right on 3 data sets, in 1, 2 and 3 dimensions.")


def _fitted_problem(rng):
    """A 2-D mixture fitted to random training data, and those data."""
    from .. import GaussianMixture

    n_components = int(rng.integers(2, 4))
    params = random_mixture(rng, n_components, 2, "full")
    X_train = sample_mixture(rng, *params, covariance_type="full",
                             n_samples=int(rng.integers(80, 200)))[0]
    model = GaussianMixture(n_components=n_components, random_state=int(rng.integers(2**31)))
    return model.fit(X_train), X_train


def check_log_density_grid(func):
    """Check a reader's ``func(model, xx, yy) -> log_density``: the log-density on a meshgrid.

    ``xx`` and ``yy`` come from ``numpy.meshgrid(xs, ys)`` (shape ``(len(ys), len(xs))``); the
    result must have the same shape, with entry ``[i, j]`` equal to :math:`\\log p(x)` at the point
    ``(xx[i, j], yy[i, j])``, so that ``plt.contour(xx, yy, log_density)`` draws the model.

    Parameters
    ----------
    func : callable
        ``func(model, xx, yy)`` with a fitted 2-D :class:`gmmlib.GaussianMixture`.

    Raises
    ------
    SelfCheckError
        On a wrong shape (including a transposed grid), the density instead of its log, or wrong
        values (e.g. ``x_1`` and ``x_2`` swapped, or a flattened grid reshaped in the wrong order).

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_log_density_grid
    >>> def log_density_grid(model, xx, yy):
    ...     points = np.column_stack([xx.ravel(), yy.ravel()])
    ...     return model.score_samples(points).reshape(xx.shape)
    >>> check_log_density_grid(log_density_grid)
    Correct! your grid holds log p(x) at every grid point, in the shape of xx and yy.
    """
    name = _name(func)
    rng = check_rng("check_log_density_grid")
    model, X_train = _fitted_problem(rng)
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)
    n_x, n_y = int(rng.integers(20, 40)), int(rng.integers(41, 60))  # never square
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n_x), np.linspace(lo[1], hi[1], n_y))
    got = call_reader_function(func, model, xx, yy)
    expected = model.score_samples(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    got = np.asarray(got, dtype=float) if not isinstance(got, np.ndarray) else got
    if np.shape(got) == expected.T.shape:
        fail(
            f"the grid has shape {np.shape(got)} but should have the shape of xx and yy, "
            f"{xx.shape}: it looks transposed. With xx, yy = np.meshgrid(xs, ys), rows go with y "
            "and columns with x; reshape with `.reshape(xx.shape)`."
        )
    got = check_shape("the grid of log-densities", got, expected.shape)
    if np.all(got >= 0) and matches(got, np.exp(expected)):
        fail(
            "the grid holds the DENSITY p(x), not its logarithm. `model.score_samples` returns "
            "log p(x) already: do not apply `np.exp`."
        )
    swapped = model.score_samples(np.column_stack([yy.ravel(), xx.ravel()])).reshape(xx.shape)
    if matches(got, swapped):
        fail(
            "the grid looks like the log-density at (x_2, x_1) instead of (x_1, x_2): the points "
            "should be np.column_stack([xx.ravel(), yy.ravel()]), with xx first."
        )
    wrong_order = model.score_samples(
        np.column_stack([xx.ravel(order="F"), yy.ravel(order="F")])
    ).reshape(xx.shape)
    if matches(got, wrong_order):
        fail(
            "the values are right but in the wrong places: the flattened grid was put back in a "
            "different order than it was flattened. Use the same order for both (`ravel()` and "
            "`reshape(xx.shape)`)."
        )
    check_close("the grid of log-densities", got, expected)
    passed("your grid holds log p(x) at every grid point, in the shape of xx and yy.")
