"""Scaling EM beyond one array in memory: streaming chunks, memory-mapped files and Dask.

Introduced in {ref}`ch-scaling-em`.

EM parallelises because its E-step is independent per sample and its M-step needs only
*sums* over the samples: the sufficient statistics :math:`N_k = \\sum_n \\gamma_{nk}`,
:math:`\\sum_n \\gamma_{nk} x_n`, :math:`\\sum_n \\gamma_{nk} x_n x_n^\\top` (or their diagonal,
tied or spherical counterparts) and the log-likelihood. Statistics of different chunks of rows
add up (:class:`gmmlib._fast.SufficientStatistics` supports ``+``), so one EM iteration can

- stream over chunks that never sit in memory together (:meth:`GaussianMixture.fit_chunks`,
  :meth:`GaussianMixture.fit` on a :class:`numpy.memmap`): :class:`ChunkedEM`;
- map over the blocks of a Dask array and add the statistics in a tree, on whatever Dask
  scheduler is active -- a ``dask.distributed.Client`` if one exists
  (:meth:`GaussianMixture.fit` on a ``dask.array.Array``): :class:`DaskEM`.

Both reuse the in-memory fit's machinery (:func:`gmmlib._fast.prepare_chunk`,
:func:`gmmlib._fast.accumulate_statistics`, :func:`gmmlib._fast.parameters_from_statistics`),
so given the same initialisation they agree with the in-memory fit up to rounding.

**Initialisation.** k-means on a memory map would read (and hold) all the data, so the
out-of-core fits initialise on a *sample* of rows chosen by a fixed rule,
:func:`init_sample_indices`: all rows when there are at most :data:`INIT_SAMPLE_SIZE`, else
:data:`INIT_SAMPLE_SIZE` evenly spaced rows. Small data therefore initialise exactly as the
in-memory :meth:`GaussianMixture.fit` does. ``weights_init``, ``means_init`` and
``precisions_init`` (all three) skip the sample altogether.

Dask is optional (``pip install "gmmlib[scale]"``): it is imported only when a Dask array is
fitted.
"""

import tracemalloc
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.utils import check_array

from . import _estimation as est
from . import _fast

__all__ = [
    "INIT_SAMPLE_SIZE",
    "ChunkedEM",
    "DaskEM",
    "default_chunk_size",
    "init_sample_indices",
    "iter_row_chunks",
    "peak_memory_of",
    "tree_sum",
]

#: Largest number of rows the out-of-core fits initialise on (see :func:`init_sample_indices`).
INIT_SAMPLE_SIZE = 20_000


###############################################################################
# Public helpers


