"""Self-checks for chapter 4, {ref}`ch-deriving-em` ("Deriving EM").

- :func:`check_e_step` -- the E-step: responsibilities :math:`\\gamma_{nk}` computed stably, with
  the log-sum-exp trick.
- :func:`check_m_step` -- the M-step for full covariances: weights :math:`\\pi_k = N_k / N`,
  means :math:`\\mu_k` and covariances :math:`\\Sigma_k`.

Both call the reader's function on fresh random inputs (a new number of components, dimension
and sample size every time), compare the result with an independent NumPy/SciPy reference, and
either print a short success message or raise :class:`~gmmlib.checks.SelfCheckError` saying in
plain words what looks wrong.
"""

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from ._core import (
    call_reader_function,
    check_close,
    check_probabilities,
    check_shape,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_e_step", "check_m_step"]

_N_TRIALS = 4
_RTOL, _ATOL = 1e-6, 1e-8


def _random_weights(rng, n_components):
    """Clearly unequal weights (proportional to 1, ..., 4 in a random order), so that
    responsibilities computed without them differ visibly from the right ones."""
    weights = rng.permutation(np.linspace(1.0, 4.0, n_components))
    return weights / weights.sum()


def _log_joint(X, weights, means, covariances):
    """(N, K) array of log pi_k + log N(x_n | mu_k, Sigma_k), via SciPy."""
    return np.log(weights) + np.stack(
        [stats.multivariate_normal(m, c).logpdf(X).reshape(len(X))
         for m, c in zip(means, covariances)], axis=1)


def _far_point(rng, means):
    """A point at least 80 units from every mean: with variances at most 2, every component's
    log-density there is below -1600, so exp() of it underflows to exactly 0."""
    direction = rng.standard_normal(means.shape[1])
    direction /= np.linalg.norm(direction)
    return (np.abs(means).max() * np.sqrt(means.shape[1]) + 80.0) * direction


def _e_step_problem(rng, far):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(1, 5))
    n_samples = int(rng.integers(15, 60))
    while True:  # components that overlap enough for the weights to matter
        _, means, covariances = random_mixture(rng, n_components, n_features, "full")
        means = means / 2
        weights = _random_weights(rng, n_components)
        X = sample_mixture(rng, weights, means, covariances, "full", n_samples)[0]
        log_dens = _log_joint(X, weights, means, covariances) - np.log(weights)
        no_weights = np.exp(log_dens - logsumexp(log_dens, axis=1, keepdims=True))
        log_joint = log_dens + np.log(weights)
        if not matches(no_weights, np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))):
            break
    far_rows = np.zeros(n_samples, dtype=bool)
    if far:
        row = int(rng.integers(n_samples))
        X[row] = _far_point(rng, means)
        far_rows[row] = True
    return X, weights, means, covariances, far_rows


def _diagnose_e_step(resp, X, weights, means, covariances):
    """Fail with a specific message if ``resp`` matches a known mistake."""
    log_joint = _log_joint(X, weights, means, covariances)
    log_resp = log_joint - logsumexp(log_joint, axis=1, keepdims=True)
    log_dens = log_joint - np.log(weights)
    joint = np.exp(log_joint)
    if matches(resp, np.exp(log_resp)):
        return np.exp(log_resp)
    if matches(resp, log_resp):
        fail("You returned the log-responsibilities log(gamma_nk). The E-step should return the "
             "responsibilities themselves: apply np.exp to your result (the rows of gamma then sum "
             "to 1).")
    if matches(resp, joint):
        fail("Your responsibilities are not normalised: you returned pi_k N(x_n | mu_k, Sigma_k). "
             "Divide each row by its sum over the components k (that sum is p(x_n)), so that "
             "every row sums to 1.")
    if matches(resp, np.exp(log_dens - logsumexp(log_dens, axis=1, keepdims=True))):
        fail("You forgot the weights: your responsibilities are N(x_n | mu_k, Sigma_k) normalised "
             "over k, but Bayes' rule needs the prior too: gamma_nk is proportional to "
             "pi_k N(x_n | mu_k, Sigma_k).")
    if matches(resp, np.exp(log_dens)):
        fail("You returned the component densities N(x_n | mu_k, Sigma_k): multiply by the weights "
             "pi_k and normalise each row to sum 1.")
    if matches(resp, joint / joint.sum(axis=0, keepdims=True)):
        fail("You normalised over the wrong axis: your columns sum to 1. Each ROW (one point, all "
             "components) must sum to 1: divide by the sum over k, e.g. with `axis=1, "
             "keepdims=True`.")
    return np.exp(log_resp)


