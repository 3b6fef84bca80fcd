"""The EM algorithm for a Gaussian mixture, written the way {ref}`ch-deriving-em` derives it.

One small function per step and per covariance type, in plain NumPy, for reading next to the
chapter. They take and return *covariances* (not precisions), shaped as in scikit-learn:

=============  ==============  =========================================
type           covariances     meaning
=============  ==============  =========================================
``full``       ``(K, D, D)``   one matrix per component
``tied``       ``(D, D)``      one matrix shared by all components
``diag``       ``(K, D)``      the diagonal of each component's matrix
``spherical``  ``(K,)``        one variance per component
=============  ==============  =========================================

:class:`gmmlib.GaussianMixture` computes the same quantities with :mod:`gmmlib.engine`, which is
organised for speed (one pass over the data in chunks, all components in one matrix product);
the tests check that both give the same numbers on all four covariance types, so the fast
code is exactly the algorithm the chapter derives. Introduced in {ref}`ch-deriving-em`.
"""

import math

import numpy as np
from scipy import linalg

from .engine import COVARIANCE_TYPES

__all__ = ["e_step", "log_component_densities", "log_likelihood", "log_mixture_density", "m_step"]

# Added to N_k so that an empty component divides by a tiny number rather than by zero (the
# same guard scikit-learn and gmmlib's estimator use).
_EMPTY_GUARD = 10 * np.finfo(np.float64).eps


def _check_X(X):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}."
        )
    return X


def _check_type(covariance_type):
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {list(COVARIANCE_TYPES)}, got {covariance_type!r}."
        )


def _not_positive_definite():
    return ValueError("A covariance is not positive definite (a variance is zero or negative, "
                      "or a matrix is singular). Add a small number to its diagonal "
                      "(reg_covar) or rescale the data.")


###############################################################################
# log N(x_n | mu_k, Sigma_k), one function per covariance type


def _log_gaussian_cholesky(X, mean, covariance):
    """``log N(x_n | mean, covariance)`` via the Cholesky factor ``covariance = L L^T``: with
    ``u = L^{-1}(x - mean)`` the quadratic form is ``u^T u`` and ``log det = 2 sum log L_ii``."""
    try:
        L = linalg.cholesky(covariance, lower=True)
    except linalg.LinAlgError:
        raise _not_positive_definite() from None
    u = linalg.solve_triangular(L, (X - mean).T, lower=True)
    D = X.shape[1]
    return -0.5 * (D * math.log(2 * math.pi) + np.sum(u**2, axis=0)) - np.sum(np.log(np.diag(L)))


def _log_densities_full(X, means, covariances):
    return np.column_stack([_log_gaussian_cholesky(X, m, c) for m, c in zip(means, covariances)])


def _log_densities_tied(X, means, covariance):
    return np.column_stack([_log_gaussian_cholesky(X, m, covariance) for m in means])


def _log_densities_diag(X, means, variances):
    """Independent coordinates: a sum of D one-dimensional log-densities per component."""
    if np.any(variances <= 0):
        raise _not_positive_definite()
    squared = (X[:, np.newaxis, :] - means[np.newaxis]) ** 2 / variances[np.newaxis]
    return -0.5 * np.sum(np.log(2 * math.pi * variances)[np.newaxis] + squared, axis=2)


def _log_densities_spherical(X, means, variances):
    """``Sigma_k = sigma_k^2 I``: the diagonal case with one variance repeated D times."""
    D = X.shape[1]
    return _log_densities_diag(X, means, np.repeat(variances[:, np.newaxis], D, axis=1))


_LOG_DENSITIES = {
    "full": _log_densities_full,
    "tied": _log_densities_tied,
    "diag": _log_densities_diag,
    "spherical": _log_densities_spherical,
}