def default_chunk_size(n_features, n_components, covariance_type="full"):
    """Rows per chunk that keep EM's largest per-chunk temporary at a few megabytes.

    The same rule as the in-memory fit: about ``2**19`` float64 elements for the biggest
    temporary (``K * D * rows`` for full covariances, ``K * rows`` otherwise), clipped to
    256-8192 rows. Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    n_features : int
        Number of features :math:`D`.
    n_components : int
        Number of components :math:`K`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure.

    Returns
    -------
    chunk_size : int
    """
    width = n_components * (n_features if covariance_type == "full" else 1)
    return int(
        np.clip(_fast._CHUNK_ELEMENTS // max(width, 1), _fast._MIN_CHUNK, _fast._MAX_CHUNK)
    )


def iter_row_chunks(X, chunk_size):
    """Consecutive blocks of ``chunk_size`` rows of ``X`` (the last one may be shorter).

    Slicing a :class:`numpy.memmap` only maps the rows: each chunk is read from disk when it
    is used, so a pass over the chunks never holds the whole array in memory.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_samples, n_features)
        Data.
    chunk_size : int
        Rows per chunk (at least 1).

    Yields
    ------
    X_chunk : ndarray of shape (<= chunk_size, n_features)
        A view of ``X`` (no copy).

    Examples
    --------
    >>> import numpy as np
    >>> [chunk.shape for chunk in iter_row_chunks(np.zeros((5, 2)), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}.")
    for start in range(0, X.shape[0], chunk_size):
        yield X[start : start + chunk_size]


def init_sample_indices(n_samples, size=None):
    """Rows the out-of-core fits initialise on: all of them, or ``size`` evenly spaced ones.

    A fixed rule (no randomness), so the sample and the fit are reproducible; evenly spaced
    rows cover a file whose order is meaningful (sorted by time, say) from start to end.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    n_samples : int
        Number of rows of the data.
    size : int, default=INIT_SAMPLE_SIZE
        Largest sample size.

    Returns
    -------
    indices : ndarray of shape (min(n_samples, size),)
        Increasing row indices.

    Examples
    --------
    >>> init_sample_indices(10, size=4)
    array([0, 3, 6, 9])
    """
    size = INIT_SAMPLE_SIZE if size is None else int(size)
    if n_samples <= size:
        return np.arange(n_samples)
    return np.linspace(0, n_samples - 1, size).round().astype(np.intp)


def peak_memory_of(func, *args, **kwargs):
    """Call ``func(*args, **kwargs)`` and measure the peak memory it allocates.

    Uses :mod:`tracemalloc`, which sees every allocation made by Python and NumPy (NumPy
    reports its array buffers to it) but not the pages of a memory-mapped file: those belong
    to the operating system's page cache, which can drop them at any time, so they are not
    memory the fit *needs*. (``ru_maxrss``, the resident set size, counts them while they are
    mapped, and so grows with the file size when a memory map is read.) Tracing slows
    Python-level code down a little; NumPy's arithmetic is unaffected. Introduced in
    {ref}`ch-scaling-em`.

    Returns
    -------
    result : object
        What ``func`` returned.
    peak_bytes : int
        Peak traced memory during the call, above what was allocated before it.

    Examples
    --------
    >>> import numpy as np
    >>> _, peak = peak_memory_of(np.ones, 1_000_000)
    >>> peak >= 8_000_000
    True
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = func(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, max(peak - before, 0)


###############################################################################
# Statistics of one chunk, in sub-chunks of bounded size


def _chunk_statistics(X_chunk, sample_weight, coefficients, shift, covariance_type, chunk_size):
    """Sufficient statistics of one chunk (any number of rows), in sub-chunks of
    ``chunk_size`` rows so that the temporaries stay small."""
    X_chunk = np.asarray(X_chunk)
    total = None
    for start in range(0, X_chunk.shape[0], chunk_size):
        stop = start + chunk_size
        w = None if sample_weight is None else sample_weight[start:stop]
        chunk = _fast.prepare_chunk(X_chunk[start:stop], shift, covariance_type, w)
        stats = _fast.accumulate_statistics(chunk, coefficients)
        total = stats if total is None else total + stats
    return total


def _split(item):
    """A chunk from ``make_chunks()``: an array, or a pair (array, weights)."""
    if isinstance(item, tuple):
        X_chunk, w = item
        return X_chunk, (None if w is None else np.asarray(w, dtype=np.float64))
    return item, None


###############################################################################
# Engines (same interface as gmmlib._fast.FusedEM)


class ChunkedEM(_fast.EMEngine):
    """EM iterations that stream over chunks: one pass of ``make_chunks()`` per iteration.

    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    make_chunks : callable
        Returns a fresh iterable of 2-D arrays, or of pairs ``(X_chunk, weights_chunk)``.
    shift : ndarray of shape (n_features,)
        Centre the statistics are taken about (the data's mean is the accurate choice).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.
    reg_covar : float
        Added to the diagonal of the covariances.
    chunk_size : int
        Chunks are processed in sub-chunks of at most this many rows.
    n_threads : int, optional
        Threads working on consecutive chunks (default: the usable CPUs, at most 2). At most
        ``2 * n_threads`` chunks are in flight, and their statistics are added in the order of
        the chunks, so memory stays bounded and results do not depend on timing.
    """

    def __init__(self, make_chunks, shift, covariance_type, reg_covar, chunk_size,
                 n_threads=None):
        self.make_chunks = make_chunks
        self.shift = shift
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.chunk_size = chunk_size
        self.n_threads = n_threads or min(2, _fast._n_threads())

    def statistics(self, weights, means, precisions_chol):
        """Sufficient statistics of all the chunks under the given parameters."""
        coefficients = _fast.make_coefficients(
            weights, means, precisions_chol, self.shift, self.covariance_type
        )
        def work(item):
            X_chunk, w = _split(item)
            if len(X_chunk) == 0:
                return None
            return _chunk_statistics(
                X_chunk, w, coefficients, self.shift, self.covariance_type, self.chunk_size
            )

        total = None

        def add(stats):
            nonlocal total
            if stats is not None:
                total = stats if total is None else total + stats

        with est.blas_single_thread():
            if self.n_threads <= 1:
                for item in self.make_chunks():
                    add(work(item))
                return total
            with ThreadPoolExecutor(self.n_threads) as pool:
                in_flight = deque()
                for item in self.make_chunks():
                    if len(in_flight) >= 2 * self.n_threads:
                        add(in_flight.popleft().result())
                    in_flight.append(pool.submit(work, item))
                while in_flight:
                    add(in_flight.popleft().result())
        return total


def _block_statistics(block, sample_weight, coefficients, shift, covariance_type, chunk_size):
    """What one Dask task computes: the statistics of one block of rows."""
    return _chunk_statistics(block, sample_weight, coefficients, shift, covariance_type,
                             chunk_size)


def _add(a, b):
    return a + b


def tree_sum(items, split_every=2):
    """Sum Dask delayed objects pairwise (or ``split_every`` at a time) in a tree.

    The depth is ``log(len(items))``, so the sums of many blocks are added in parallel
    instead of one after another. Introduced in {ref}`ch-scaling-em`.
    """
    import dask

    items = list(items)
    while len(items) > 1:
        grouped = []
        for start in range(0, len(items), split_every):
            group = items[start : start + split_every]
            total = group[0]
            for item in group[1:]:
                total = dask.delayed(_add, pure=True)(total, item)
            grouped.append(total)
        items = grouped
    return items[0]


class DaskEM(_fast.EMEngine):
    """EM iterations over a Dask array: each E-step maps over the row blocks, and the
    blocks' statistics are added in a tree, on the active Dask scheduler.

    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Data, chunked along rows only (it is rechunked to one block of columns).
    sample_weight : dask.array.Array or ndarray of shape (n_samples,), optional
        Per-sample weights.
    shift, covariance_type, reg_covar, chunk_size
        As for :class:`ChunkedEM`.
    """

    def __init__(self, X, sample_weight, shift, covariance_type, reg_covar, chunk_size):
        import dask.array as da

        self.X = X.rechunk({1: -1}) if X.numblocks[1] > 1 else X
        self.blocks = list(self.X.to_delayed().ravel())
        if sample_weight is None:
            self.weight_blocks = [None] * len(self.blocks)
        else:
            w = da.asarray(sample_weight).rechunk((self.X.chunks[0],))
            self.weight_blocks = list(w.to_delayed().ravel())
        self.shift = shift
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.chunk_size = chunk_size

    def statistics(self, weights, means, precisions_chol):
        """Sufficient statistics of all blocks (one ``dask.compute`` call)."""
        import dask

        coefficients = _fast.make_coefficients(
            weights, means, precisions_chol, self.shift, self.covariance_type
        )
        coefficients = dask.delayed(coefficients, traverse=False)
        block_task = dask.delayed(_block_statistics, pure=True)
        parts = [
            block_task(block, w, coefficients, self.shift, self.covariance_type, self.chunk_size)
            for block, w in zip(self.blocks, self.weight_blocks)
        ]
        (total,) = dask.compute(tree_sum(parts))
        return total


###############################################################################
# The out-of-core fits behind GaussianMixture.fit / fit_chunks


def _is_dask_array(X):
    """True for a ``dask.array.Array``, without importing Dask."""
    cls = type(X)
    return cls.__name__ == "Array" and cls.__module__.startswith("dask.array")


def _distributed_client():
    """The active ``dask.distributed`` client, or None (without importing distributed)."""
    import sys

    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:  # no client
        return None


def _check_n_features(model, n_features):
    continuing = model.warm_start and hasattr(model, "converged_")
    if continuing and n_features != model.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(model).__name__} is expecting "
            f"{model.n_features_in_} features as input."
        )
    model.n_features_in_ = n_features
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_


