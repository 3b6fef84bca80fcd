"""Per-covariance-type mathematics of a Gaussian mixture (private).

This module holds the arithmetic shared by the estimator (:mod:`gmmlib.mixture`) and the
textbook functions (:mod:`gmmlib.em`), so that it is written once. It follows the layout of
scikit-learn's ``sklearn/mixture/_gaussian_mixture.py`` and performs the same floating-point
operations in the same order, which is what makes ``gmmlib`` agree with scikit-learn to
rounding error:

1. M-step estimators: one small function per covariance type, chosen by a dict.
2. Cholesky factors of the precisions (what the estimator stores) and conversions.
3. Log-probability estimators: one small function per covariance type, chosen by a dict.

Shapes of the covariance-like arrays, by ``covariance_type``:

=============  ===========================================
``full``       ``(n_components, n_features, n_features)``
``tied``       ``(n_features, n_features)``
``diag``       ``(n_components, n_features)``
``spherical``  ``(n_components,)``
=============  ===========================================
"""

import math

import numpy as np
from scipy import linalg

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

ILL_DEFINED_COVARIANCE_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples: duplicate points or a "
    "constant column). Try to decrease the number of components, increase reg_covar, or scale "
    "the input data."
)


_controller = None


def blas_single_thread():
    """Context manager holding the BLAS libraries to one thread.

    The BLAS calls of one EM step are tiny (a D x D triangular solve) or thin; a
    multi-threaded OpenBLAS spends far longer waking its threads than computing -- we
    measured 11 ms instead of 0.07 ms for a 5 x 5 triangular solve on a busy 2-core
    machine. Entering the context costs about 10 microseconds.
    """
    return _one_thread("blas")


def openmp_single_thread():
    """Context manager holding OpenMP (scikit-learn's k-means) to one thread.

    The k-means initialisation runs on data of a few thousand rows, where two OpenMP threads
    mostly wait for each other: KMeans(8) on 1,500 points took 0.65 s with two threads and
    0.01 s with one on a busy 2-core machine. scikit-learn's k-means gives the same result for
    any number of threads, so this changes the time only.
    """
    return _one_thread("openmp")


def _one_thread(user_api):
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None:  # inspecting the loaded libraries is slow: do it once
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api=user_api)


def check_covariance_type(covariance_type):
    """Raise a ValueError naming the allowed values if ``covariance_type`` is unknown."""
    if not isinstance(covariance_type, str) or covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {list(COVARIANCE_TYPES)}, got {covariance_type!r}."
        )


###############################################################################
# M-step: parameters from responsibilities


def _covariances_full(resp, X, nk, means, reg_covar):
    """Full covariances, shape (n_components, n_features, n_features)."""
    n_components, n_features = means.shape
    covariances = np.empty((n_components, n_features, n_features), dtype=X.dtype)
    for k in range(n_components):
        diff = X - means[k]
        covariances[k] = (resp[:, k] * diff.T) @ diff / nk[k]
        covariances[k].flat[:: n_features + 1] += reg_covar
    return covariances


def _covariances_tied(resp, X, nk, means, reg_covar):
    """Tied covariance, shape (n_features, n_features)."""
    avg_X2 = X.T @ X
    avg_means2 = nk * means.T @ means
    covariance = avg_X2 - avg_means2
    covariance /= np.sum(nk)
    covariance.flat[:: len(covariance) + 1] += reg_covar
    return covariance


def _covariances_diag(resp, X, nk, means, reg_covar):
    """Diagonal covariances, shape (n_components, n_features)."""
    avg_X2 = (resp.T @ (X * X)) / nk[:, np.newaxis]
    avg_means2 = means**2
    return avg_X2 - avg_means2 + reg_covar


def _covariances_spherical(resp, X, nk, means, reg_covar):
    """Spherical variances, shape (n_components,)."""
    return np.mean(_covariances_diag(resp, X, nk, means, reg_covar), axis=1)


_COVARIANCE_ESTIMATORS = {
    "full": _covariances_full,
    "tied": _covariances_tied,
    "diag": _covariances_diag,
    "spherical": _covariances_spherical,
}


def estimate_gaussian_parameters(X, resp, reg_covar, covariance_type):
    """Weighted counts, means and covariances of the components (the M-step sums).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities.
    reg_covar : float
        Non-negative number added to the diagonal of each covariance.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.

    Returns
    -------
    nk : ndarray of shape (n_components,)
        Effective number of points per component, plus ``10 * eps`` so that an empty
        component does not divide by zero (as in scikit-learn).
    means : ndarray of shape (n_components, n_features)
        Weighted means.
    covariances : ndarray
        Weighted covariances; shape depends on ``covariance_type``.
    """
    nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
    means = (resp.T @ X) / nk[:, np.newaxis]
    covariances = _COVARIANCE_ESTIMATORS[covariance_type](resp, X, nk, means, reg_covar)
    return nk, means, covariances


