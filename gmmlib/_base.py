"""What gmmlib's mixture estimators share: checking their input, the EM loop, prediction.

A subclass says how its parameters come from the engine's moments and what it monitors; this
module runs the rest the same way for all of them: ``n_init`` starts, each iterated until the
monitored bound changes by less than ``tol`` or ``max_iter`` iterations are done, keeping the
start with the largest final bound (the first start is always kept until a later one beats
it), warm starts, the optional history, and a last E-step when labels are asked for.
"""

import time
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import engine as eng
from . import scaling
from ._validation import flag, jobs, number, one_of, seed, whole_number

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

#: Rules for the constructor parameters that every batch EM estimator has (see
#: :meth:`MixtureBase._check_parameters`); a subclass adds its own to these.
BATCH_EM_RULES = {
    "n_components": whole_number(low=1),
    "covariance_type": one_of(*eng.COVARIANCE_TYPES),
    "tol": number(low=0.0),
    "reg_covar": number(low=0.0),
    "max_iter": whole_number(low=0),
    "n_init": whole_number(low=1),
    "init_params": one_of(*INIT_PARAMS),
    "random_state": seed,
    "warm_start": flag,
    "verbose": whole_number(low=0),
    "verbose_interval": whole_number(low=1),
    "n_jobs": jobs,
    "record_history": flag,
}


###############################################################################
# Initial responsibilities


def initial_responsibilities(X, sample_weight, n_components, init_params, random_state):
    """Responsibilities (n_samples, K) to start EM from, chosen by ``init_params``.

    The random draws are those of scikit-learn for the same ``random_state``, so that both
    libraries start from the same point. Sample weights are honoured: k-means and k-means++
    weight the rows, and ``random_from_data`` only picks rows of positive weight (``random``
    gives every row random responsibilities, and the weighted M-step that follows ignores the
    rows of zero weight).
    """
    from sklearn.cluster import KMeans, kmeans_plusplus

    n_samples = X.shape[0]
    resp = np.zeros((n_samples, n_components))
    if init_params == "kmeans":
        with eng.one_openmp_thread():
            labels = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(
                X, sample_weight=sample_weight).labels_
        resp[np.arange(n_samples), labels] = 1.0
    elif init_params == "k-means++":
        with eng.one_openmp_thread():
            _, chosen = kmeans_plusplus(X, n_components, random_state=random_state,
                                        sample_weight=sample_weight)
        resp[chosen, np.arange(n_components)] = 1.0
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    else:  # random_from_data
        chance = None
        if sample_weight is not None:
            if np.count_nonzero(sample_weight) < n_components:
                raise ValueError(f"init_params='random_from_data' needs at least {n_components} "
                                 "rows of positive sample_weight to start from.")
            chance = sample_weight / sample_weight.sum()
        chosen = random_state.choice(n_samples, size=n_components, replace=False, p=chance)
        resp[chosen, np.arange(n_components)] = 1.0
    return resp


###############################################################################
# The shared estimator


def _better(bound, best):
    """Whether a later start beats the best so far: by more than rounding. Starts that end
    within rounding of each other reached the same optimum, and the first is kept."""
    return bound - best > 1e-12 * max(1.0, abs(best))


def _is_dask_array(X):
    kind = type(X)
    return kind.__name__ == "Array" and kind.__module__.startswith("dask.array")


