"""Online (stepwise) EM for streams: :class:`MiniBatchGaussianMixture`.

Introduced in {ref}`ch-scaling-em`.

Batch EM reads all the data for every iteration. Stepwise EM (Sato & Ishii 2000; Cappé &
Moulines 2009; Liang & Klein 2009) instead keeps a running average of the *per-sample*
sufficient statistics and updates it after every mini-batch,

.. math:: s \\leftarrow (1 - \\rho_t)\\, s + \\rho_t\\, \\hat s_{\\text{batch}},
   \\qquad \\rho_t = (t + \\tau)^{-\\kappa},

(``learning_offset`` :math:`\\tau`, ``learning_decay`` :math:`\\kappa \\in (0.5, 1]`), then
recomputes the parameters from :math:`s` with the ordinary M-step. The statistics, the E-step
and the M-step are those of the batch fit (:mod:`gmmlib._fast`).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from . import _estimation as est
from . import _fast
from .mixture import (
    INIT_PARAMS,
    GaussianMixture,
    InvalidParameterError,
    _check_param,
    _check_sample_weight,
)
from .scaling import _chunk_statistics, _split, default_chunk_size, init_sample_indices

__all__ = ["MiniBatchGaussianMixture"]


def _scaled(stats, factor):
    """Statistics multiplied by a number (the log-likelihood and count included)."""
    return _fast.SufficientStatistics(
        stats.n_samples * factor,
        stats.log_likelihood * factor,
        stats.nk * factor,
        stats.sx * factor,
        stats.sxx * factor,
    )


class MiniBatchGaussianMixture(GaussianMixture):
    """Gaussian mixture fitted by online (stepwise) EM on mini-batches.

    Modelled on :class:`sklearn.cluster.MiniBatchKMeans`: :meth:`partial_fit` takes one
    mini-batch (a stream), :meth:`fit` runs ``max_iter`` epochs of shuffled mini-batches.
    After each mini-batch the running per-sample sufficient statistics are updated,
    ``s <- (1 - rho_t) s + rho_t s_batch`` with ``rho_t = (t + learning_offset) **
    (-learning_decay)``, and the parameters are recomputed from ``s``. Prediction, scoring,
    sampling, BIC and AIC are those of :class:`GaussianMixture`. Introduced in
    {ref}`ch-scaling-em`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components :math:`K`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    batch_size : int, default=1024
        Rows per mini-batch in :meth:`fit`.
    max_iter : int, default=10
        Number of epochs (passes over the data) of :meth:`fit`.
    learning_decay : float, default=0.6
        Exponent :math:`\\kappa` of the step size; in (0.5, 1] the steps satisfy the
        Robbins-Monro conditions.
    learning_offset : float, default=10.0
        Offset :math:`\\tau` of the step size (> 0); larger values damp the early steps.
    tol : float, default=1e-3
        :meth:`fit` stops when the epoch's mean mini-batch log-likelihood changes by less.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Initialisation, run on the first mini-batch (:meth:`partial_fit`) or on at most
        :data:`gmmlib.scaling.INIT_SAMPLE_SIZE` evenly spaced rows (:meth:`fit`).
    weights_init, means_init, precisions_init : array-like, default=None
        Initial parameters, as for :class:`GaussianMixture`.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, the shuffling and the default seed of :meth:`sample`.
    verbose : int, default=0
        1 prints the mean log-likelihood of every epoch.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        As for :class:`GaussianMixture`.
    converged_ : bool
        Whether :meth:`fit` stopped on ``tol`` (always False after :meth:`partial_fit`).
    n_iter_ : int
        Epochs done by :meth:`fit`.
    n_steps_ : int
        Mini-batch updates done so far.
    lower_bound_ : float
        Mean log-likelihood of the last epoch (:meth:`fit`) or mini-batch (:meth:`partial_fit`),
        each batch scored with the parameters before its update.
    lower_bounds_ : list of float
        ``lower_bound_`` of every epoch of :meth:`fit`.
    n_features_in_ : int
        Number of features seen during fitting.

    See Also
    --------
    GaussianMixture : Batch EM.
    sklearn.cluster.MiniBatchKMeans : The API this estimator follows.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib import MiniBatchGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, (500, 2)), rng.normal(3, 1, (500, 2))])
    >>> model = MiniBatchGaussianMixture(2, batch_size=100, random_state=0).fit(X)
    >>> np.round(np.sort(model.means_[:, 0]))
    array([-3.,  3.])
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        reg_covar=1e-6,
        batch_size=1024,
        max_iter=10,
        learning_decay=0.6,
        learning_offset=10.0,
        tol=1e-3,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.tol = tol
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        _check_param("n_components", self.n_components, Integral, low=1)
        _check_param("covariance_type", self.covariance_type, None, options=est.COVARIANCE_TYPES)
        _check_param("reg_covar", self.reg_covar, Real, low=0.0)
        _check_param("batch_size", self.batch_size, Integral, low=1)
        _check_param("max_iter", self.max_iter, Integral, low=1)
        _check_param("learning_decay", self.learning_decay, Real, low=0.0)
        _check_param("learning_offset", self.learning_offset, Real, low=0.0)
        _check_param("tol", self.tol, Real, low=0.0)
        _check_param("init_params", self.init_params, None, options=INIT_PARAMS)
        _check_param("verbose", self.verbose, Integral, low=0)
        if not 0.0 < self.learning_decay <= 1.0:
            raise InvalidParameterError(
                "The 'learning_decay' parameter of MiniBatchGaussianMixture must be in (0, 1]. "
                f"Got {self.learning_decay!r} instead."
            )
        rs = self.random_state
        if not (rs is None or isinstance(rs, (Integral, np.random.RandomState))):
            raise InvalidParameterError(
                "The 'random_state' parameter of MiniBatchGaussianMixture must be None, an int "
                f"or a numpy RandomState instance. Got {rs!r} instead."
            )

    # ------------------------------------------------------------------ the online step

    def _start(self, X_init, w_init, shift):
        """Initial parameters (from ``X_init`` unless all three ``*_init`` are given)."""
        self._rng = check_random_state(self.random_state)
        inits = self._check_initial_parameters(X_init.shape[1])
        if X_init.shape[0] < self.n_components and not all(p is not None for p in inits):
            raise ValueError(
                "Expected n_samples >= n_components in the first mini-batch but got "
                f"n_components = {self.n_components}, n_samples = {X_init.shape[0]}."
            )
        self._initialize_parameters(X_init, self._rng, inits, w_init)
        self.weights_ = np.asarray(self.weights_, dtype=np.float64)
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        self._shift = np.asarray(shift, dtype=np.float64)
        self._stats = None
        self.n_steps_ = 0
        self._chunk_size = default_chunk_size(
            X_init.shape[1], self.n_components, self.covariance_type
        )

    def _step(self, X_batch, w_batch):
        """One stepwise-EM update; returns the batch's total log-likelihood and weight."""
        coefficients = _fast.make_coefficients(
            self.weights_, self.means_, self.precisions_cholesky_, self._shift,
            self.covariance_type,
        )
        stats = _chunk_statistics(
            X_batch, w_batch, coefficients, self._shift, self.covariance_type, self._chunk_size
        )
        if not stats.n_samples > 0:  # a batch of zero total weight carries no information
            return 0.0, 0.0
        batch_ll, batch_weight = stats.log_likelihood, stats.n_samples
        per_sample = _scaled(stats, 1.0 / stats.n_samples)
        if self._stats is None:
            self._stats = per_sample  # the first step is a full EM step on the first batch
        else:
            rho = (self.n_steps_ + self.learning_offset) ** (-self.learning_decay)
            self._stats = _scaled(self._stats, 1.0 - rho) + _scaled(per_sample, rho)
        self.n_steps_ += 1
        weights, means, covariances = _fast.parameters_from_statistics(
            self._stats, self._shift, self.covariance_type, self.reg_covar
        )
        self.weights_, self.means_, self.covariances_ = weights, means, covariances
        self.precisions_cholesky_ = est.compute_precision_cholesky(
            covariances, self.covariance_type
        )
        return batch_ll, batch_weight

    def _finish(self):
        self._set_parameters(self._get_parameters())  # precisions_

    # ------------------------------------------------------------------ public API

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch (one stepwise-EM step).

        The first call initialises the model on this batch (``init_params``, or the
        ``*_init`` parameters) and takes the batch mean as the fixed centre of the
        statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The mini-batch.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-sample weights.

        Returns
        -------
        self : MiniBatchGaussianMixture
        """
        first = not hasattr(self, "_stats")
        if first:
            self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        with est.blas_single_thread():
            if first:
                shift = np.average(X, axis=0, weights=sample_weight)
                self._start(X, sample_weight, shift)
            batch_ll, batch_weight = self._step(X, sample_weight)
            self._finish()
        if batch_weight > 0:
            self.lower_bound_ = batch_ll / batch_weight
        elif not hasattr(self, "lower_bound_"):
            self.lower_bound_ = -np.inf
        self.lower_bounds_ = [self.lower_bound_]
        self.n_iter_ = getattr(self, "n_iter_", 0)
        self.converged_ = False
        return self

    def fit(self, X, y=None, sample_weight=None):
        """Fit with ``max_iter`` epochs of shuffled mini-batches of ``batch_size`` rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-sample weights.

        Returns
        -------
        self : MiniBatchGaussianMixture
        """
        self._validate_params()
        for name in ("_stats", "lower_bound_", "n_iter_"):
            self.__dict__.pop(name, None)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}."
            )
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        n_samples = X.shape[0]
        with est.blas_single_thread():
            indices = init_sample_indices(n_samples)
            self._start(
                X[indices],
                None if sample_weight is None else sample_weight[indices],
                np.average(X, axis=0, weights=sample_weight),
            )
            self.lower_bounds_ = []
            self.converged_ = False
            lower_bound = -np.inf
            for epoch in range(1, self.max_iter + 1):
                order = self._rng.permutation(n_samples)
                total_ll = total_weight = 0.0
                for start in range(0, n_samples, self.batch_size):
                    rows = np.sort(order[start : start + self.batch_size])
                    w = None if sample_weight is None else sample_weight[rows]
                    ll, weight = self._step(X[rows], w)
                    total_ll += ll
                    total_weight += weight
                previous, lower_bound = lower_bound, total_ll / total_weight
                self.lower_bounds_.append(lower_bound)
                if self.verbose:
                    print(f"Epoch {epoch}: mean mini-batch log-likelihood {lower_bound:.6f}")
                if abs(lower_bound - previous) < self.tol:
                    self.converged_ = True
                    break
            self._finish()
        self.n_iter_ = epoch
        self.lower_bound_ = lower_bound
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """``fit(X).predict(X)``."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def fit_chunks(self, make_chunks):
        """``max_iter`` epochs of :meth:`partial_fit` over the chunks of ``make_chunks()``.

        Parameters
        ----------
        make_chunks : callable
            Returns a fresh iterable of 2-D arrays (or of pairs ``(X_chunk, weights)``); each
            chunk is one mini-batch.

        Returns
        -------
        self : MiniBatchGaussianMixture
        """
        self._validate_params()
        for name in ("_stats", "lower_bound_", "n_iter_"):
            self.__dict__.pop(name, None)
        lower_bounds = []
        for epoch in range(1, self.max_iter + 1):
            total_ll = total_weight = 0.0
            for item in make_chunks():
                X_chunk, w = _split(item)
                self.partial_fit(X_chunk, sample_weight=w)
                weight = float(len(X_chunk) if w is None else np.sum(w))
                total_ll += self.lower_bound_ * weight
                total_weight += weight
            lower_bounds.append(total_ll / total_weight)
        self.n_iter_ = epoch
        self.lower_bounds_ = lower_bounds
        self.lower_bound_ = lower_bounds[-1]
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "weights_") and hasattr(self, "precisions_")