def log_component_densities(X, means, covariances, covariance_type="full"):
    """Log-density of every sample under every component, :math:`\\log\\mathcal{N}(x_n \\mid \\mu_k, \\Sigma_k)`.

    Introduced in {ref}`ch-mixture-model`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data.
    means : array-like of shape (n_components, n_features)
        Component means :math:`\\mu_k`.
    covariances : array-like
        Component covariances :math:`\\Sigma_k`, shaped as in the module's table.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'

    Returns
    -------
    log_densities : ndarray of shape (n_samples, n_components)
        Entry ``[n, k]`` is :math:`\\log\\mathcal{N}(x_n \\mid \\mu_k, \\Sigma_k)`.

    Raises
    ------
    ValueError
        If a covariance is not positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import log_component_densities
    >>> X = np.array([[0.0, 0.0], [3.0, 0.0]])
    >>> means = np.array([[0.0, 0.0], [3.0, 0.0]])
    >>> np.round(log_component_densities(X, means, np.ones(2), "spherical"), 3)
    array([[-1.838, -6.338],
           [-6.338, -1.838]])
    """
    X = _check_X(X)
    _check_type(covariance_type)
    means = np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    return _LOG_DENSITIES[covariance_type](X, means, covariances)


###############################################################################
# The E-step


def _log_joint(X, weights, means, covariances, covariance_type):
    """``a_nk = log pi_k + log N(x_n | mu_k, Sigma_k)``, shape (n_samples, n_components)."""
    with np.errstate(divide="ignore"):  # a weight of zero is log 0 = -inf: that is correct
        log_weights = np.log(np.asarray(weights, dtype=float))
    return log_component_densities(X, means, covariances, covariance_type) + log_weights