class MixtureBase(DensityMixin, BaseEstimator):
    """Base of gmmlib's mixture estimators (not used directly).

    Subclasses set ``_rules`` (the constructor parameters' rules) and implement
    ``_check_initial_values``, ``_start``, ``_scoring_parameters``, ``_m_step``, ``_state``,
    ``_restore`` and ``_history_entry``.
    """

    #: The bound returned by ``_m_step`` describes the parameters before the update (EM's
    #: log-likelihood) rather than after it (a variational bound).
    _bound_before_update = True
    #: The E-step also sums the responsibilities' entropy (variational inference needs it).
    _needs_entropy = False

    # -- checks -------------------------------------------------------------------------------

    def _check_parameters(self):
        owner = type(self).__name__
        for name, rule in self._rules.items():
            rule(owner, name, getattr(self, name))

    def _continuing(self):
        return getattr(self, "warm_start", False) and hasattr(self, "converged_")

    def _engine(self, n_features):
        return eng.Engine(self.covariance_type, self.n_components, n_features,
                          n_jobs=getattr(self, "n_jobs", None))

    def _training_rows(self, X, sample_weight):
        """Validated in-memory training data as :class:`gmmlib.engine.Rows`, and its dtype."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2,
                          reset=not self._continuing())
        n_rows = X.shape[0]
        if n_rows < self.n_components:
            raise ValueError(
                f"There are fewer samples ({n_rows}) than components "
                f"(n_components={self.n_components}): expected n_samples >= n_components. "
                "Use fewer components or more data.")
        return eng.Rows(X, sample_weight), X.dtype

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (see the class docstring for what is kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or dask.array.Array
            Training data, one sample per row. A ``numpy.memmap`` is read chunk by chunk and
            gives exactly the model an in-memory copy would. A Dask array is fitted block by
            block on the active Dask scheduler ({ref}`ch-scaling-em`).
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (gmmlib only); integer weights give the fit of
            repeated rows.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, want_labels=False)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each sample.

        The labels come from a last E-step with the fitted parameters, so they equal
        ``fit(X).predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        if _is_dask_array(X):
            return self.fit(X, sample_weight=sample_weight).predict(X)
        return self._fit(X, sample_weight, want_labels=True)

    def fit_chunks(self, make_chunks):
        """Fit with each EM pass streaming over chunks that never sit in memory together.

        Introduced in {ref}`ch-scaling-em`. Same result as :meth:`fit` on the concatenated
        chunks up to rounding, given the same initialisation.

        Parameters
        ----------
        make_chunks : callable
            ``make_chunks()`` returns a fresh iterable of 2-D arrays (n_i, n_features), or of
            pairs ``(X_chunk, sample_weight_chunk)``. It is called for a first pass that checks
            the data and finds their centre, once per EM pass, and once more to gather an
            initialisation sample when the data have more than
            :data:`gmmlib.scaling.INIT_SAMPLE_SIZE` rows (the sample is
            :func:`gmmlib.scaling.init_sample_indices` of them; with fewer rows it is all of
            them, so small data initialise exactly as :meth:`fit` does).

        Returns
        -------
        self
        """
        self._check_parameters()
        data, sample, dtype = scaling.stream_source(make_chunks, self)
        self._run(data, sample, dtype)
        return self

    def _fit(self, X, sample_weight, want_labels):
        self._check_parameters()
        self.__dict__.pop("dask_storage_", None)  # set again below only by a fit on Dask
        if _is_dask_array(X):
            data, sample, dtype = scaling.dask_source(X, sample_weight, self)
            self._run(data, sample, dtype)
            return None
        data, dtype = self._training_rows(X, sample_weight)
        return self._run(data, lambda: (data.X, data.sample_weight), dtype, want_labels)

    def _run(self, data, initial_sample, dtype, want_labels=False):
        """The EM loop over ``n_init`` starts; sets the fitted attributes."""
        initial = self._check_initial_values(data.n_features)
        rng = check_random_state(self.random_state)
        fresh = not self._continuing()
        best = None
        with self._engine(data.n_features) as engine:
            sample = None
            for start in range(self.n_init if fresh else 1):
                self._say(1, f"Start {start + 1} of {self.n_init if fresh else 1}")
                if fresh:
                    if sample is None and not self._needs_no_sample(initial):
                        sample = initial_sample()
                    self._initialise(engine, sample, initial, rng)
                run = self._iterate(engine, data, -np.inf if fresh else self.lower_bound_)
                if best is None or best["bound"] == -np.inf or _better(run["bound"], best["bound"]):
                    best = run
            self._restore(best["state"])
            self.converged_ = best["converged"]
            self.n_iter_ = best["n_iter"]
            self.lower_bound_ = best["bound"]
            self.lower_bounds_ = best["bounds"]
            if best["history"] is not None:
                self._close_history(engine, data, best["history"])
                self.history_ = best["history"]
            labels = None
            if want_labels:
                labels = engine.row_output(data, self._plan(engine, data), "labels")
        if self.max_iter > 0 and not self.converged_:
            warnings.warn(
                f"{type(self).__name__} did not converge: the best of the starts was still "
                f"changing its bound by more than tol={self.tol} after max_iter={self.max_iter} "
                "iterations. Raise max_iter or tol, try other initialisations, or check the data "
                "for duplicates.",
                ConvergenceWarning)
        self._finish(dtype)
        return labels

    def _needs_no_sample(self, initial):
        return all(value is not None for value in initial)

    def _initialise(self, engine, sample, initial, random_state):
        """Initial parameters: the user's values, completed by an M-step on responsibilities
        from ``init_params`` (run on ``sample``) when any of them is missing."""
        moments = None
        if not self._needs_no_sample(initial):
            X0, w0 = sample
            resp = initial_responsibilities(X0, w0, self.n_components, self.init_params,
                                            random_state)
            rows = eng.Rows(X0, w0, centre=np.zeros(X0.shape[1]))
            layout = "diag" if self.covariance_type == "spherical" else None
            stats = engine.statistics(rows, eng.GivenResponsibilities(resp), layout=layout)
            moments = engine.initial_moments(rows, stats, self.reg_covar)
        self._start(moments, initial)

    def _plan(self, engine, data):
        return engine.plan(data, *self._scoring_parameters())

    def _iterate(self, engine, data, bound):
        """EM from the current parameters until convergence or ``max_iter``."""
        bounds = []
        history = [self._history_entry()] if getattr(self, "record_history", False) else None
        converged, done = False, 0
        clock = time.perf_counter()
        if self.max_iter == 0:
            bound = -np.inf
        for done in range(1, self.max_iter + 1):
            stats = engine.e_step(data, *self._scoring_parameters(), entropy=self._needs_entropy)
            previous, bound = bound, self._m_step(engine, data, stats)
            bounds.append(bound)
            if history is not None:
                if self._bound_before_update:
                    history[-1]["log_likelihood"] = bound
                    history.append(self._history_entry())
                else:
                    history.append(self._history_entry(bound))
            if done % getattr(self, "verbose_interval", 10) == 0:
                now = time.perf_counter()
                self._say(1, f"  iteration {done}", f"bound {bound:.6f}, change "
                          f"{bound - previous:.3g}, {now - clock:.3f} s since the last message")
                clock = now
            if abs(bound - previous) < self.tol:
                converged = True
                break
        self._say(1, f"  {'converged' if converged else 'stopped without converging'} after "
                     f"{done} iterations", f"bound {bound:.6f}")
        return dict(bound=bound, bounds=bounds, n_iter=done, converged=converged,
                    history=history, state=self._state())

    def _close_history(self, engine, data, history):
        """The last history entry's log-likelihood needs one more E-step."""
        if self._bound_before_update:
            stats = engine.e_step(data, *self._scoring_parameters())
            history[-1]["log_likelihood"] = float(stats.mean_log_norm)

    def _say(self, level, message, detail=None):
        verbose = getattr(self, "verbose", 0)
        if verbose >= level:
            print(message if detail is None or verbose < 2 else f"{message}: {detail}")

    def _finish(self, dtype):
        """Fitted arrays in the training data's float type (float32 in, float32 out)."""

    # -- using the fitted model ---------------------------------------------------------------

    def _rows_to_score(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        centre = np.asarray(self.weights_, dtype=np.float64) @ np.asarray(self.means_, dtype=np.float64)
        return eng.Rows(X, centre=centre), X.dtype

    def _row_output(self, X, output):
        rows, dtype = self._rows_to_score(X)
        engine = self._engine(rows.n_features)
        with engine:
            result = engine.row_output(rows, self._plan(engine, rows), output)
        return result, dtype

    def score_samples(self, X):
        """Log-density of the fitted mixture at each sample, ``log p(x_n)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        log_norm, dtype = self._row_output(X, "log_norm")
        return log_norm.astype(dtype, copy=False)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over the samples (per-sample log-likelihood).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        float
        """
        log_norm, _ = self._row_output(X, "log_norm")
        return float(np.mean(log_norm))

    def predict(self, X):
        """The most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        labels, _ = self._row_output(X, "labels")
        return labels

    def predict_proba(self, X):
        """Responsibilities: the probability of each component given each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Rows are non-negative and sum to one.
        """
        (_, log_resp), dtype = self._row_output(X, "log_resp")
        return np.exp(log_resp).astype(dtype, copy=False)

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted mixture (ancestral sampling).

        First the number of samples per component (one multinomial draw with the weights), then
        each component's samples in turn; the draws equal scikit-learn's for the same seed.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState, Generator or None, default=None
            Seed for this call (gmmlib only); None uses the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples, grouped by component.
        y : ndarray of shape (n_samples,)
            The component of each sample.
        """
        check_is_fitted(self)
        if isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, Integral) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a whole number of at least 1; it is {n_samples!r}.")
        choice = self.random_state if random_state is None else random_state
        rng = choice if isinstance(choice, np.random.Generator) else check_random_state(choice)
        per_component = rng.multinomial(n_samples, self.weights_)
        D = self.means_.shape[1]
        blocks = []
        for k, count in enumerate(per_component):
            count = int(count)
            if self.covariance_type in ("full", "tied"):
                covariance = self.covariances_[k] if self.covariance_type == "full" \
                    else self.covariances_
                blocks.append(rng.multivariate_normal(self.means_[k], covariance, count))
            else:
                spread = np.sqrt(self.covariances_[k])
                blocks.append(self.means_[k] + rng.standard_normal(size=(count, D)) * spread)
        labels = np.repeat(np.arange(len(per_component)), per_component.astype(np.intp))
        return np.vstack(blocks).astype(np.float64, copy=False), labels
