"""Self-checks for chapter 7, {ref}`ch-choosing-k` ("How many components?").

- :func:`check_bic` -- the Bayesian information criterion
  :math:`\\mathrm{BIC} = -2\\,\\ell(\\hat\\theta) + p \\log N`.
- :func:`check_aic` -- the Akaike information criterion
  :math:`\\mathrm{AIC} = -2\\,\\ell(\\hat\\theta) + 2p`.
- :func:`check_ambiguous_fraction` -- the fraction of points whose two largest responsibilities
  both exceed a threshold (a symptom of too many components).

Each check calls the reader's function on fresh random inputs, compares the result with
:mod:`gmmlib.model_selection` (and, for the criteria, with a fitted
:class:`gmmlib.GaussianMixture`'s own ``bic``/``aic``), and either prints a short success message
or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np

from ._core import (
    as_number,
    call_reader_function,
    fail,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_bic", "check_aic", "check_ambiguous_fraction"]

_N_TRIALS = 5
_RTOL = 1e-8


def _same(got, expected):
    return bool(np.isfinite(got) and np.isclose(got, expected, rtol=_RTOL, atol=1e-8))


def _random_problem(rng):
    """A total log-likelihood, a parameter count and a sample size like those of a real fit."""
    n_samples = int(rng.integers(20, 5000))
    n_parameters = int(rng.integers(2, 60))
    log_likelihood = float(-n_samples * rng.uniform(0.5, 6.0))  # total: about -N times a few
    return log_likelihood, n_parameters, n_samples


def _fitted_problem(rng):
    """A small mixture fitted to fresh data: (total log-likelihood, p, N, model.bic, model.aic)."""
    from .. import GaussianMixture
    from ..model_selection import n_parameters

    n_features = int(rng.integers(1, 4))
    n_components = int(rng.integers(1, 4))
    covariance_type = str(rng.choice(["full", "tied", "diag", "spherical"]))
    params = random_mixture(rng, n_components, n_features, covariance_type)
    X = sample_mixture(rng, *params, covariance_type=covariance_type,
                       n_samples=int(rng.integers(60, 300)))[0]
    model = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                            random_state=int(rng.integers(2**31))).fit(X)
    total = float(model.score(X)) * len(X)
    p = n_parameters(n_components, n_features, covariance_type)
    return total, p, len(X), float(model.bic(X)), float(model.aic(X))


def _criterion_hint(name, got, ll, p, n, penalty):
    """A plain-words guess at the mistake behind a wrong criterion value, or a generic message."""
    per_parameter = {"BIC": np.log(n), "AIC": 2.0}[penalty]
    expected = -2.0 * ll + p * per_parameter
    candidates = [
        (-2.0 * ll / n + p * per_parameter,
         "it looks as if you used the MEAN log-likelihood (divided by N). The criterion needs the "
         "TOTAL log-likelihood, the sum of log p(x_n) over all N points (model.score(X) * N)."),
        (2.0 * ll + p * per_parameter,
         "the sign of the log-likelihood term is flipped: the criterion is -2 * log-likelihood "
         "plus the penalty (the log-likelihood is negative here, so -2 * it is positive)."),
        (2.0 * ll - p * per_parameter,
         "your value is minus the right one: you computed 2 * log-likelihood - penalty (higher is "
         "better). The book's convention is -2 * log-likelihood + penalty, where LOWER is better."),
        (-2.0 * ll - p * per_parameter,
         "the penalty has the wrong sign: it must be ADDED to -2 * log-likelihood, so that more "
         "parameters make the criterion worse."),
        (-ll + p * per_parameter / 2.0,
         "your value is half the right one: the criterion is -2 * log-likelihood + penalty, on "
         "the 'deviance' scale (you may have the form -log-likelihood + penalty / 2)."),
        (-2.0 * ll,
         "the penalty for the number of parameters is missing."),
    ]
    if penalty == "BIC":
        candidates += [
            (-2.0 * ll + p * np.log10(n),
             "the penalty uses the base-10 logarithm. BIC uses the natural logarithm: np.log(N), "
             "not np.log10(N)."),
            (-2.0 * ll + p * np.log2(n),
             "the penalty uses the base-2 logarithm. BIC uses the natural logarithm: np.log(N)."),
            (-2.0 * ll + 2.0 * p,
             "this is AIC (penalty 2 per parameter), not BIC: BIC's penalty is log(N) per "
             "parameter."),
            (-2.0 * ll + p * np.log(n) / 2.0,
             "the penalty is half of what it should be: BIC = -2 * log-likelihood + p log N "
             "(the 1/2 of the Laplace approximation is absorbed by the factor -2)."),
            (-2.0 * ll + np.log(p) * n,
             "the roles of p and N are swapped in the penalty: it is p * log(N)."),
        ]
    else:
        candidates += [
            (-2.0 * ll + p,
             "the penalty is p, not 2p: AIC = -2 * log-likelihood + 2p."),
            (-2.0 * ll + p * np.log(n),
             "this is BIC (penalty log N per parameter), not AIC: AIC's penalty is 2 per "
             "parameter."),
        ]
    for value, message in candidates:
        if _same(got, value):
            fail(f"`{name}` is not right: {message}")
    fail(f"`{name}` returned {got:.6g} but {penalty} should be {expected:.6g} for a total "
         f"log-likelihood of {ll:.6g}, p = {p} parameters and N = {n} points.")


def _check_criterion(func, penalty):
    name = getattr(func, "__name__", None) or type(func).__name__
    rng = np.random.default_rng()
    for trial in range(_N_TRIALS + 1):
        if trial < _N_TRIALS:
            ll, p, n = _random_problem(rng)
            reference = -2.0 * ll + p * (np.log(n) if penalty == "BIC" else 2.0)
        else:  # a real fit: the reader's value must match the estimator's own bic()/aic()
            ll, p, n, model_bic, model_aic = _fitted_problem(rng)
            reference = model_bic if penalty == "BIC" else model_aic
        args = (ll, p, n) if penalty == "BIC" else (ll, p)
        got = as_number(name, call_reader_function(func, *args))
        if not np.isclose(got, reference, rtol=1e-6, atol=1e-6):
            _criterion_hint(name, got, ll, p, n, penalty)
    return name


def check_bic(func):
    """Check a reader's ``func(log_likelihood_total, n_parameters, n_samples) -> float`` (BIC).

    Parameters
    ----------
    func : callable
        ``func(log_likelihood_total, n_parameters, n_samples)`` must return
        :math:`-2\\,\\ell + p \\log N` with the natural logarithm, where :math:`\\ell` is the total
        log-likelihood (a sum over the :math:`N` points, not a mean).

    Raises
    ------
    SelfCheckError
        If the value is wrong; the message recognises a mean instead of a total log-likelihood,
        sign errors, a base-10 or base-2 logarithm, AIC's penalty, and a missing factor 2.

    Notes
    -----
    The last test fits a :class:`gmmlib.GaussianMixture` to fresh data and compares the reader's
    value with the estimator's own ``bic(X)``. Introduced in {ref}`ch-choosing-k`, Exercise
    ``ch07_ex2``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_bic
    >>> check_bic(lambda ll, p, n: -2 * ll + p * np.log(n))  # doctest: +ELLIPSIS
    Correct! ...
    """
    name = _check_criterion(func, "BIC")
    passed(f"`{name}` gives -2 log-likelihood + p log N on {_N_TRIALS} random inputs and agrees "
           "with GaussianMixture.bic on a freshly fitted mixture.")


def check_aic(func):
    """Check a reader's ``func(log_likelihood_total, n_parameters) -> float`` (AIC).

    Parameters
    ----------
    func : callable
        ``func(log_likelihood_total, n_parameters)`` must return :math:`-2\\,\\ell + 2p`, where
        :math:`\\ell` is the total log-likelihood (a sum over the points, not a mean).

    Raises
    ------
    SelfCheckError
        If the value is wrong; the message recognises sign errors, a penalty of :math:`p`
        instead of :math:`2p`, BIC's penalty, and a missing factor 2.

    Notes
    -----
    The last test fits a :class:`gmmlib.GaussianMixture` to fresh data and compares the reader's
    value with the estimator's own ``aic(X)``. Introduced in {ref}`ch-choosing-k`, Exercise
    ``ch07_ex2``.

    Examples
    --------
    >>> from gmmlib.checks import check_aic
    >>> check_aic(lambda ll, p: -2 * ll + 2 * p)  # doctest: +ELLIPSIS
    Correct! ...
    """
    name = _check_criterion(func, "AIC")
    passed(f"`{name}` gives -2 log-likelihood + 2p on {_N_TRIALS} random inputs and agrees with "
           "GaussianMixture.aic on a freshly fitted mixture.")


def _reference_ambiguous_fraction(resp, threshold):
    top_two = np.sort(resp, axis=1)[:, -2:]
    return float(np.mean(np.all(top_two > threshold, axis=1)))


def _random_responsibilities(rng):
    """(N, K) responsibilities with a mix of confident and near-50/50 rows, and no value within
    1e-3 of the threshold (so > versus >= cannot matter)."""
    n_samples, n_components = int(rng.integers(30, 400)), int(rng.integers(3, 9))
    if n_samples == 100:  # a count and a percentage would be the same number: tell them apart
        n_samples += 1
    threshold = float(rng.choice([0.2, 0.25, 0.3, 0.35, 0.4]))
    while True:
        concentration = rng.choice([0.15, 1.0, 4.0], size=n_samples)[:, None]
        resp = rng.gamma(np.broadcast_to(concentration, (n_samples, n_components)))
        two = rng.random(n_samples) < 0.3  # some rows split between two components only
        pair = rng.permuted(np.tile(np.arange(n_components), (n_samples, 1)), axis=1)[:, :2]
        rows = np.flatnonzero(two)
        resp[rows] = 1e-3 * rng.random((rows.size, n_components))
        resp[rows, pair[rows, 0]] += rng.uniform(0.2, 0.8, rows.size)
        resp[rows, pair[rows, 1]] += rng.uniform(0.2, 0.8, rows.size)
        resp /= resp.sum(axis=1, keepdims=True)
        if np.min(np.abs(resp - threshold)) < 1e-3:
            continue
        fraction = _reference_ambiguous_fraction(resp, threshold)
        largest_only = float(np.mean(resp.max(axis=1) > threshold))
        entries = float(np.mean(resp > threshold))
        if 0.05 < fraction < 0.9 and not np.isclose(largest_only, fraction) and not np.isclose(
            entries, fraction
        ):
            return resp, threshold


def check_ambiguous_fraction(func):
    """Check a reader's ``func(resp, threshold) -> float``: the share of ambiguous points.

    Parameters
    ----------
    func : callable
        ``func(resp, threshold)`` with ``resp`` of shape (N, K) (rows sum to 1) must return the
        fraction of rows :math:`n` whose two largest responsibilities :math:`\\gamma_{nk}` are
        both greater than ``threshold``: a single number between 0 and 1.

    Raises
    ------
    SelfCheckError
        If the result is not a single number, or is wrong; the message recognises a count
        instead of a fraction, a percentage, sorting along the wrong axis, testing only the
        largest responsibility, and counting single entries instead of rows.

    Notes
    -----
    Introduced in {ref}`ch-choosing-k`, Exercise ``ch07_ex3``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_ambiguous_fraction
    >>> def ambiguous_fraction(resp, threshold):
    ...     second = np.sort(resp, axis=1)[:, -2]
    ...     return float(np.mean(second > threshold))
    >>> check_ambiguous_fraction(ambiguous_fraction)  # doctest: +ELLIPSIS
    Correct! ...
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    rng = np.random.default_rng()
    for _ in range(_N_TRIALS):
        resp, threshold = _random_responsibilities(rng)
        result = call_reader_function(func, resp, threshold)
        if np.ndim(result) != 0:
            fail(f"`{name}` should return a single number (a fraction), but it returned an array "
                 f"of shape {np.shape(result)}: take the mean over the rows, e.g. "
                 "`np.mean(is_ambiguous)`.")
        got = as_number(name, result)
        expected = _reference_ambiguous_fraction(resp, threshold)
        if _same(got, expected):
            continue
        n_samples = resp.shape[0]
        sorted_columns = np.sort(resp, axis=0)[-2:, :]
        hints = [
            (expected * n_samples,
             "it returned the NUMBER of ambiguous rows; divide by the number of rows N to get a "
             "fraction."),
            (100.0 * expected, "it returned a percentage; return a fraction between 0 and 1."),
            (float(np.mean(resp.max(axis=1) > threshold)),
             "it tests only the LARGEST responsibility of each row. A point is ambiguous when "
             "the two largest both exceed the threshold: test the second largest, "
             "`np.sort(resp, axis=1)[:, -2]`."),
            (float(np.mean(resp > threshold)),
             "it counts single entries of resp above the threshold, not rows. Decide per row "
             "(one point), then take the mean over rows."),
            (float(np.mean(np.all(sorted_columns > threshold, axis=0))),
             "it sorts along the wrong axis: sort each ROW (one point's responsibilities over "
             "the K components), `np.sort(resp, axis=1)`."),
            (float(np.mean(np.sort(resp, axis=1)[:, 0] > threshold)),
             "it looks at the SMALLEST responsibilities: np.sort sorts in increasing order, so "
             "the two largest are the last two columns, `[:, -2:]`."),
        ]
        for value, message in hints:
            if _same(got, value):
                fail(f"`{name}` is not right: {message}")
        fail(f"`{name}` returned {got:.6g} but the fraction of rows whose two largest "
             f"responsibilities exceed {threshold} is {expected:.6g} for a random (N={n_samples}, "
             f"K={resp.shape[1]}) responsibility matrix.")
    passed(f"`{name}` gives the right fraction of ambiguous points on {_N_TRIALS} random "
           "responsibility matrices.")
