"""The EM algorithm for a Gaussian mixture, one small function per step.

These functions take and return *covariances* (not precisions), in scikit-learn's shapes:

=============  ==============================  =========================================
type           covariances shape               meaning
=============  ==============================  =========================================
``full``       ``(K, D, D)``                   one matrix per component
``tied``       ``(D, D)``                      one matrix shared by all components
``diag``       ``(K, D)``                      the diagonal of each component's matrix
``spherical``  ``(K,)``                        one variance per component
=============  ==============================  =========================================

They share their arithmetic with :class:`gmmlib.GaussianMixture`, so one E-step followed by
one M-step here gives exactly the estimator's next parameters. Introduced in
{ref}`ch-deriving-em`.
"""

import numpy as np

from . import _estimation as est

__all__ = ["e_step", "log_component_densities", "log_likelihood", "log_mixture_density", "m_step"]


def _check_X(X):
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}."
        )
    return X


def _weighted_log_densities(X, weights, means, covariances, covariance_type):
    """``log pi_k + log N(x_n | mu_k, Sigma_k)``, shape (n_samples, n_components)."""
    weights = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore"):  # a zero weight gives log 0 = -inf, which is fine
        return log_component_densities(X, means, covariances, covariance_type) + np.log(weights)


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
        Component covariances :math:`\\Sigma_k`; shape ``(K, D, D)`` (full), ``(D, D)``
        (tied), ``(K, D)`` (diag) or ``(K,)`` (spherical).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.

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
    est.check_covariance_type(covariance_type)
    means = np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    precisions_chol = est.compute_precision_cholesky(covariances, covariance_type)
    return est.estimate_log_gaussian_prob(X, means, precisions_chol, covariance_type)


def e_step(X, weights, means, covariances, covariance_type="full"):
    """E-step: the responsibilities :math:`\\gamma_{nk} = p(z_n = k \\mid x_n)`.

    .. math::

        \\gamma_{nk} = \\frac{\\pi_k \\mathcal{N}(x_n \\mid \\mu_k, \\Sigma_k)}
                            {\\sum_j \\pi_j \\mathcal{N}(x_n \\mid \\mu_j, \\Sigma_j)},

    computed in log space with the log-sum-exp trick so that nothing underflows.
    Introduced in {ref}`ch-deriving-em`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data.
    weights : array-like of shape (n_components,)
        Mixture weights :math:`\\pi_k`.
    means : array-like of shape (n_components, n_features)
        Component means.
    covariances : array-like
        Component covariances; shape ``(K, D, D)`` (full), ``(D, D)`` (tied), ``(K, D)``
        (diag) or ``(K,)`` (spherical).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities; each row is non-negative and sums to 1.

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
    weighted = _weighted_log_densities(X, weights, means, covariances, covariance_type)
    log_norm = est.logsumexp_rows(weighted)
    with np.errstate(under="ignore"):
        return np.exp(weighted - log_norm[:, np.newaxis])


def m_step(X, resp, covariance_type="full", reg_covar=0.0):
    """M-step: weights, means and covariances that maximise the expected log-likelihood.

    With :math:`N_k = \\sum_n \\gamma_{nk}`:

    .. math::

        \\pi_k = \\frac{N_k}{N}, \\quad
        \\mu_k = \\frac{1}{N_k}\\sum_n \\gamma_{nk} x_n, \\quad
        \\Sigma_k = \\frac{1}{N_k}\\sum_n \\gamma_{nk}(x_n - \\mu_k)(x_n - \\mu_k)^\\top
                   + \\text{reg\\_covar}\\, I .

    ``tied`` pools the covariances (weighted by :math:`N_k/N`), ``diag`` keeps the diagonal
    and ``spherical`` the mean of the diagonal. As in scikit-learn, :math:`N_k` gets a tiny
    ``10 * eps`` so that an empty component does not divide by zero.
    Introduced in {ref}`ch-deriving-em`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data.
    resp : array-like of shape (n_samples, n_components)
        Responsibilities :math:`\\gamma_{nk}`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.
    reg_covar : float, default=0.0
        Non-negative number added to the diagonal of each covariance.

    Returns
    -------
    weights : ndarray of shape (n_components,)
        Mixture weights, summing to 1.
    means : ndarray of shape (n_components, n_features)
        Component means.
    covariances : ndarray
        Component covariances; shape ``(K, D, D)`` (full), ``(D, D)`` (tied), ``(K, D)``
        (diag) or ``(K,)`` (spherical).

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
    est.check_covariance_type(covariance_type)
    resp = np.asarray(resp, dtype=float)
    if resp.ndim != 2 or resp.shape[0] != X.shape[0]:
        raise ValueError(
            f"resp must have shape (n_samples, n_components) = ({X.shape[0]}, K), "
            f"got {resp.shape}."
        )
    if reg_covar < 0:
        raise ValueError(f"reg_covar must be non-negative, got {reg_covar}.")
    nk, means, covariances = est.estimate_gaussian_parameters(X, resp, reg_covar, covariance_type)
    return nk / np.sum(nk), means, covariances


def log_mixture_density(X, weights, means, covariances, covariance_type="full"):
    """Log of the mixture density at each sample, ``log p(x_n) = log sum_k pi_k N(x_n | mu_k, Sigma_k)``.

    Computed with the log-sum-exp trick, so points far from every component get a finite
    (very negative) value rather than ``log(0)``. Introduced in {ref}`ch-mixture-model`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data.
    weights : array-like of shape (n_components,)
        Mixture weights.
    means : array-like of shape (n_components, n_features)
        Component means.
    covariances : array-like
        Component covariances, shaped as for :func:`log_component_densities`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        ``log p(x_n)`` for each row of ``X``; its sum is :func:`log_likelihood`.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import log_mixture_density
    >>> log_mixture_density(np.zeros((2, 1)), [0.5, 0.5], [[0.0], [0.0]], [1.0, 1.0], "spherical").round(4)
    array([-0.9189, -0.9189])
    """
    weighted = _weighted_log_densities(X, weights, means, covariances, covariance_type)
    return est.logsumexp_rows(weighted)


def log_likelihood(X, weights, means, covariances, covariance_type="full"):
    """Total log-likelihood :math:`\\ell(\\theta) = \\sum_n \\log \\sum_k \\pi_k \\mathcal{N}(x_n \\mid \\mu_k, \\Sigma_k)`.

    The inner sum is computed with the log-sum-exp trick. This is the *total* over the
    samples; divide by ``len(X)`` for the per-sample value that
    :meth:`gmmlib.GaussianMixture.score` returns. Introduced in {ref}`ch-mixture-model`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data.
    weights : array-like of shape (n_components,)
        Mixture weights.
    means : array-like of shape (n_components, n_features)
        Component means.
    covariances : array-like
        Component covariances; shape ``(K, D, D)`` (full), ``(D, D)`` (tied), ``(K, D)``
        (diag) or ``(K,)`` (spherical).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.

    Returns
    -------
    log_likelihood : float
        Sum over the samples of the log mixture density.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.em import log_likelihood
    >>> X = np.zeros((3, 2))
    >>> round(log_likelihood(X, [1.0], [[0.0, 0.0]], [1.0], "spherical"), 4)  # 3 * -log(2 pi)
    -5.5136
    """
    return float(np.sum(log_mixture_density(X, weights, means, covariances, covariance_type)))
