"""The Gaussian mixture estimator, :class:`GaussianMixture`.

A thin layer over :mod:`gmmlib.engine`: the engine turns data and parameters into sufficient
statistics and moments; this class says that EM's new weights are the normalised counts, its
new means and covariances the moments, and that the number it monitors is the mean
log-likelihood. The loop itself (starts, convergence, history) lives in :mod:`gmmlib._base`.
"""

import math

import numpy as np
from . import engine as eng
from ._base import BATCH_EM_RULES, MixtureBase
from ._validation import (
    InvalidParameterError,
    checked_means_init,
    checked_precisions_init,
    checked_weights_init,
)

__all__ = ["GaussianMixture", "InvalidParameterError"]


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


class GaussianMixture(MixtureBase):
    """Gaussian mixture model fitted by expectation-maximisation (EM).

    Takes the parameters of :class:`sklearn.mixture.GaussianMixture`, sets the same fitted
    attributes, and returns the same results up to rounding; it is faster, takes sample weights,
    fits data that arrive in chunks or as Dask arrays, and can record every EM iteration for
    teaching. Introduced in {ref}`ch-mixture-model`; EM is derived in {ref}`ch-deriving-em`.

    Parameters
    ----------
    n_components : int, default=1
        Number of components :math:`K`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Shape of the components' covariances: 'full', a general covariance matrix per
        component; 'tied', one general matrix shared by all components; 'diag', a diagonal
        matrix per component; 'spherical', one variance per component (round components).
    tol : float, default=1e-3
        EM stops when the mean per-sample log-likelihood changes by less than this from one
        iteration to the next.
    reg_covar : float, default=1e-6
        Non-negative number added to the diagonal of every covariance, which keeps the
        covariances invertible when a component sits on few distinct points.
    max_iter : int, default=100
        Largest number of EM iterations per start.
    n_init : int, default=1
        Number of starts; the one with the highest final log-likelihood is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Where the starting responsibilities come from: the clusters of one k-means run
        ('kmeans'), the k-means++ seed points ('k-means++'), random numbers ('random'), or
        randomly chosen samples ('random_from_data').
    weights_init : array-like of shape (n_components,), default=None
        Starting weights, instead of those from ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Starting means, instead of those from ``init_params``.
    precisions_init : array-like, default=None
        Starting precisions (inverse covariances), shaped like ``covariances_``. When all three
        ``*_init`` values are given, ``init_params`` is not used.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation (and default seed of :meth:`sample`).
    warm_start : bool, default=False
        If True, each :meth:`fit` continues from the previous fit's parameters (one start).
    verbose : int, default=0
        1 prints each start and every ``verbose_interval``-th iteration; 2 adds the bound,
        its change and the time taken.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    n_jobs : int, default=None
        Threads that share each pass over the data: None means 1 (unless inside a joblib
        ``parallel_backend`` context), -1 means all CPUs. gmmlib only.
    record_history : bool, default=False
        If True, :meth:`fit` keeps ``history_``, the parameters after every EM iteration of the
        best start. gmmlib only.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights :math:`\\pi_k`.
    means_ : ndarray of shape (n_components, n_features)
        Component means :math:`\\mu_k`.
    covariances_ : ndarray
        Covariances :math:`\\Sigma_k`: shape (n_components, n_features, n_features) for 'full',
        (n_features, n_features) for 'tied', (n_components, n_features) for 'diag',
        (n_components,) for 'spherical'.
    precisions_ : ndarray
        Inverses of the covariances, same shape.
    precisions_cholesky_ : ndarray
        Factors ``U`` of the precisions (``precision = U U^T``, ``U`` upper triangular, for
        'full' and 'tied'; one over the standard deviations for 'diag' and 'spherical'), same
        shape.
    converged_ : bool
        Whether the best start met ``tol`` before ``max_iter``.
    n_iter_ : int
        EM iterations of the best start.
    lower_bound_ : float
        Mean log-likelihood per sample at the last iteration of the best start (before its
        final M-step, as in scikit-learn).
    lower_bounds_ : list of float
        ``lower_bounds_[t]``: the mean log-likelihood of the parameters going into
        iteration ``t + 1``.
    history_ : list of dict
        Only with ``record_history=True``: ``n_iter_ + 1`` entries; entry ``t`` holds
        ``weights``, ``means``, ``covariances`` after ``t`` iterations and their
        ``log_likelihood`` (mean per sample).
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` had them.
    dask_storage_ : {'persist', 'stream'}
        Only after a fit on a Dask array: whether its blocks were kept on the workers or read
        from their source at every pass (see :func:`gmmlib.scaling.choose_dask_storage`).

    See Also
    --------
    gmmlib.MiniBatchGaussianMixture : Mini-batch (stepwise) EM for streams.
    gmmlib.BayesianGaussianMixture : Variational inference with priors.
    sklearn.mixture.GaussianMixture : The estimator this one reproduces.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib import GaussianMixture
    >>> X = np.array([[0.0, 0.1], [0.2, -0.1], [-0.1, 0.0], [5.0, 5.1], [5.2, 4.9], [4.9, 5.0]])
    >>> model = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(model.means_[np.argsort(model.means_[:, 0])], 2)
    array([[0.03, 0.  ],
           [5.03, 5.  ]])
    >>> model.predict([[0.1, 0.0], [5.1, 5.0]]).tolist() == model.predict(X[[0, 3]]).tolist()
    True
    """

    _rules = BATCH_EM_RULES

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
        n_jobs=None,
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
        self.n_jobs = n_jobs
        self.record_history = record_history

    # -- the hooks of MixtureBase -------------------------------------------------------------

    def _check_initial_values(self, n_features):
        """The validated ``weights_init``, ``means_init``, ``precisions_init`` (or None)."""
        K, ct = self.n_components, self.covariance_type
        return (
            None if self.weights_init is None else checked_weights_init(self.weights_init, K),
            None if self.means_init is None else checked_means_init(self.means_init, K, n_features),
            None if self.precisions_init is None
            else checked_precisions_init(self.precisions_init, ct, K, n_features),
        )

    def _start(self, moments, initial):
        """Starting parameters: the user's values where given, else the initial M-step's."""
        weights, means, precisions = initial
        ct = self.covariance_type
        # The initial weights are the counts over the number of samples, which (with the
        # guard for empty components) sum to just above one, as in scikit-learn.
        self.weights_ = moments.counts / moments.total_weight if weights is None else weights
        self.means_ = moments.means if means is None else means
        if precisions is None:
            self.covariances_ = moments.covariances
            self.precisions_cholesky_ = eng.precision_factors(moments.covariances, ct)
        else:
            self.precisions_cholesky_ = eng.factors_from_precisions(precisions, ct)
            self.covariances_ = eng.covariances_from_factors(self.precisions_cholesky_, ct)

    def _scoring_parameters(self):
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(self.weights_, dtype=np.float64))
        return log_weights, self.means_, self.precisions_cholesky_

    def _m_step(self, engine, data, stats):
        """New parameters from the E-step's statistics; returns the log-likelihood (mean per
        sample) of the parameters that produced them."""
        moments = engine.moments(data, stats, self.reg_covar)
        self.weights_ = moments.counts / np.sum(moments.counts)
        self.means_ = moments.means
        self.covariances_ = moments.covariances
        self.precisions_cholesky_ = eng.precision_factors(moments.covariances,
                                                          self.covariance_type)
        return float(stats.mean_log_norm)

    def _state(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _restore(self, state):
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = state

    def _history_entry(self, log_likelihood=np.nan):
        return {
            "weights": np.array(self.weights_, copy=True),
            "means": np.array(self.means_, copy=True),
            "covariances": np.array(self.covariances_, copy=True),
            "log_likelihood": log_likelihood,
        }

    def _finish(self, dtype):
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=dtype))
        self.precisions_ = eng.precisions_from_factors(self.precisions_cholesky_,
                                                       self.covariance_type)
        for entry in getattr(self, "history_", None) or []:
            for key in ("weights", "means", "covariances"):
                entry[key] = entry[key].astype(dtype, copy=False)

    # -- model selection ----------------------------------------------------------------------

    def _n_parameters(self):
        return eng.n_parameters(self.n_components, self.means_.shape[1], self.covariance_type)

    def bic(self, X):
        """Bayesian information criterion on ``X``, ``-2 log L + p log N`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        n = _n_rows(X)
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion on ``X``, ``-2 log L + 2 p`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        return -2 * self.score(X) * _n_rows(X) + 2 * self._n_parameters()
