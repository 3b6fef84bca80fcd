"""Online (stepwise) EM for streams: :class:`MiniBatchGaussianMixture`.

Introduced in {ref}`ch-scaling-em`.

Batch EM reads all the data for every iteration. Stepwise EM (Sato & Ishii 2000; Cappé &
Moulines 2009; Liang & Klein 2009) keeps a running average ``s`` of the *per-sample* sufficient
statistics and, after every mini-batch,

.. math:: s \\leftarrow (1 - \\rho_t)\\, s + \\rho_t\\, \\hat s_{\\text{batch}},
   \\qquad \\rho_t = (t + \\tau)^{-\\kappa},

(``learning_offset`` :math:`\\tau`, ``learning_decay`` :math:`\\kappa \\in (0.5, 1]`) recomputes
the parameters from ``s`` with the ordinary M-step. Statistics, E-step and M-step are the
engine's (:mod:`gmmlib.engine`), exactly as in batch EM.
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from . import engine as eng
from . import scaling
from ._base import INIT_PARAMS, _is_dask_array
from ._validation import jobs, number, one_of, seed, whole_number
from .mixture import GaussianMixture
from .scaling import init_sample_indices

__all__ = ["MiniBatchGaussianMixture"]


class MiniBatchGaussianMixture(GaussianMixture):
    """Gaussian mixture fitted by online (stepwise) EM on mini-batches.

    Shaped like :class:`sklearn.cluster.MiniBatchKMeans`: :meth:`partial_fit` learns from one
    mini-batch (a stream), :meth:`fit` runs ``max_iter`` epochs of shuffled mini-batches. After
    each mini-batch the running per-sample statistics move towards the batch's by the step
    ``rho_t = (t + learning_offset) ** -learning_decay`` and the parameters are recomputed from
    them. Prediction, scoring, sampling, BIC and AIC are those of :class:`GaussianMixture`.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    n_components : int, default=1
        Number of components :math:`K`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Shape of the covariances.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    batch_size : int, default=1024
        Rows per mini-batch in :meth:`fit`.
    max_iter : int, default=10
        Epochs (passes over the data) of :meth:`fit`.
    learning_decay : float, default=0.6
        Exponent :math:`\\kappa` of the step size; in (0.5, 1] the steps meet the
        Robbins-Monro conditions.
    learning_offset : float, default=10.0
        Offset :math:`\\tau` (> 0); larger values make the early steps smaller.
    tol : float, default=1e-3
        :meth:`fit` stops when an epoch's mean mini-batch log-likelihood changes by less.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Initialisation, run on the first mini-batch (:meth:`partial_fit`) or on at most
        :data:`gmmlib.scaling.INIT_SAMPLE_SIZE` evenly spaced rows (:meth:`fit`).
    weights_init, means_init, precisions_init : array-like, default=None
        Starting parameters, as for :class:`GaussianMixture`.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, the shuffling, and the default seed of :meth:`sample`.
    verbose : int, default=0
        1 prints each epoch's mean log-likelihood (and, for a Dask array, where its blocks
        are kept).
    n_jobs : int, default=None
        Threads sharing each mini-batch's E-step (None: 1; -1: all CPUs).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        As for :class:`GaussianMixture`.
    converged_ : bool
        Whether :meth:`fit` stopped on ``tol`` (always False after :meth:`partial_fit`).
    n_iter_ : int
        Epochs done by :meth:`fit`.
    n_steps_ : int
        Mini-batch updates so far.
    lower_bound_ : float
        Mean log-likelihood of the last epoch (:meth:`fit`) or mini-batch
        (:meth:`partial_fit`), each batch scored with the parameters before its update.
    lower_bounds_ : list of float
        ``lower_bound_`` of every epoch of :meth:`fit`.
    n_features_in_ : int
        Number of features seen during fitting.
    dask_storage_ : {'persist', 'stream'}
        Set by :meth:`fit` on a Dask array: whether the blocks were kept on the workers
        between epochs or read from their source in every epoch
        (:func:`gmmlib.scaling.choose_dask_storage`).

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

    _rules = {
        "n_components": whole_number(low=1),
        "covariance_type": one_of(*eng.COVARIANCE_TYPES),
        "reg_covar": number(low=0.0),
        "batch_size": whole_number(low=1),
        "max_iter": whole_number(low=1),
        "learning_decay": number(low=0.0, high=1.0, low_inclusive=False),
        "learning_offset": number(low=0.0),
        "tol": number(low=0.0),
        "init_params": one_of(*INIT_PARAMS),
        "random_state": seed,
        "verbose": whole_number(low=0),
        "n_jobs": jobs,
    }

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
        n_jobs=None,
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
        self.n_jobs = n_jobs

    # -- the online step ----------------------------------------------------------------------

    def _begin(self, engine, X_init, w_init, centre):
        """Initial parameters from ``X_init`` (unless all ``*_init`` are given), and a fresh
        running average about ``centre``."""
        self._rng = check_random_state(self.random_state)
        initial = self._check_initial_values(X_init.shape[1])
        if X_init.shape[0] < self.n_components and not self._needs_no_sample(initial):
            raise ValueError(
                f"The first mini-batch has {X_init.shape[0]} rows, fewer than "
                f"n_components={self.n_components}: expected n_samples >= n_components.")
        self._initialise(engine, (X_init, w_init), initial, self._rng)
        self.weights_ = np.asarray(self.weights_, dtype=np.float64)
        self.means_ = np.asarray(self.means_, dtype=np.float64)
        self._centre = np.asarray(centre, dtype=np.float64)
        self._running = None
        self.n_steps_ = 0

    def _step(self, engine, X_batch, w_batch):
        """One stepwise-EM update; returns the batch's summed log-likelihood and weight."""
        rows = eng.Rows(X_batch, w_batch, centre=self._centre)
        stats = engine.e_step(rows, *self._scoring_parameters())
        if not stats.weight > 0:  # a batch of zero total weight carries no information
            return 0.0, 0.0
        per_sample = stats.scaled(1.0 / stats.weight)
        if self._running is None:
            self._running = per_sample  # the first step is a full EM step on the first batch
        else:
            rho = (self.n_steps_ + self.learning_offset) ** (-self.learning_decay)
            self._running = self._running.scaled(1.0 - rho) + per_sample.scaled(rho)
        self.n_steps_ += 1
        moments = eng.moments_from_statistics(self._running, self._centre, self.covariance_type,
                                              self.reg_covar)
        self.weights_ = moments.counts / np.sum(moments.counts)
        self.means_ = moments.means
        self.covariances_ = moments.covariances
        self.precisions_cholesky_ = eng.precision_factors(moments.covariances,
                                                          self.covariance_type)
        return stats.log_norm, stats.weight

    def _refresh(self):
        self.precisions_ = eng.precisions_from_factors(self.precisions_cholesky_,
                                                       self.covariance_type)

    # -- public API ---------------------------------------------------------------------------

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch (one stepwise-EM step).

        The first call initialises the model on this batch (``init_params``, or the
        ``*_init`` values) and fixes the batch's mean as the centre of the statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The mini-batch.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        first = not hasattr(self, "_running")
        if first:
            self._check_parameters()
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first)
        sample_weight = eng.checked_sample_weight(sample_weight, X.shape[0])
        with self._engine(X.shape[1]) as engine:
            if first:
                self._begin(engine, X, sample_weight, np.average(X, axis=0, weights=sample_weight))
            batch_log_likelihood, batch_weight = self._step(engine, X, sample_weight)
        self._refresh()
        if batch_weight > 0:
            self.lower_bound_ = batch_log_likelihood / batch_weight
        elif not hasattr(self, "lower_bound_"):
            self.lower_bound_ = -np.inf
        self.lower_bounds_ = [self.lower_bound_]
        self.n_iter_ = getattr(self, "n_iter_", 0)
        self.converged_ = False
        return self

    def _forget(self):
        for name in ("_running", "lower_bound_", "n_iter_", "dask_storage_"):
            self.__dict__.pop(name, None)

    def fit(self, X, y=None, sample_weight=None):
        """Fit with ``max_iter`` epochs of shuffled mini-batches of ``batch_size`` rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), numpy.memmap or dask.array.Array
            An array or a memory map is shuffled row by row in every epoch (a memory map gives
            exactly the model its data in memory would, reading rows in random order). A Dask
            array is read one block at a time: the blocks in random order, the rows of each
            block shuffled and cut into mini-batches, so only one block is ever in this
            process; where the blocks live between epochs is decided as for
            :class:`GaussianMixture` (attribute ``dask_storage_``, {ref}`ch-scaling-em`).
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        self._check_parameters()
        self._forget()
        if _is_dask_array(X):
            return self._fit_dask(X, sample_weight)
        rows, _ = self._training_rows(X, sample_weight)
        X, sample_weight, n_samples = rows.X, rows.sample_weight, rows.n_samples

        def batches():
            order = self._rng.permutation(n_samples)
            for start in range(0, n_samples, self.batch_size):
                batch = np.sort(order[start : start + self.batch_size])
                yield X[batch], None if sample_weight is None else sample_weight[batch]

        first = init_sample_indices(n_samples)
        with self._engine(rows.n_features) as engine:
            self._begin(engine, X[first], None if sample_weight is None else sample_weight[first],
                        rows.centre)
            self._epochs(engine, batches)
        return self

    def _fit_dask(self, X, sample_weight):
        import dask

        data, initial_sample, _ = scaling.dask_source(X, sample_weight, self)

        def batches():
            for block in self._rng.permutation(len(data.blocks)):
                X_block, w_block = dask.compute(data.blocks[block], data.weight_blocks[block])
                X_block = np.asarray(X_block)
                order = self._rng.permutation(len(X_block))
                for start in range(0, len(X_block), self.batch_size):
                    batch = np.sort(order[start : start + self.batch_size])
                    yield X_block[batch], None if w_block is None else np.asarray(w_block)[batch]

        with self._engine(data.n_features) as engine:
            X_init, w_init = initial_sample()
            self._begin(engine, X_init, w_init, data.centre)
            self._epochs(engine, batches)
        return self

    def _epochs(self, engine, batches):
        """Up to ``max_iter`` epochs, each one step per mini-batch of ``batches()``."""
        self.lower_bounds_, self.converged_, bound = [], False, -np.inf
        for epoch in range(1, self.max_iter + 1):
            total_log_likelihood = total_weight = 0.0
            for X_batch, w_batch in batches():
                log_likelihood, weight = self._step(engine, X_batch, w_batch)
                total_log_likelihood += log_likelihood
                total_weight += weight
            previous, bound = bound, total_log_likelihood / total_weight
            self.lower_bounds_.append(bound)
            self._say(1, f"Epoch {epoch}: mean mini-batch log-likelihood {bound:.6f}")
            if abs(bound - previous) < self.tol:
                self.converged_ = True
                break
        self._refresh()
        self.n_iter_ = epoch
        self.lower_bound_ = bound

    def fit_predict(self, X, y=None, sample_weight=None):
        """``fit(X).predict(X)``."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def fit_chunks(self, make_chunks):
        """Mini-batch EM over a stream: :meth:`partial_fit` on every ``batch_size`` rows.

        The stream is read in its own order (shuffle it at the source if its order means
        something); each chunk is cut into mini-batches of at most ``batch_size`` rows.

        Parameters
        ----------
        make_chunks : callable or iterable
            A function returning a fresh iterable of 2-D arrays (or of pairs
            ``(X_chunk, sample_weight_chunk)``), called once per epoch for ``max_iter``
            epochs. An iterable that is not callable (a generator, say) can be read only
            once: it gives one epoch and needs ``max_iter=1``.

        Returns
        -------
        self
        """
        self._check_parameters()
        if not callable(make_chunks):
            if not hasattr(make_chunks, "__iter__"):
                raise TypeError("make_chunks must be a function returning an iterable of "
                                f"arrays, or such an iterable; got {type(make_chunks).__name__}.")
            if self.max_iter != 1:
                raise ValueError(
                    f"An iterator of chunks can be read only once, but max_iter={self.max_iter} "
                    "asks for that many epochs. Set max_iter=1, or pass a function that returns "
                    "a fresh iterator for every epoch.")
            stream = make_chunks
            make_chunks = lambda: stream  # noqa: E731 (read once, as checked above)
        self._forget()
        bounds = []
        for _ in range(self.max_iter):
            total_log_likelihood = total_weight = 0.0
            for item in make_chunks():
                X_chunk, weights = item if isinstance(item, tuple) else (item, None)
                for start in range(0, len(X_chunk), self.batch_size):
                    X_batch = X_chunk[start : start + self.batch_size]
                    w_batch = None if weights is None else weights[start : start + self.batch_size]
                    self.partial_fit(X_batch, sample_weight=w_batch)
                    weight = float(len(X_batch) if w_batch is None else np.sum(w_batch))
                    total_log_likelihood += self.lower_bound_ * weight
                    total_weight += weight
            if total_weight == 0:
                raise ValueError("make_chunks() gave no rows.")
            bounds.append(total_log_likelihood / total_weight)
        self.n_iter_ = len(bounds)
        self.lower_bounds_ = bounds
        self.lower_bound_ = bounds[-1]
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "weights_") and hasattr(self, "precisions_")