###############################################################################
# Cholesky factors of the precisions


def compute_precision_cholesky(covariances, covariance_type):
    """Cholesky factors of the precision matrices, from the covariances.

    For full and tied covariances the factor is the upper-triangular ``U`` with
    ``precision = U @ U.T`` (``U = inv(L).T`` where ``covariance = L @ L.T``); for diag and
    spherical it is ``1 / sqrt(covariance)``.

    Parameters
    ----------
    covariances : ndarray
        Covariances; shape depends on ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as ``covariances``.

    Raises
    ------
    ValueError
        If a covariance is not positive definite.
    """
    message = ILL_DEFINED_COVARIANCE_MESSAGE
    if covariances.dtype == np.float32:
        message += (
            " The numerical accuracy can also be improved by passing float64 data instead "
            "of float32."
        )
    # Overflow (finite data whose squares exceed the float range, |x| ~ 1e160) gives inf/NaN
    # covariances: report it like a collapse (the hint to scale the data applies), rather than
    # returning NaN parameters (diag, spherical) or scipy's "array must not contain infs".
    if not np.all(np.isfinite(covariances)):
        raise ValueError(message)
    if covariance_type in ("full", "tied"):
        stacked = covariances if covariance_type == "full" else covariances[np.newaxis]
        n_features = stacked.shape[-1]
        eye = np.eye(n_features, dtype=covariances.dtype)
        precisions_chol = np.empty_like(stacked)
        with blas_single_thread():
            for k, covariance in enumerate(stacked):
                try:
                    cov_chol = linalg.cholesky(covariance, lower=True)
                except linalg.LinAlgError:
                    raise ValueError(message) from None
                precisions_chol[k] = linalg.solve_triangular(cov_chol, eye, lower=True).T
        return precisions_chol if covariance_type == "full" else precisions_chol[0]
    if np.any(covariances <= 0.0):
        raise ValueError(message)
    return 1.0 / np.sqrt(covariances)


