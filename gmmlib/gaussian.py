"""One multivariate Gaussian: log-density, maximum likelihood, distance and sampling.

Every function goes through the Cholesky factor :math:`L` of the covariance
(:math:`\\Sigma = L L^\\top`): solving :math:`L z = x - \\mu` gives the whitened point
:math:`z`, whose squared length is the squared Mahalanobis distance, and
:math:`\\log\\det\\Sigma = 2 \\sum_i \\log L_{ii}`. No matrix is ever inverted.

Introduced in {ref}`ch-one-gaussian`.
"""

import math

import numpy as np
from scipy import linalg
from sklearn.utils import check_random_state

__all__ = ["fit_gaussian", "log_pdf", "mahalanobis", "sample_gaussian"]


def _as_2d(X):
    """Samples as a float array of shape (n_samples, n_features)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}. "
            "Use X.reshape(-1, 1) for a single feature."
        )
    return X


def _mean_and_cholesky(mean, covariance, n_features):
    """Check ``mean`` (D,) and ``covariance`` (D, D); return the mean and the Cholesky factor."""
    mean = np.asarray(mean, dtype=float)
    covariance = np.asarray(covariance, dtype=float)
    if mean.shape != (n_features,):
        raise ValueError(f"mean must have shape ({n_features},), got {mean.shape}.")
    if covariance.shape != (n_features, n_features):
        raise ValueError(
            f"covariance must have shape ({n_features}, {n_features}), got {covariance.shape}."
        )
    try:
        chol = linalg.cholesky(covariance, lower=True)
    except linalg.LinAlgError:
        raise ValueError(
            "covariance is not positive definite (it must be symmetric with positive "
            "eigenvalues). Add a small number to its diagonal or scale the data."
        ) from None
    return mean, chol


def _whiten(X, mean, covariance):
    """Whitened points ``z_n = L^{-1} (x_n - mean)`` (n_samples, D) and the factor ``L``."""
    X = _as_2d(X)
    mean, chol = _mean_and_cholesky(mean, covariance, X.shape[1])
    Z = linalg.solve_triangular(chol, (X - mean).T, lower=True).T
    return Z, chol


def log_pdf(X, mean, covariance):
    """Log-density of a multivariate Gaussian at each sample, via the Cholesky factor.

    .. math::

        \\log \\mathcal{N}(x_n \\mid \\mu, \\Sigma) = -\\tfrac{1}{2}\\left(D \\log 2\\pi
        + \\log\\det\\Sigma + (x_n - \\mu)^\\top \\Sigma^{-1} (x_n - \\mu)\\right)

    Introduced in {ref}`ch-one-gaussian`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points at which to evaluate the density.
    mean : array-like of shape (n_features,)
        Mean :math:`\\mu`.
    covariance : array-like of shape (n_features, n_features)
        Covariance :math:`\\Sigma`, symmetric positive definite.

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
        :math:`\\log \\mathcal{N}(x_n \\mid \\mu, \\Sigma)` for each row of ``X``.

    Raises
    ------
    ValueError
        If the shapes do not match or ``covariance`` is not positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.gaussian import log_pdf
    >>> log_pdf(np.zeros((1, 2)), mean=np.zeros(2), covariance=np.eye(2))  # -log(2 pi)
    array([-1.83787707])
    """
    Z, chol = _whiten(X, mean, covariance)
    n_features = Z.shape[1]
    half_log_det = np.sum(np.log(np.diag(chol)))
    return -0.5 * (n_features * math.log(2 * math.pi) + np.sum(Z**2, axis=1)) - half_log_det


def mahalanobis(X, mean, covariance):
    """Mahalanobis distance of each sample to the mean (not squared).

    :math:`\\sqrt{(x_n - \\mu)^\\top \\Sigma^{-1} (x_n - \\mu)}`, the length of the whitened
    point :math:`L^{-1}(x_n - \\mu)`.

    Introduced in {ref}`ch-one-gaussian`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points.
    mean : array-like of shape (n_features,)
        Mean :math:`\\mu`.
    covariance : array-like of shape (n_features, n_features)
        Covariance :math:`\\Sigma`, symmetric positive definite.

    Returns
    -------
    distance : ndarray of shape (n_samples,)
        Non-negative distances.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.gaussian import mahalanobis
    >>> mahalanobis([[3.0, 0.0], [0.0, 3.0]], mean=[0.0, 0.0], covariance=np.diag([9.0, 1.0]))
    array([1., 3.])
    """
    Z, _ = _whiten(X, mean, covariance)
    return np.sqrt(np.sum(Z**2, axis=1))


def fit_gaussian(X):
    """Maximum-likelihood mean and covariance of a single Gaussian.

    :math:`\\hat\\mu = \\frac{1}{N}\\sum_n x_n` and
    :math:`\\hat\\Sigma = \\frac{1}{N}\\sum_n (x_n - \\hat\\mu)(x_n - \\hat\\mu)^\\top`
    (divides by :math:`N`, not :math:`N - 1`).

    Introduced in {ref}`ch-one-gaussian`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, one sample per row.

    Returns
    -------
    mean : ndarray of shape (n_features,)
        Sample mean.
    covariance : ndarray of shape (n_features, n_features)
        Maximum-likelihood covariance.

    Examples
    --------
    >>> from gmmlib.gaussian import fit_gaussian
    >>> mean, covariance = fit_gaussian([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> mean
    array([1., 1.])
    >>> covariance
    array([[1., 0.],
           [0., 1.]])
    """
    X = _as_2d(X)
    if X.shape[0] < 1:
        raise ValueError("X must contain at least one sample.")
    mean = X.mean(axis=0)
    diff = X - mean
    return mean, diff.T @ diff / X.shape[0]


def sample_gaussian(mean, covariance, n_samples, random_state=None):
    """Draw samples from a multivariate Gaussian via the Cholesky factor.

    With :math:`\\Sigma = L L^\\top` and :math:`z \\sim \\mathcal{N}(0, I)`, the point
    :math:`x = \\mu + L z` has mean :math:`\\mu` and covariance :math:`\\Sigma`.

    Introduced in {ref}`ch-one-gaussian`.

    Parameters
    ----------
    mean : array-like of shape (n_features,)
        Mean :math:`\\mu`.
    covariance : array-like of shape (n_features, n_features)
        Covariance :math:`\\Sigma`, symmetric positive definite.
    n_samples : int
        Number of samples to draw.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, default=None
        Seed or generator.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.gaussian import sample_gaussian
    >>> X = sample_gaussian([0.0, 5.0], [[1.0, 0.8], [0.8, 1.0]], 10_000, random_state=0)
    >>> X.shape
    (10000, 2)
    >>> bool(np.allclose(X.mean(axis=0), [0.0, 5.0], atol=0.05))
    True
    """
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    mean, chol = _mean_and_cholesky(mean, covariance, mean.shape[0])
    if random_state is None or not isinstance(random_state, np.random.Generator):
        random_state = check_random_state(random_state)
    Z = random_state.standard_normal(size=(int(n_samples), mean.shape[0]))
    return mean + Z @ chol.T