def _check_counts(model, n_samples):
    if n_samples < max(2, model.n_components):
        raise ValueError(
            "Expected n_samples >= n_components (and at least 2 samples) but got "
            f"n_components = {model.n_components}, n_samples = {n_samples}."
        )


def _run(model, engine, n_features, n_samples, sample_getter):
    """Shared tail: initialisation on a sample, the EM loop, the history's last entry."""
    _check_counts(model, n_samples)
    _check_n_features(model, n_features)
    sample_cache = {}

    def initialize(random_state, inits):
        if all(p is not None for p in inits):
            model._initialize_parameters(None, random_state, inits)
            return
        if "sample" not in sample_cache:
            sample_cache["sample"] = sample_getter()
        X_sample, w_sample = sample_cache["sample"]
        model._initialize_parameters(X_sample, random_state, inits, w_sample)

    if model.max_iter == 0:
        iterate = None
    else:
        def iterate():
            params = (model.weights_, model.means_, model.precisions_cholesky_)
            weights, means, covariances, prec_chol, bound = engine.iteration(*params)
            model.weights_, model.means_ = weights, means
            model.covariances_, model.precisions_cholesky_ = covariances, prec_chol
            return bound

    history = model._run_em(n_features, initialize, iterate)
    if history is not None:
        stats = engine.statistics(model.weights_, model.means_, model.precisions_cholesky_)
        history[-1]["log_likelihood"] = float(stats.log_likelihood / stats.n_samples)
        model.history_ = history
    return model