def check_e_step(func):
    """Check a reader's E-step ``func(X, weights, means, covariances) -> resp``.

    Parameters
    ----------
    func : callable
        ``func(X, weights, means, covariances)`` with ``X`` of shape (N, D), ``weights`` of shape
        (K,), ``means`` of shape (K, D) and full ``covariances`` of shape (K, D, D); it must
        return the responsibilities :math:`\\gamma_{nk} = p(z_n = k \\mid x_n, \\theta)` as an
        array of shape (N, K) whose rows sum to 1.

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape or values: not normalised, normalised over the wrong
        axis, the weights forgotten, log-responsibilities returned, or NaN/wrong values for a
        point far from every component (use the log-sum-exp trick).

    Notes
    -----
    The last test input contains one point far from every component, where every density
    :math:`\\pi_k \\mathcal N(x_n \\mid \\mu_k, \\Sigma_k)` underflows to 0 in floating point. An
    E-step that exponentiates before normalising returns 0 / 0 = NaN there.

    Introduced in {ref}`ch-deriving-em`, Exercise ``ch04_ex2``.
    """
    rng = np.random.default_rng()
    for trial in range(_N_TRIALS + 1):
        far = trial == _N_TRIALS
        X, weights, means, covariances, far_rows = _e_step_problem(rng, far)
        n_samples, n_components = X.shape[0], len(weights)
        with np.errstate(all="ignore"):
            resp = call_reader_function(func, X, weights, means, covariances)
        if isinstance(resp, tuple):
            fail(f"Your function returned a tuple of {len(resp)} items; it should return only the "
                 f"responsibilities, one array of shape ({n_samples}, {n_components}).")
        resp = check_shape("the responsibilities", resp, (n_samples, n_components))
        if far:
            log_joint = _log_joint(X, weights, means, covariances)
            expected = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
            ok_rows = np.all(np.isclose(resp, expected, rtol=_RTOL, atol=_ATOL), axis=1)
            if not ok_rows[far_rows].all() and ok_rows[~far_rows].all():
                shown = np.array2string(resp[far_rows][0], precision=3)
                fail("Your E-step is right for ordinary points, but for a point far from every "
                     f"component it returned {shown} instead of responsibilities that sum to 1. "
                     "There every pi_k N(x_n | mu_k, Sigma_k) underflows to 0 in floating point, "
                     "so normalising gives 0 / 0 = nan. Use the log-sum-exp trick: compute the "
                     "log-densities, subtract their maximum over k (or use "
                     "scipy.special.logsumexp) and only then exponentiate.")
        expected = _diagnose_e_step(resp, X, weights, means, covariances)
        if not np.all(np.isfinite(resp)):
            fail("Your responsibilities contain NaN or infinite values. Compute them from "
                 "log-densities with the log-sum-exp trick (scipy.special.logsumexp) so that "
                 "nothing overflows or underflows.")
        check_probabilities("the responsibilities", resp, axis=1)
        check_close("the responsibilities", resp, expected, rtol=_RTOL, atol=_ATOL)
    passed(f"your E-step matches Bayes' rule on {_N_TRIALS} random mixtures (1 to 4 dimensions, "
           "2 to 4 components), and it stays finite for a point far from every component.")


def _m_step_problem(rng):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(2, 5))
    n_samples = int(rng.integers(30, 80))
    weights, means, covariances = random_mixture(rng, n_components, n_features, "full")
    X = sample_mixture(rng, weights, means, covariances, "full", n_samples)[0]
    resp = rng.dirichlet(np.full(n_components, 0.7), size=n_samples)
    return X, resp


def _scatter(X, resp, centres):
    """S_k = sum_n gamma_nk (x_n - c_k)(x_n - c_k)^T for centres c_k of shape (K, D)."""
    return np.stack([(resp[:, k] * (X - c).T) @ (X - c) for k, c in enumerate(centres)])