def _log_sum_exp(a):
    """``log sum_k exp(a_nk)`` per row, with the largest term shifted out (no overflow)."""
    top = np.max(a, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.log(np.sum(np.exp(a - top), axis=1)) + top[:, 0]


def e_step(X, weights, means, covariances, covariance_type="full"):
    """E-step: the responsibilities :math:`\\gamma_{nk} = p(z_n = k \\mid x_n)`.

    .. math::

        \\gamma_{nk} = \\frac{\\pi_k \\mathcal{N}(x_n \\mid \\mu_k, \\Sigma_k)}
                            {\\sum_j \\pi_j \\mathcal{N}(x_n \\mid \\mu_j, \\Sigma_j)},

    computed from the log-densities with the log-sum-exp trick, so nothing underflows.
    Introduced in {ref}`ch-deriving-em`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    weights : array-like of shape (n_components,)
        Mixture weights :math:`\\pi_k`.
    means : array-like of shape (n_components, n_features)
    covariances : array-like
        Shaped as in the module's table.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
        Every row is non-negative and sums to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import e_step
    >>> X = np.array([[0.0], [1.5], [3.0]])
    >>> resp = e_step(X, [0.5, 0.5], [[0.0], [3.0]], [1.0, 1.0], "spherical")
    >>> np.round(resp, 3)
    array([[0.989, 0.011],
           [0.5  , 0.5  ],
           [0.011, 0.989]])
    """
    a = _log_joint(X, weights, means, covariances, covariance_type)
    with np.errstate(under="ignore"):
        return np.exp(a - _log_sum_exp(a)[:, np.newaxis])


###############################################################################
# The M-step, one function per covariance type


def _scatter(X, resp_k, mean_k):
    """``sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T``: each outer product weighted."""
    difference = X - mean_k
    return (resp_k[:, np.newaxis] * difference).T @ difference


def _covariances_full(X, resp, Nk, means):
    """Sigma_k = sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T / N_k."""
    return np.stack([_scatter(X, resp[:, k], means[k]) / Nk[k] for k in range(len(Nk))])


def _covariances_tied(X, resp, Nk, means):
    """One Sigma for all: the components' scatter pooled, divided by N = sum_k N_k."""
    return sum(_scatter(X, resp[:, k], means[k]) for k in range(len(Nk))) / np.sum(Nk)


def _covariances_diag(X, resp, Nk, means):
    """Only the diagonal: sum_n gamma_nk (x_nd - mu_kd)^2 / N_k for every feature d."""
    return np.stack([resp[:, k] @ (X - means[k]) ** 2 / Nk[k] for k in range(len(Nk))])


def _covariances_spherical(X, resp, Nk, means):
    """One variance per component: the mean over features of the diagonal variances."""
    return _covariances_diag(X, resp, Nk, means).mean(axis=1)


_COVARIANCES = {
    "full": _covariances_full,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "spherical": _covariances_spherical,
}


def _add_to_diagonal(covariances, value, covariance_type):
    if covariance_type == "full":
        return covariances + value * np.eye(covariances.shape[-1])
    if covariance_type == "tied":
        return covariances + value * np.eye(len(covariances))
    return covariances + value


def m_step(X, resp, covariance_type="full", reg_covar=0.0):
    """M-step: the weights, means and covariances that maximise the expected log-likelihood.

    With :math:`N_k = \\sum_n \\gamma_{nk}`:

    .. math::

        \\pi_k = \\frac{N_k}{N}, \\quad
        \\mu_k = \\frac{1}{N_k}\\sum_n \\gamma_{nk} x_n, \\quad
        \\Sigma_k = \\frac{1}{N_k}\\sum_n \\gamma_{nk}(x_n - \\mu_k)(x_n - \\mu_k)^\\top
                   + \\text{reg\\_covar}\\, I .

    ``tied`` pools the components' scatter into one matrix, ``diag`` keeps the diagonal and
    ``spherical`` the mean of the diagonal. :math:`N_k` gets ``10 * eps`` added, so an empty
    component divides by a tiny number rather than zero (as in scikit-learn).
    Introduced in {ref}`ch-deriving-em`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    resp : array-like of shape (n_samples, n_components)
        Responsibilities :math:`\\gamma_{nk}`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    reg_covar : float, default=0.0
        Non-negative number added to the diagonal of each covariance.

    Returns
    -------
    weights : ndarray of shape (n_components,)
        Summing to 1.
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shaped as in the module's table.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import m_step
    >>> X = np.array([[0.0], [2.0], [10.0], [12.0]])
    >>> resp = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> weights, means, covariances = m_step(X, resp, "spherical")
    >>> weights, means.ravel(), np.round(covariances, 6)
    (array([0.5, 0.5]), array([ 1., 11.]), array([1., 1.]))
    """
    X = _check_X(X)
    _check_type(covariance_type)
    resp = np.asarray(resp, dtype=float)
    if resp.ndim != 2 or resp.shape[0] != X.shape[0]:
        raise ValueError(
            f"resp must have shape (n_samples, n_components) = ({X.shape[0]}, K), "
            f"got {resp.shape}."
        )
    if reg_covar < 0:
        raise ValueError(f"reg_covar must be non-negative, got {reg_covar}.")
    Nk = resp.sum(axis=0) + _EMPTY_GUARD
    means = resp.T @ X / Nk[:, np.newaxis]
    covariances = _COVARIANCES[covariance_type](X, resp, Nk, means)
    return Nk / np.sum(Nk), means, _add_to_diagonal(covariances, reg_covar, covariance_type)


###############################################################################
# The log-likelihood


def log_mixture_density(X, weights, means, covariances, covariance_type="full"):
    """Log of the mixture density at each sample, ``log p(x_n) = log sum_k pi_k N(x_n | mu_k, Sigma_k)``.

    Computed with the log-sum-exp trick, so points far from every component get a finite
    (very negative) value rather than ``log(0)``. Introduced in {ref}`ch-mixture-model`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    weights : array-like of shape (n_components,)
    means : array-like of shape (n_components, n_features)
    covariances : array-like
        Shaped as in the module's table.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        ``log p(x_n)`` for each row; their sum is :func:`log_likelihood`.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import log_mixture_density
    >>> log_mixture_density(np.zeros((2, 1)), [0.5, 0.5], [[0.0], [0.0]], [1.0, 1.0], "spherical").round(4)
    array([-0.9189, -0.9189])
    """
    return _log_sum_exp(_log_joint(X, weights, means, covariances, covariance_type))


def log_likelihood(X, weights, means, covariances, covariance_type="full"):
    """Total log-likelihood :math:`\\ell(\\theta) = \\sum_n \\log \\sum_k \\pi_k \\mathcal{N}(x_n \\mid \\mu_k, \\Sigma_k)`.

    The *total* over the samples; divide by ``len(X)`` for the per-sample value that
    :meth:`gmmlib.GaussianMixture.score` returns. Introduced in {ref}`ch-mixture-model`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    weights : array-like of shape (n_components,)
    means : array-like of shape (n_components, n_features)
    covariances : array-like
        Shaped as in the module's table.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import log_likelihood
    >>> X = np.zeros((3, 2))
    >>> round(log_likelihood(X, [1.0], [[0.0, 0.0]], [1.0], "spherical"), 4)  # 3 * -log(2 pi)
    -5.5136
    """
    return float(np.sum(log_mixture_density(X, weights, means, covariances, covariance_type)))