def _fit_chunks(model, make_chunks):
    """:meth:`GaussianMixture.fit_chunks`: validate, centre, initialise, stream."""
    model._validate_params()
    # Pass 1: validate every chunk, count rows, (weighted) column sums for the centre; keep
    # the rows while they fit in the initialisation sample.
    n_features = None
    n_samples = 0
    total_weight = 0.0
    column_sum = None
    kept, kept_w, weighted = [], [], False
    for item in make_chunks():
        X_chunk, w = _split(item)
        X_chunk = check_array(X_chunk, dtype=[np.float64, np.float32], ensure_min_samples=0)
        if n_features is None:
            n_features = X_chunk.shape[1]
        elif X_chunk.shape[1] != n_features:
            raise ValueError(
                f"All chunks must have the same number of features: got {X_chunk.shape[1]} "
                f"after {n_features}."
            )
        if w is not None:
            if w.shape != (X_chunk.shape[0],):
                raise ValueError(
                    f"A chunk of {X_chunk.shape[0]} rows came with sample weights of shape "
                    f"{w.shape}."
                )
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("sample_weight must be finite and non-negative.")
            weighted = True
        n = X_chunk.shape[0]
        n_samples += n
        sums = X_chunk.sum(axis=0, dtype=np.float64) if w is None else w @ X_chunk
        column_sum = sums if column_sum is None else column_sum + sums
        total_weight += n if w is None else float(np.sum(w))
        if n_samples <= INIT_SAMPLE_SIZE:
            kept.append(np.array(X_chunk, dtype=np.float64))
            kept_w.append(np.ones(n) if w is None else w)
    if n_features is None:
        raise ValueError("make_chunks() returned no chunks.")
    if not total_weight > 0:
        raise ValueError("sample_weight must not be all zero.")
    shift = column_sum / total_weight
    chunk_size = default_chunk_size(n_features, model.n_components, model.covariance_type)
    engine = ChunkedEM(make_chunks, shift, model.covariance_type, model.reg_covar, chunk_size)

    def sample():
        if n_samples <= INIT_SAMPLE_SIZE:
            return np.concatenate(kept), (np.concatenate(kept_w) if weighted else None)
        indices = init_sample_indices(n_samples)
        rows, ws, offset = [], [], 0
        for item in make_chunks():  # one more pass, keeping only the sampled rows
            X_chunk, w = _split(item)
            n = len(X_chunk)
            local = indices[(indices >= offset) & (indices < offset + n)] - offset
            rows.append(np.asarray(X_chunk, dtype=np.float64)[local])
            ws.append(np.ones(len(local)) if w is None else w[local])
            offset += n
        return np.concatenate(rows), (np.concatenate(ws) if weighted else None)

    return _run(model, engine, n_features, n_samples, sample)


