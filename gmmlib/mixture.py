"""The Gaussian mixture estimator, :class:`GaussianMixture`.

A drop-in replacement for :class:`sklearn.mixture.GaussianMixture` (scikit-learn 1.9.1): same
parameters, defaults, fitted attributes, methods and results, plus an opt-in EM history for
teaching (``record_history=True``) and a ``random_state`` argument to :meth:`sample`.

Layout (as in scikit-learn's ``_gaussian_mixture.py``): shape checkers for the user-provided
initial parameters, then the estimator class. The per-covariance-type mathematics (M-step
estimators, Cholesky factors, log-probabilities) lives in :mod:`gmmlib._estimation`, shared
with :mod:`gmmlib.em`; the fused, chunked EM iteration used by :meth:`GaussianMixture.fit`
lives in :mod:`gmmlib._fast`.
"""

import math
import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _estimation as est
from . import _fast

__all__ = ["GaussianMixture"]

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value (as scikit-learn's error of that name).

    It subclasses both ``ValueError`` and ``TypeError``, so either can be caught.
    """


###############################################################################
# Shape checkers for the user-provided initial parameters


def _check_shape(param, param_shape, name):
    """Raise a ValueError if ``param`` does not have shape ``param_shape``."""
    if param.shape != param_shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {param_shape}, "
            f"but got {param.shape}."
        )


def _check_weights(weights, n_components):
    """Validate ``weights_init``: shape (n_components,), values in [0, 1], sum 1.

    Returns
    -------
    weights : ndarray of shape (n_components,)
    """
    weights = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(weights):.5f}, min value {np.min(weights):.5f}."
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(abs(1.0 - np.sum(weights)), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized (sum to 1), but got "
            f"sum(weights) = {np.sum(weights):.5f}."
        )
    return weights


def _check_means(means, n_components, n_features):
    """Validate ``means_init``: shape (n_components, n_features).

    Returns
    -------
    means : ndarray of shape (n_components, n_features)
    """
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precision_positivity(precision, covariance_type):
    """Check that a vector of precisions is positive."""
    if np.any(precision <= 0.0):
        raise ValueError(f"'{covariance_type} precision' should be positive.")


def _check_precision_matrix(precision, covariance_type):
    """Check that a precision matrix is symmetric and positive-definite."""
    if not (
        np.all(np.isclose(precision, precision.T))
        and np.all(np.linalg.eigvalsh(precision) > 0.0)
    ):
        raise ValueError(f"'{covariance_type} precision' should be symmetric, positive-definite.")


def _check_precisions_full(precisions, covariance_type):
    """Check that every precision matrix is symmetric and positive-definite."""
    for precision in precisions:
        _check_precision_matrix(precision, covariance_type)


_PRECISION_SHAPES = {
    "full": lambda k, d: (k, d, d),
    "tied": lambda k, d: (d, d),
    "diag": lambda k, d: (k, d),
    "spherical": lambda k, d: (k,),
}

_PRECISION_CHECKERS = {
    "full": _check_precisions_full,
    "tied": _check_precision_matrix,
    "diag": _check_precision_positivity,
    "spherical": _check_precision_positivity,
}


def _check_precisions(precisions, covariance_type, n_components, n_features):
    """Validate ``precisions_init``: shape for ``covariance_type``, positive (definite).

    Returns
    -------
    precisions : ndarray
        Shape ``(n_components, n_features, n_features)`` (full), ``(n_features, n_features)``
        (tied), ``(n_components, n_features)`` (diag) or ``(n_components,)`` (spherical).
    """
    precisions = check_array(
        precisions,
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        allow_nd=covariance_type == "full",
    )
    shape = _PRECISION_SHAPES[covariance_type](n_components, n_features)
    _check_shape(precisions, shape, f"{covariance_type} precision")
    _PRECISION_CHECKERS[covariance_type](precisions, covariance_type)
    return precisions


def _check_sample_weight(sample_weight, n_samples):
    """Validated sample weights: a float64 array of shape (n_samples,), or None.

    A scalar is broadcast to every sample. Raises a ValueError for a wrong shape, negative,
    NaN or infinite weights, or weights that are all zero.
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.ndim == 0:
        weights = np.full(n_samples, weights)
    if weights.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numbers, got an array of dtype {weights.dtype}.")
    weights = weights.astype(np.float64)
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample, "
            f"but got shape {weights.shape}."
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight must be finite (no NaN or infinity).")
    if np.any(weights < 0):
        raise ValueError(
            f"sample_weight must be non-negative, but got a weight of {weights.min():g}."
        )
    if not np.sum(weights) > 0:
        raise ValueError("sample_weight must not be all zero.")
    return weights


def _weighted_gaussian_parameters(X, resp, sample_weight, reg_covar, covariance_type):
    """The M-step of :func:`gmmlib._estimation.estimate_gaussian_parameters` with sample weights.

    Multiplying the responsibilities by the weights is enough for every covariance type except
    'tied', whose scatter matrix ``X^T X`` must be weighted as well.
    """
    weighted_resp = resp * sample_weight[:, np.newaxis]
    if covariance_type != "tied":
        return est.estimate_gaussian_parameters(X, weighted_resp, reg_covar, covariance_type)
    nk, means, _ = est.estimate_gaussian_parameters(X, weighted_resp, reg_covar, "diag")
    covariance = (X * sample_weight[:, np.newaxis]).T @ X - nk * means.T @ means
    covariance /= np.sum(nk)
    covariance.flat[:: len(covariance) + 1] += reg_covar
    return nk, means, covariance


def _num_samples(X):
    """Number of rows of an array-like (array, DataFrame or list of rows)."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_param(name, value, kind, low=None, options=None):
    """Raise :class:`InvalidParameterError` if a constructor parameter is invalid."""
    if options is not None:
        if not isinstance(value, str) or value not in options:
            raise InvalidParameterError(
                f"The '{name}' parameter of GaussianMixture must be one of {list(options)}. "
                f"Got {value!r} instead."
            )
        return
    if kind is bool:
        ok = isinstance(value, (bool, np.bool_))
        description = "a bool"
    elif kind is Integral:
        ok = isinstance(value, Integral) and (
            name == "verbose" or not isinstance(value, (bool, np.bool_))
        )
        ok = ok and (low is None or value >= low)
        description = "an int" + ("" if low is None else f" >= {low}")
    else:
        ok = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
        ok = ok and not math.isnan(value) and (low is None or value >= low)
        description = "a float" + ("" if low is None else f" >= {low}")
    if not ok:
        raise InvalidParameterError(
            f"The '{name}' parameter of GaussianMixture must be {description}. "
            f"Got {value!r} instead."
        )


###############################################################################
# The estimator


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture model fitted by expectation-maximisation (EM).

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture` with the same
    parameters, attributes and results, a faster fit, and an optional record of every EM
    iteration for teaching. Introduced in {ref}`ch-mixture-model`; fitted by EM as derived in
    {ref}`ch-deriving-em`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components :math:`K`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure:

        - 'full': each component has its own general covariance matrix.
        - 'tied': all components share one general covariance matrix.
        - 'diag': each component has its own diagonal covariance matrix.
        - 'spherical': each component has its own single variance.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the mean per-sample log-likelihood changes by
        less than ``tol`` between two iterations.
    reg_covar : float, default=1e-6
        Non-negative number added to the diagonal of every covariance, so that the
        covariances stay positive definite.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the largest final lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen:

        - 'kmeans': hard assignments from one run of k-means.
        - 'k-means++': hard assignments to the k-means++ seeds.
        - 'random': random responsibilities.
        - 'random_from_data': hard assignments to randomly chosen data points.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights; if None they come from ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means; if None they come from ``init_params``.
    precisions_init : array-like, default=None
        Initial precisions (inverses of the covariances); if None they come from
        ``init_params``. Shape ``(n_components, n_features, n_features)`` (full),
        ``(n_features, n_features)`` (tied), ``(n_components, n_features)`` (diag) or
        ``(n_components,)`` (spherical). When all three of ``weights_init``, ``means_init``
        and ``precisions_init`` are given, ``init_params`` is not used.
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation and the default seed of :meth:`sample`.
    warm_start : bool, default=False
        If True, each call of :meth:`fit` starts from the previous solution (``n_init`` is
        then ignored after the first call).
    verbose : int, default=0
        1 prints the current initialisation and iteration; 2 and more also print the change
        of the lower bound and the time taken.
    verbose_interval : int, default=10
        Number of iterations between two printed messages.
    record_history : bool, default=False
        Keyword-only, gmmlib only. If True, :meth:`fit` stores ``history_``, the parameters
        after every EM iteration of the best initialisation.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights :math:`\\pi_k`.
    means_ : ndarray of shape (n_components, n_features)
        Component means :math:`\\mu_k`.
    covariances_ : ndarray
        Component covariances :math:`\\Sigma_k`; shape ``(n_components, n_features,
        n_features)`` (full), ``(n_features, n_features)`` (tied), ``(n_components,
        n_features)`` (diag) or ``(n_components,)`` (spherical).
    precisions_ : ndarray
        Inverses of the covariances; same shape as ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper triangular ``U`` with
        ``precision = U @ U.T`` for full and tied, ``1 / sqrt(variance)`` for diag and
        spherical); same shape as ``covariances_``.
    converged_ : bool
        Whether the best initialisation reached the tolerance ``tol``.
    n_iter_ : int
        Number of EM iterations of the best initialisation.
    lower_bound_ : float
        Mean per-sample log-likelihood at the last iteration of the best initialisation.
    lower_bounds_ : list of float of length n_iter_
        ``lower_bounds_[t]`` is the mean per-sample log-likelihood of the parameters before
        the M-step of iteration ``t + 1`` (the value EM monitors for convergence).
    history_ : list of dict of length n_iter_ + 1
        Only with ``record_history=True``. Entry ``t`` holds the parameters after ``t`` EM
        iterations (entry 0 is the initialisation) under the keys ``"weights"``, ``"means"``,
        ``"covariances"`` (shapes as the fitted attributes) and ``"log_likelihood"``, the
        mean per-sample log-likelihood of those parameters, so that
        ``history_[t]["log_likelihood"] == lower_bounds_[t]`` for ``t < n_iter_``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :meth:`fit`, when ``X`` has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The scikit-learn estimator this one reproduces.
    gmmlib.em : The E-step, M-step and log-likelihood as plain functions.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]])
    array([1, 0])

    With ``record_history=True`` every EM iteration is kept:

    >>> gm = GaussianMixture(n_components=2, random_state=0, record_history=True).fit(X)
    >>> len(gm.history_) == gm.n_iter_ + 1
    True
    >>> sorted(gm.history_[0])
    ['covariances', 'log_likelihood', 'means', 'weights']
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        record_history=False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.record_history = record_history

    # ------------------------------------------------------------------ validation

    def _validate_params(self):
        """Check the constructor parameters (types, ranges and options)."""
        _check_param("n_components", self.n_components, Integral, low=1)
        _check_param("covariance_type", self.covariance_type, None, options=est.COVARIANCE_TYPES)
        _check_param("tol", self.tol, Real, low=0.0)
        _check_param("reg_covar", self.reg_covar, Real, low=0.0)
        _check_param("max_iter", self.max_iter, Integral, low=0)
        _check_param("n_init", self.n_init, Integral, low=1)
        _check_param("init_params", self.init_params, None, options=INIT_PARAMS)
        _check_param("warm_start", self.warm_start, bool)
        _check_param("verbose", self.verbose, Integral, low=0)
        _check_param("verbose_interval", self.verbose_interval, Integral, low=1)
        _check_param("record_history", self.record_history, bool)
        rs = self.random_state
        if not (rs is None or isinstance(rs, (Integral, np.random.RandomState))):
            raise InvalidParameterError(
                "The 'random_state' parameter of GaussianMixture must be None, an int or a "
                f"numpy RandomState instance. Got {rs!r} instead."
            )

    def _check_initial_parameters(self, n_features):
        """Validated copies of ``weights_init``, ``means_init`` and ``precisions_init``.

        The constructor parameters themselves are left untouched.
        """
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = _check_weights(self.weights_init, self.n_components)
        if self.means_init is not None:
            means = _check_means(self.means_init, self.n_components, n_features)
        if self.precisions_init is not None:
            precisions = _check_precisions(
                self.precisions_init, self.covariance_type, self.n_components, n_features
            )
        return weights, means, precisions

    # ------------------------------------------------------------------ initialisation

    def _initial_responsibilities(self, X, random_state, sample_weight=None):
        """Responsibilities (n_samples, n_components) chosen by ``init_params``.

        Sample weights are passed on where scikit-learn accepts them (k-means, k-means++).
        """
        n_samples = X.shape[0]
        K = self.n_components
        if self.init_params == "kmeans":
            resp = np.zeros((n_samples, K), dtype=X.dtype)
            kmeans = KMeans(n_clusters=K, n_init=1, random_state=random_state)
            with est.openmp_single_thread():
                labels = kmeans.fit(X, sample_weight=sample_weight).labels_
            resp[np.arange(n_samples), labels] = 1
        elif self.init_params == "random":
            resp = np.asarray(random_state.uniform(size=(n_samples, K)), dtype=X.dtype)
            resp /= resp.sum(axis=1)[:, np.newaxis]
        elif self.init_params == "random_from_data":
            resp = np.zeros((n_samples, K), dtype=X.dtype)
            indices = random_state.choice(n_samples, size=K, replace=False)
            resp[indices, np.arange(K)] = 1
        else:  # "k-means++"
            resp = np.zeros((n_samples, K), dtype=X.dtype)
            with est.openmp_single_thread():
                _, indices = kmeans_plusplus(
                    X, K, random_state=random_state, sample_weight=sample_weight
                )
            resp[indices, np.arange(K)] = 1
        return resp

    def _initialize_parameters(self, X, random_state, inits, sample_weight=None):
        """Set the initial parameters from ``init_params`` and the user's initial values.

        The responsibilities (and so the random state) are only used when at least one of
        ``weights_init``, ``means_init``, ``precisions_init`` is missing. With
        ``sample_weight`` the initial M-step is weighted too.
        """
        weights_init, means_init, precisions_init = inits
        weights = means = covariances = None
        if weights_init is None or means_init is None or precisions_init is None:
            resp = self._initial_responsibilities(X, random_state, sample_weight)
            if sample_weight is None:
                weights, means, covariances = est.estimate_gaussian_parameters(
                    X, resp, self.reg_covar, self.covariance_type
                )
                total = X.shape[0]
            else:
                weights, means, covariances = _weighted_gaussian_parameters(
                    X, resp, sample_weight, self.reg_covar, self.covariance_type
                )
                total = np.sum(sample_weight)
            if weights_init is None:
                weights /= total
        self.weights_ = weights if weights_init is None else weights_init
        self.means_ = means if means_init is None else means_init
        if precisions_init is None:
            self.covariances_ = covariances
            self.precisions_cholesky_ = est.compute_precision_cholesky(
                covariances, self.covariance_type
            )
        else:
            self.precisions_cholesky_ = est.precision_cholesky_from_precisions(
                precisions_init, self.covariance_type
            )
            # scikit-learn leaves covariances_ unset until the first M-step; we define it.
            self.covariances_ = est.covariances_from_cholesky(
                self.precisions_cholesky_, self.covariance_type
            )

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters with the largest final lower
        bound are kept. Each run alternates E- and M-steps until the lower bound changes by
        less than ``tol`` or ``max_iter`` iterations are done; a ``ConvergenceWarning`` is
        issued if the best run did not converge. With ``warm_start=True`` later calls
        continue from the previous solution.

        ``X`` may also be a :class:`numpy.memmap` (streamed in row chunks, never copied into
        memory) or a Dask array (each E-step maps over its blocks and sums the statistics in
        a tree, on the active Dask scheduler); see {ref}`ch-scaling-em` and
        :mod:`gmmlib.scaling`. Both give the in-memory result up to rounding, but initialise
        from a fixed sample of rows when the data are large (see
        :func:`gmmlib.scaling.init_sample_indices`).

        Parameters
        ----------
        X : array-like, numpy.memmap or dask.array.Array of shape (n_samples, n_features)
            Training data, one sample per row.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (gmmlib only). EM then uses weighted counts and
            sums, and the lower bound is the weighted mean log-likelihood; integer weights
            give the same fit as repeating rows. The k-means initialisations use them too.

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.
        """
        from . import scaling

        if isinstance(X, np.memmap) or scaling._is_dask_array(X):
            with est.blas_single_thread():
                scaling._fit_out_of_core(self, X, sample_weight)
            return self
        self.fit_predict(X, y, sample_weight=sample_weight)
        return self

    def fit_chunks(self, make_chunks):
        """Fit with EM streaming over chunks of rows that never sit in memory together.

        Each EM iteration is one pass over ``make_chunks()``: every chunk adds its sufficient
        statistics, then one M-step turns the total into new parameters. Same result as
        :meth:`fit` on the concatenated chunks, up to rounding, given the same
        initialisation. Introduced in {ref}`ch-scaling-em`.

        Parameters
        ----------
        make_chunks : callable
            ``make_chunks()`` returns a fresh iterable of 2-D arrays (n_i, n_features), or of
            pairs ``(X_chunk, sample_weight_chunk)`` for weighted EM. It is called once to
            validate the data and compute its centre, and once per EM iteration.

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.

        Notes
        -----
        Initialisation: ``weights_init``/``means_init``/``precisions_init`` when all three are
        given; otherwise ``init_params`` runs on a sample of at most
        :data:`gmmlib.scaling.INIT_SAMPLE_SIZE` rows taken at evenly spaced positions (all
        rows when there are fewer), so small data initialise exactly as :meth:`fit` does.
        """
        from . import scaling

        with est.blas_single_thread():
            scaling._fit_chunks(self, make_chunks)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to ``X`` and return the most probable component of each sample.

        Same as ``fit(X).predict(X)`` (a final E-step makes them agree).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one sample per row.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        # EM makes many small BLAS calls (D x D factorisations, thin products); a
        # multi-threaded OpenBLAS spends far longer waking its threads than computing them,
        # badly so on a busy machine, so the whole fit runs with one BLAS thread (the fast
        # path uses its own threads over chunks of X instead).
        with est.blas_single_thread():
            return self._fit_predict(X, sample_weight)

    def _fit_predict(self, X, sample_weight=None):
        """The body of :meth:`fit_predict`."""
        self._validate_params()
        # A warm start continues the previous fit, so X must have the features it was fitted
        # on: reset=False checks that (clear message, fitted model left untouched).
        continuing = self.warm_start and hasattr(self, "converged_")
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], ensure_min_samples=2, reset=not continuing
        )
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}. "
                "Use fewer components or more data."
            )
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        # The fused, chunked EM of gmmlib._fast prepares its per-chunk features once per fit;
        # float32 data take the plain path so that they keep scikit-learn's float32 arithmetic
        # (weighted fits always take the fused path, which computes in float64).
        engine = None
        if (X.dtype == np.float64 or sample_weight is not None) and self.max_iter > 0:
            engine = _fast.FusedEM(
                X, self.covariance_type, self.reg_covar, n_components=self.n_components,
                sample_weight=sample_weight,
            )

        best_history = self._run_em(
            X.shape[1],
            lambda random_state, inits: self._initialize_parameters(
                X, random_state, inits, sample_weight
            ),
            lambda: self._em_iteration(X, engine),
        )

        # A final E-step so that fit_predict(X) always equals fit(X).predict(X).
        log_prob_norm, log_resp = self._estimate_log_prob_resp(X)
        if best_history is not None:
            best_history[-1]["log_likelihood"] = float(
                np.average(log_prob_norm, weights=sample_weight)
            )
            self.history_ = best_history
        return np.argmax(log_resp, axis=1)

    def _run_em(self, n_features, initialize, iterate):
        """The EM loop shared by every fit: ``n_init`` runs, convergence test, history.

        ``initialize(random_state, inits)`` sets the initial parameters; ``iterate()`` does
        one EM iteration and returns the mean log-likelihood before its M-step. Sets the
        fitted attributes and returns the best run's history (or None); the caller fills in
        the log-likelihood of its last entry.
        """
        inits = self._check_initial_parameters(n_features)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1

        max_lower_bound = -np.inf
        best_lower_bounds = []
        best_history = None
        self.converged_ = False
        random_state = check_random_state(self.random_state)

        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            if do_init:
                initialize(random_state, inits)
            lower_bound = -np.inf if do_init else self.lower_bound_
            current_lower_bounds = []
            history = [self._history_entry()] if self.record_history else None

            if self.max_iter == 0:
                best_params = self._get_parameters()
                best_n_iter = 0
                best_history = history
            else:
                converged = False
                for n_iter in range(1, self.max_iter + 1):
                    prev_lower_bound = lower_bound
                    # One EM iteration; the bound is the mean log-likelihood of the
                    # parameters *before* this M-step (as in scikit-learn).
                    lower_bound = iterate()
                    current_lower_bounds.append(lower_bound)
                    if history is not None:
                        history[-1]["log_likelihood"] = lower_bound
                        history.append(self._history_entry())

                    change = lower_bound - prev_lower_bound
                    self._print_verbose_msg_iter_end(n_iter, change)
                    if abs(change) < self.tol:
                        converged = True
                        break

                self._print_verbose_msg_init_end(lower_bound, converged)

                if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                    max_lower_bound = lower_bound
                    best_params = self._get_parameters()
                    best_n_iter = n_iter
                    best_lower_bounds = current_lower_bounds
                    best_history = history
                    self.converged_ = converged

        # Only warn when iterations were asked for: max_iter=0 means "just initialise".
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
            )

        self._set_parameters(best_params)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds
        return best_history

    def _em_iteration(self, X, engine=None):
        """One E-step + M-step; returns the mean log-likelihood before the M-step.

        ``engine`` is a :class:`gmmlib._fast.FusedEM` prepared for ``X`` (fast path), or
        None for the plain reference iteration.
        """
        params = (self.weights_, self.means_, self.precisions_cholesky_)
        if engine is not None:
            result = engine.iteration(*params)
        else:
            result = est.em_iteration_reference(
                X, *params, self.covariance_type, self.reg_covar
            )
        weights, means, covariances, prec_chol, mean_log_likelihood = result
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = prec_chol
        return mean_log_likelihood

    def _history_entry(self):
        """Copy of the current parameters for ``history_`` (log-likelihood filled in later)."""
        return {
            "weights": np.array(self.weights_, copy=True),
            "means": np.array(self.means_, copy=True),
            "covariances": np.array(self.covariances_, copy=True),
            "log_likelihood": np.nan,
        }

    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = params
        self.precisions_ = est.precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type
        )

    # ------------------------------------------------------------------ E-step pieces

    def _estimate_weighted_log_prob(self, X):
        """``log pi_k + log N(x_n | mu_k, Sigma_k)``, shape (n_samples, n_components)."""
        # score/predict run outside fit's BLAS limit: the per-component products are as thin
        # here, and a two-thread OpenBLAS made model.score 8x slower on a busy machine.
        with est.blas_single_thread():
            log_prob = est.estimate_log_gaussian_prob(
                X, self.means_, self.precisions_cholesky_, self.covariance_type
            )
        return log_prob + np.log(self.weights_)

    def _estimate_log_prob_resp(self, X):
        """Per-sample log-likelihood (n_samples,) and log-responsibilities (n_samples, K)."""
        weighted_log_prob = self._estimate_weighted_log_prob(X)
        log_prob_norm = est.logsumexp_rows(weighted_log_prob)
        with np.errstate(under="ignore"):
            log_resp = weighted_log_prob - log_prob_norm[:, np.newaxis]
        return log_prob_norm, log_resp

    # ------------------------------------------------------------------ prediction

    def score_samples(self, X):
        """Log-likelihood of each sample, ``log p(x_n)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Log of the mixture density at each sample.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return est.logsumexp_rows(self._estimate_weighted_log_prob(X))

    def score(self, X, y=None):
        """Mean per-sample log-likelihood of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        log_likelihood : float
            Average of :meth:`score_samples` over the samples.
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.argmax(self._estimate_weighted_log_prob(X), axis=1)

    def predict_proba(self, X):
        """Responsibilities: the posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows are non-negative and sum to 1.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        _, log_resp = self._estimate_log_prob_resp(X)
        return np.exp(log_resp)

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.
        random_state : int, RandomState, Generator or None, default=None
            Seed or generator for this call; None uses the estimator's ``random_state``
            (as scikit-learn does). The draws are the same as scikit-learn's for the same
            seed.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples, grouped by component.
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at "
                "least one sample."
            )
        n_features = self.means_.shape[1]
        seed = self.random_state if random_state is None else random_state
        rng = seed if isinstance(seed, np.random.Generator) else check_random_state(seed)
        counts = rng.multinomial(n_samples, self.weights_)

        if self.covariance_type == "full":
            parts = [
                rng.multivariate_normal(mean, cov, int(n))
                for mean, cov, n in zip(self.means_, self.covariances_, counts)
            ]
        elif self.covariance_type == "tied":
            parts = [
                rng.multivariate_normal(mean, self.covariances_, int(n))
                for mean, n in zip(self.means_, counts)
            ]
        else:
            parts = [
                mean + rng.standard_normal(size=(n, n_features)) * np.sqrt(cov)
                for mean, cov, n in zip(self.means_, self.covariances_, counts)
            ]
        X = np.asarray(np.vstack(parts), dtype=np.float64)
        y = np.concatenate([np.full(int(n), k, dtype=np.int64) for k, n in enumerate(counts)])
        return X, y

    # ------------------------------------------------------------------ model selection

    def _n_parameters(self):
        """Number of free parameters of the model."""
        n_features = self.means_.shape[1]
        K = self.n_components
        cov_params = {
            "full": K * n_features * (n_features + 1) / 2.0,
            "diag": K * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": K,
        }[self.covariance_type]
        return int(cov_params + n_features * K + K - 1)

    def bic(self, X):
        """Bayesian information criterion of the model on ``X`` (lower is better).

        ``-2 * log-likelihood + n_parameters * log(n_samples)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        bic : float
        """
        n = _num_samples(X)
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion of the model on ``X`` (lower is better).

        ``-2 * log-likelihood + 2 * n_parameters``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * _num_samples(X) + 2 * self._n_parameters()

    # ------------------------------------------------------------------ verbose output

    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose >= 1:
            print("Initialization %d" % n_init)
        if self.verbose >= 2:
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print("  Iteration %d" % n_iter)
            elif self.verbose >= 2:
                cur_time = time()
                print(
                    "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                    % (n_iter, cur_time - self._iter_prev_time, diff_ll)
                )
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}.")
