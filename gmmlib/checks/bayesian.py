"""Self-checks for the chapter {ref}`ch-bayesian-mixtures` ("Bayesian mixtures").

- :func:`check_dirichlet_expected_log_weights` -- ``E[log pi_k]`` under the Dirichlet posterior
  ``Dir(alpha_1, ..., alpha_K)``.
- :func:`check_stick_breaking_expected_log_weights` -- ``E[log pi_k]`` when the weights are
  built by stick-breaking from independent ``Beta(a_k, b_k)`` fractions.
- :func:`check_map_covariances` -- the MAP M-step of full covariances under an inverse-Wishart
  prior.

Each check calls the reader's function on random inputs (seeded by the check's name, so a
verdict never changes from one run to the next), compares the result with
:mod:`gmmlib.bayesian`, and either prints a short success message or raises
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np
from scipy.special import digamma

from .. import bayesian
from ._core import (
    call_reader_function,
    check_close,
    check_rng,
    fail,
    matches,
    passed,
    random_mixture,
)

__all__ = [
    "check_dirichlet_expected_log_weights",
    "check_stick_breaking_expected_log_weights",
    "check_map_covariances",
]

_N_TRIALS = 5


def _name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _concentrations(rng, n_components):
    """Posterior-like concentrations: a few large counts, a few nearly empty components."""
    counts = rng.dirichlet(np.full(n_components, 0.5)) * rng.uniform(10, 500)
    return rng.uniform(0.01, 2.0) + counts


def check_dirichlet_expected_log_weights(func):
    """Check ``func(alpha) -> E[log pi]`` for ``pi ~ Dirichlet(alpha)``.

    The answer is ``digamma(alpha_k) - digamma(sum_j alpha_j)``, for every ``k``.

    Parameters
    ----------
    func : callable
        ``func(alpha)`` with ``alpha`` of shape (K,) must return an array of shape (K,).

    Raises
    ------
    SelfCheckError
        If a result differs from :func:`gmmlib.bayesian.expected_log_weights`.

    Examples
    --------
    >>> from scipy.special import digamma
    >>> from gmmlib.checks import check_dirichlet_expected_log_weights
    >>> check_dirichlet_expected_log_weights(lambda a: digamma(a) - digamma(a.sum()))
    Correct! your E[log pi_k] match gmmlib's on 5 random Dirichlet posteriors.
    """
    name = _name(func)
    rng = check_rng("check_dirichlet_expected_log_weights")
    for _ in range(_N_TRIALS):
        alpha = _concentrations(rng, int(rng.integers(2, 9)))
        got = call_reader_function(func, alpha)
        expected = bayesian.expected_log_weights(alpha, "dirichlet_distribution")
        if matches(got, np.log(alpha / alpha.sum())):
            fail(f"`{name}` returned log E[pi_k] = log(alpha_k / sum alpha), the log of the "
                 "expected weight. The E-step needs the expected LOG weight, which is smaller "
                 "(Jensen): use the digamma function, scipy.special.digamma.")
        if matches(got, digamma(alpha)):
            fail(f"`{name}` returned digamma(alpha_k) alone: subtract digamma(sum_j alpha_j), "
                 "the same number for every k.")
        if matches(got, digamma(alpha) - np.log(alpha.sum())):
            fail(f"`{name}` subtracts log(sum alpha); it should subtract digamma(sum alpha).")
        check_close(f"the values returned by `{name}`", got, expected, rtol=1e-7, atol=1e-9)
    passed(f"your E[log pi_k] match gmmlib's on {_N_TRIALS} random Dirichlet posteriors.")


def check_stick_breaking_expected_log_weights(func):
    """Check ``func(a, b) -> E[log pi]`` for stick-breaking weights.

    With ``v_k ~ Beta(a_k, b_k)`` independent and ``pi_k = v_k prod_{j<k} (1 - v_j)``:
    ``E[log pi_k] = E[log v_k] + sum_{j<k} E[log(1 - v_j)]``, where
    ``E[log v] = digamma(a) - digamma(a + b)`` and ``E[log(1 - v)] = digamma(b) - digamma(a + b)``.

    Parameters
    ----------
    func : callable
        ``func(a, b)`` with ``a``, ``b`` of shape (K,) must return an array of shape (K,).

    Raises
    ------
    SelfCheckError
        If a result differs from :func:`gmmlib.bayesian.expected_log_weights`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import digamma
    >>> from gmmlib.checks import check_stick_breaking_expected_log_weights
    >>> def stick(a, b):
    ...     take = digamma(a) - digamma(a + b)
    ...     leave = digamma(b) - digamma(a + b)
    ...     return take + np.concatenate(([0.0], np.cumsum(leave)[:-1]))
    >>> check_stick_breaking_expected_log_weights(stick)
    Correct! your E[log pi_k] match gmmlib's on 5 random stick-breaking posteriors.
    """
    name = _name(func)
    rng = check_rng("check_stick_breaking_expected_log_weights")
    for _ in range(_N_TRIALS):
        K = int(rng.integers(3, 9))
        nk = rng.dirichlet(np.full(K, 0.5)) * rng.uniform(10, 500)
        a, b = bayesian.update_weight_concentration(nk, rng.uniform(0.05, 5.0),
                                                    "dirichlet_process")
        got = call_reader_function(func, a, b)
        expected = bayesian.expected_log_weights((a, b), "dirichlet_process")
        take = digamma(a) - digamma(a + b)
        leave = digamma(b) - digamma(a + b)
        if matches(got, take):
            fail(f"`{name}` returned E[log v_k] only. Stick k gets a fraction of what the "
                 "sticks before it left over: add sum_{j<k} E[log(1 - v_j)].")
        if matches(got, take + np.cumsum(leave)):
            fail(f"`{name}` includes E[log(1 - v_k)] of stick k itself. The remainder before "
                 "stick k is the product over j < k only: shift the running sum by one place "
                 "(the first component adds nothing).")
        mean_v = a / (a + b)
        log_of_means = np.log(mean_v) + np.concatenate(([0.0], np.cumsum(np.log1p(-mean_v))[:-1]))
        if matches(got, log_of_means):
            fail(f"`{name}` used the logs of the expected fractions, log(a / (a + b)). The "
                 "E-step needs expected LOGS: digamma(a) - digamma(a + b) and "
                 "digamma(b) - digamma(a + b).")
        if matches(got, digamma(a) - digamma(a + b)
                   + np.concatenate(([0.0], np.cumsum(digamma(a) - digamma(a + b))[:-1]))):
            fail(f"`{name}` adds E[log v_j] of the earlier sticks; what is left after stick j "
                 "is the fraction 1 - v_j, so add E[log(1 - v_j)] = digamma(b_j) - "
                 "digamma(a_j + b_j).")
        check_close(f"the values returned by `{name}`", got, expected, rtol=1e-7, atol=1e-9)
    passed(f"your E[log pi_k] match gmmlib's on {_N_TRIALS} random stick-breaking posteriors.")


def check_map_covariances(func):
    """Check ``func(nk, scatter, covariance_prior, degrees_of_freedom_prior)``: MAP covariances.

    Under the inverse-Wishart prior ``IW(Psi_0, nu_0)`` the M-step of a full-covariance mixture
    gives ``Sigma_k = (Psi_0 + N_k S_k) / (nu_0 + N_k + D + 1)``.

    Parameters
    ----------
    func : callable
        ``func(nk, scatter, covariance_prior, degrees_of_freedom_prior)`` with ``nk`` of shape
        (K,), ``scatter`` (the EM covariances ``S_k``) of shape (K, D, D), ``covariance_prior``
        of shape (D, D) and a float ``degrees_of_freedom_prior`` must return shape (K, D, D).

    Raises
    ------
    SelfCheckError
        If a result differs from :func:`gmmlib.bayesian.map_covariances`.

    Examples
    --------
    >>> from gmmlib.checks import check_map_covariances
    >>> def map_cov(nk, scatter, psi, nu):
    ...     D = psi.shape[0]
    ...     return (psi + nk[:, None, None] * scatter) / (nu + nk + D + 1)[:, None, None]
    >>> check_map_covariances(map_cov)
    Correct! your MAP covariances match gmmlib's on 5 random problems.
    """
    name = _name(func)
    rng = check_rng("check_map_covariances")
    for _ in range(_N_TRIALS):
        K, D = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        _, _, scatter = random_mixture(rng, K, D, "full")
        psi = random_mixture(rng, 1, D, "full")[2][0] * rng.uniform(0.1, 3.0)
        nu = D + rng.uniform(0.5, 5.0)
        nk = rng.uniform(0.5, 80.0, size=K)
        got = call_reader_function(func, nk, scatter, psi, nu)
        expected = bayesian.map_covariances(nk, scatter, psi, nu)
        stacked = (psi + nk[:, None, None] * scatter)
        if matches(got, stacked / (nu + nk)[:, None, None]):
            fail(f"`{name}` divides by nu_0 + N_k. The mode of the posterior has "
                 "nu_0 + N_k + D + 1 in the denominator (the |Sigma|^{-(nu + D + 1)/2} of the "
                 "inverse-Wishart density).")
        if matches(got, stacked / (nu + nk - D - 1)[:, None, None]):
            fail(f"`{name}` returned the posterior MEAN of Sigma_k (denominator "
                 "nu_0 + N_k - D - 1); MAP-EM uses the posterior MODE, nu_0 + N_k + D + 1.")
        if matches(got, scatter + psi):
            fail(f"`{name}` adds Psi_0 to S_k like reg_covar. The prior's scatter and the "
                 "data's are weighted by their numbers of points: (Psi_0 + N_k S_k) / ...")
        if matches(got, (psi + scatter) / (nu + nk + D + 1)[:, None, None]):
            fail(f"`{name}` forgot to multiply S_k by N_k: the data's scatter matrix is "
                 "N_k S_k, the sum of r_nk (x_n - mu_k)(x_n - mu_k)^T.")
        check_close(f"the covariances returned by `{name}`", got, expected, rtol=1e-7,
                    atol=1e-10)
    passed(f"your MAP covariances match gmmlib's on {_N_TRIALS} random problems.")