def _fit_out_of_core(model, X, sample_weight):
    """:meth:`GaussianMixture.fit` for a memory map (streamed) or a Dask array."""
    from .mixture import _check_sample_weight

    model._validate_params()
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array, got {X.ndim}-D.")
    n_samples, n_features = (int(s) for s in X.shape)
    if n_features < 1:
        raise ValueError("Found array with 0 feature(s) while a minimum of 1 is required.")
    chunk_size = default_chunk_size(n_features, model.n_components, model.covariance_type)

    if _is_dask_array(X):
        import dask
        import dask.array as da

        if isinstance(sample_weight, da.Array):
            w_dask = sample_weight
            if w_dask.shape != (n_samples,):
                raise ValueError(
                    f"sample_weight must have shape ({n_samples},), one weight per sample, "
                    f"but got shape {w_dask.shape}."
                )
            w_min, w_finite = dask.compute(w_dask.min(), da.isfinite(w_dask).all())
            if w_min < 0 or not w_finite:
                raise ValueError("sample_weight must be finite and non-negative.")
        else:
            w_dask = _check_sample_weight(sample_weight, n_samples)
        X = X.astype(np.float64) if X.dtype != np.float64 else X
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        if isinstance(w_dask, da.Array):
            w_dask = w_dask.rechunk((X.chunks[0],))
        if _distributed_client() is not None:
            # On a cluster, keep the blocks on the workers for the whole fit (as dask-ml
            # does), so each iteration ships only the parameters, not the data.
            X = X.persist()
            if isinstance(w_dask, da.Array):
                w_dask = w_dask.persist()
        if w_dask is None:
            centre_sum, total_weight = X.sum(axis=0), n_samples
        else:
            w_arr = da.asarray(w_dask).rechunk((X.chunks[0],))
            centre_sum, total_weight = (X * w_arr[:, None]).sum(axis=0), w_arr.sum()
        finite, centre_sum, total_weight = dask.compute(
            da.isfinite(X).all(), centre_sum, total_weight
        )
        if not finite:
            raise ValueError("Input X contains NaN or infinity.")
        if not total_weight > 0:
            raise ValueError("sample_weight must not be all zero.")
        shift = np.asarray(centre_sum, dtype=np.float64) / float(total_weight)
        engine = DaskEM(X, w_dask, shift, model.covariance_type, model.reg_covar, chunk_size)

        def sample():
            indices = init_sample_indices(n_samples)
            X_s = np.asarray(X[indices].compute(), dtype=np.float64)
            if w_dask is None:
                return X_s, None
            w_s = w_dask[indices]
            return X_s, np.asarray(w_s.compute() if hasattr(w_s, "compute") else w_s)

        return _run(model, engine, n_features, n_samples, sample)

    # numpy.memmap: stream over row chunks of the file
    sample_weight = _check_sample_weight(sample_weight, n_samples)

    def make_chunks():
        if sample_weight is None:
            return iter_row_chunks(X, chunk_size)
        return zip(iter_row_chunks(X, chunk_size), iter_row_chunks(sample_weight, chunk_size))

    # one validation pass: finite values, and the (weighted) mean as the centre
    column_sum = np.zeros(n_features)
    for item in make_chunks():
        X_chunk, w = _split(item)
        if not np.all(np.isfinite(X_chunk)):
            raise ValueError("Input X contains NaN or infinity.")
        column_sum += X_chunk.sum(axis=0, dtype=np.float64) if w is None else w @ X_chunk
    total_weight = n_samples if sample_weight is None else float(np.sum(sample_weight))
    shift = column_sum / total_weight
    engine = ChunkedEM(make_chunks, shift, model.covariance_type, model.reg_covar, chunk_size)

    def sample():
        indices = init_sample_indices(n_samples)
        X_s = np.asarray(X[indices], dtype=np.float64)
        return X_s, (None if sample_weight is None else sample_weight[indices])

    return _run(model, engine, n_features, n_samples, sample)