def check_m_step(func):
    """Check a reader's full-covariance M-step ``func(X, resp) -> (weights, means, covariances)``.

    Parameters
    ----------
    func : callable
        ``func(X, resp)`` with ``X`` of shape (N, D) and responsibilities ``resp`` of shape
        (N, K); it must return the tuple ``(weights, means, covariances)`` with shapes (K,),
        (K, D) and (K, D, D): :math:`\\pi_k = N_k / N`,
        :math:`\\mu_k = \\frac{1}{N_k} \\sum_n \\gamma_{nk} x_n` and
        :math:`\\Sigma_k = \\frac{1}{N_k} \\sum_n \\gamma_{nk} (x_n - \\mu_k)(x_n - \\mu_k)^\\top`,
        where :math:`N_k = \\sum_n \\gamma_{nk}` (no regularisation added).

    Raises
    ------
    SelfCheckError
        If the result has the wrong form or values: weights not normalised, means or covariances
        divided by the wrong count, covariances centred on the wrong mean, ...

    Introduced in {ref}`ch-deriving-em`, Exercise ``ch04_ex3``.
    """
    rng = np.random.default_rng()
    for _ in range(_N_TRIALS):
        X, resp = _m_step_problem(rng)
        (n_samples, n_features), n_components = X.shape, resp.shape[1]
        result = call_reader_function(func, X, resp)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            fail("Your function should return three things, `return weights, means, covariances`, "
                 f"but it returned {type(result).__name__}"
                 + (f" of length {len(result)}." if isinstance(result, (tuple, list)) else "."))
        weights, means, covariances = result

        Nk = resp.sum(axis=0)
        ref_weights = Nk / n_samples
        ref_means = resp.T @ X / Nk[:, None]
        scatter = _scatter(X, resp, ref_means)
        ref_covariances = scatter / Nk[:, None, None]

        weights = check_shape("the weights", weights, (n_components,))
        if matches(weights, Nk):
            fail("Your weights are the effective counts N_k = sum_n gamma_nk; they add up to N, "
                 "not 1. Divide by N: pi_k = N_k / N.")
        if not matches(weights.sum(), 1.0):
            fail(f"Your weights add up to {weights.sum():.6g}, but mixture weights must sum to 1: "
                 "pi_k = N_k / N with N_k = sum_n gamma_nk.")
        check_close("the weights", weights, ref_weights)

        means = check_shape("the means", means, (n_components, n_features))
        if matches(means, resp.T @ X / n_samples):
            fail("Your means are divided by N, the number of points; divide component k's weighted "
                 "sum by its own effective count N_k = sum_n gamma_nk instead.")
        if matches(means, resp.T @ X):
            fail("Your means are the weighted sums sum_n gamma_nk x_n: divide each by N_k.")
        if matches(means, np.broadcast_to(X.mean(axis=0), means.shape)):
            fail("Every component got the plain mean of X: weight each point by its "
                 "responsibility, mu_k = (1/N_k) sum_n gamma_nk x_n.")
        check_close("the means", means, ref_means)

        covariances = check_shape("the covariances", covariances,
                                  (n_components, n_features, n_features))
        if matches(covariances, scatter):
            fail("Your covariances are not divided by N_k: you returned the weighted scatter "
                 "sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T. Divide component k's by "
                 "N_k = sum_n gamma_nk.")
        if matches(covariances, scatter / n_samples):
            fail("Your covariances are divided by N, the number of points; divide component k's "
                 "weighted scatter by its own effective count N_k = sum_n gamma_nk instead.")
        if matches(covariances, scatter / (Nk - 1)[:, None, None]):
            fail("Your covariances are divided by N_k - 1; the maximum-likelihood M-step divides "
                 "by N_k.")
        overall = np.broadcast_to(X.mean(axis=0), ref_means.shape)
        if matches(covariances, _scatter(X, resp, overall) / Nk[:, None, None]):
            fail("Your covariances are centred on the wrong mean: the overall mean of X. Centre "
                 "component k's on its own NEW mean mu_k (the one this M-step just computed).")
        if matches(covariances, _scatter(X, resp, np.zeros_like(ref_means)) / Nk[:, None, None]):
            fail("Your covariances are not centred: you used x_n x_n^T. Centre on the new mean: "
                 "(x_n - mu_k)(x_n - mu_k)^T.")
        for shift in range(1, n_components):
            other = np.roll(ref_means, shift, axis=0)
            if matches(covariances, _scatter(X, resp, other) / Nk[:, None, None]):
                fail("Your covariances are centred on the wrong mean: component k's is centred on "
                     "another component's mean (check the index k). Use (x_n - mu_k).")
        check_close("the covariances", covariances, ref_covariances)
    passed(f"your M-step matches the closed-form updates on {_N_TRIALS} random problems "
           "(2 to 4 dimensions, 2 to 4 components).")