def _flipudlr(array):
    """Reverse the rows and the columns of a matrix."""
    return np.flip(np.flip(array, axis=1), axis=0)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular Cholesky factors ``U`` with ``precision = U @ U.T``, from precisions.

    Reversing rows and columns turns the upper factorisation into an ordinary (lower)
    Cholesky factorisation, as scikit-learn does.

    Parameters
    ----------
    precisions : ndarray
        Precisions; shape depends on ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.

    Returns
    -------
    precisions_cholesky : ndarray
        Same shape as ``precisions``.
    """
    with blas_single_thread():
        if covariance_type == "full":
            return np.stack([_flipudlr(np.linalg.cholesky(_flipudlr(p))) for p in precisions])
        if covariance_type == "tied":
            return _flipudlr(np.linalg.cholesky(_flipudlr(precisions)))
    return np.sqrt(precisions)


def precisions_from_cholesky(precisions_chol, covariance_type):
    """Precisions ``U @ U.T`` (full, tied) or ``U**2`` (diag, spherical)."""
    if covariance_type == "full":
        return np.matmul(precisions_chol, np.swapaxes(precisions_chol, 1, 2))
    if covariance_type == "tied":
        return precisions_chol @ precisions_chol.T
    return precisions_chol**2


def covariances_from_cholesky(precisions_chol, covariance_type):
    """Covariances from the precision Cholesky factors (the inverse of the precisions).

    Used when the model is initialised from ``precisions_init``, where scikit-learn leaves
    the covariances undefined until the first M-step.
    """
    if covariance_type in ("full", "tied"):
        stacked = precisions_chol if covariance_type == "full" else precisions_chol[np.newaxis]
        eye = np.eye(stacked.shape[-1], dtype=stacked.dtype)
        # precision = U U^T, so covariance = U^{-T} U^{-1} = V^T V with V = U^{-1}
        with blas_single_thread():
            inv = np.stack([linalg.solve_triangular(u, eye, lower=False) for u in stacked])
        covariances = np.matmul(np.swapaxes(inv, 1, 2), inv)
        return covariances if covariance_type == "full" else covariances[0]
    return 1.0 / precisions_chol**2


###############################################################################
# Log-probabilities log N(x_n | mu_k, Sigma_k)


def compute_log_det_cholesky(precisions_chol, covariance_type, n_features):
    """Log-determinant of the precision Cholesky factors, i.e. ``-0.5 * log det(Sigma_k)``.

    Returns
    -------
    log_det : ndarray of shape (n_components,) or float (tied)
    """
    if covariance_type == "full":
        n_components = precisions_chol.shape[0]
        return np.sum(
            np.log(precisions_chol.reshape(n_components, -1)[:, :: n_features + 1]), axis=1
        )
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(precisions_chol)))
    if covariance_type == "diag":
        return np.sum(np.log(precisions_chol), axis=1)
    return n_features * np.log(precisions_chol)


def _squared_mahalanobis_full(X, means, precisions_chol):
    out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
    for k, (mu, prec_chol) in enumerate(zip(means, precisions_chol)):
        y = X @ prec_chol - mu @ prec_chol
        out[:, k] = np.sum(np.square(y), axis=1)
    return out


def _squared_mahalanobis_tied(X, means, precisions_chol):
    out = np.empty((X.shape[0], means.shape[0]), dtype=X.dtype)
    for k, mu in enumerate(means):
        y = X @ precisions_chol - mu @ precisions_chol
        out[:, k] = np.sum(np.square(y), axis=1)
    return out


def _squared_mahalanobis_diag(X, means, precisions_chol):
    precisions = precisions_chol**2
    return (
        np.sum(means**2 * precisions, axis=1)
        - 2.0 * (X @ (means * precisions).T)
        + (X**2 @ precisions.T)
    )


def _squared_mahalanobis_spherical(X, means, precisions_chol):
    precisions = precisions_chol**2
    return (
        np.sum(means**2, axis=1) * precisions
        - 2 * (X @ means.T * precisions)
        + np.outer(np.einsum("ij,ij->i", X, X), precisions)
    )


_SQUARED_MAHALANOBIS = {
    "full": _squared_mahalanobis_full,
    "tied": _squared_mahalanobis_tied,
    "diag": _squared_mahalanobis_diag,
    "spherical": _squared_mahalanobis_spherical,
}


def estimate_log_gaussian_prob(X, means, precisions_chol, covariance_type):
    """Log-density of every sample under every component, ``log N(x_n | mu_k, Sigma_k)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    means : ndarray of shape (n_components, n_features)
        Component means.
    precisions_chol : ndarray
        Cholesky factors of the precisions; shape depends on ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.

    Returns
    -------
    log_prob : ndarray of shape (n_samples, n_components)
    """
    n_features = X.shape[1]
    # det(precision_chol) = det(precision) ** 0.5, so -0.5 * log det(Sigma) = log det(U)
    log_det = compute_log_det_cholesky(precisions_chol, covariance_type, n_features)
    squared = _SQUARED_MAHALANOBIS[covariance_type](X, means, precisions_chol)
    return -0.5 * (n_features * math.log(2 * math.pi) + squared) + log_det


def logsumexp_rows(a):
    """``log(sum(exp(a), axis=1))`` for an (n_samples, n_components) array, without overflow.

    The row maximum is subtracted before ``exp`` (the log-sum-exp trick).
    """
    a_max = np.max(a, axis=1, keepdims=True)
    shift = np.where(np.isfinite(a_max), a_max, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        out = np.log(np.sum(np.exp(a - shift), axis=1)) + shift[:, 0]
    return out


###############################################################################
# One EM iteration, written plainly (the reference the fast path must reproduce)


def em_iteration_reference(X, weights, means, precisions_chol, covariance_type, reg_covar):
    """One E-step followed by one M-step, exactly as scikit-learn performs them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    weights : ndarray of shape (n_components,)
        Current mixture weights.
    means : ndarray of shape (n_components, n_features)
        Current means.
    precisions_chol : ndarray
        Current precision Cholesky factors; shape depends on ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.
    reg_covar : float
        Added to the diagonal of the new covariances.

    Returns
    -------
    weights, means, covariances, precisions_chol : ndarray
        The parameters after the M-step.
    mean_log_likelihood : float
        Mean per-sample log-likelihood of the parameters *before* the M-step.
    """
    weighted_log_prob = estimate_log_gaussian_prob(
        X, means, precisions_chol, covariance_type
    ) + np.log(weights)
    log_prob_norm = logsumexp_rows(weighted_log_prob)
    with np.errstate(under="ignore"):
        resp = np.exp(weighted_log_prob - log_prob_norm[:, np.newaxis])
    nk, new_means, covariances = estimate_gaussian_parameters(
        X, resp, reg_covar, covariance_type
    )
    new_weights = nk / np.sum(nk)
    new_precisions_chol = compute_precision_cholesky(covariances, covariance_type)
    return new_weights, new_means, covariances, new_precisions_chol, np.mean(log_prob_norm)
