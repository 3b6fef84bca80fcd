"""EM beyond one array in memory: streams of chunks, memory maps and Dask arrays.

Introduced in {ref}`ch-scaling-em`.

EM parallelises because its E-step is separate for every sample and its M-step needs only
*sums* over the samples (:class:`gmmlib.engine.Statistics`), and sums of chunks add up. So a
pass of EM can

- stream over chunks that never sit in memory together:
  :meth:`gmmlib.GaussianMixture.fit_chunks` with a function returning the chunks, for example
  ``lambda: iter_row_chunks(X_on_disk, 100_000)``;
- map over the blocks of a Dask array and add the blocks' statistics in a tree, on whatever
  Dask scheduler is active (a ``dask.distributed.Client`` if there is one):
  :meth:`gmmlib.GaussianMixture.fit` on a ``dask.array.Array``.

**Where a Dask array's blocks live during a fit.** On a cluster whose workers can hold the
data with room to spare, the blocks are read once and kept in the workers' memory (persisted);
otherwise every pass reads each block from its source again (streamed), and a worker never
holds more than the few blocks it is working on, so the fit works on workers whose memory is
far smaller than the data, without relying on Dask's spilling to disk.
:func:`choose_dask_storage` makes the choice, :func:`dask_storage` forces one, the fitted
attribute ``dask_storage_`` says which was made and ``verbose=1`` prints why.

A ``numpy.memmap`` passed to :meth:`~gmmlib.GaussianMixture.fit` is simply an array: each pass
reads it chunk by chunk (nothing is copied into memory), and the model is exactly the one the
same data in memory would give. The streamed paths are chosen explicitly, never by the type of
an array.

**Initialisation of the streamed paths.** k-means over a stream would need every row at once, so
``fit_chunks`` and Dask fits initialise on a sample of rows chosen by a fixed rule,
:func:`init_sample_indices`: all rows when there are at most :data:`INIT_SAMPLE_SIZE`, else that
many evenly spaced rows. Small data therefore initialise exactly as the in-memory fit does.
Given ``weights_init``, ``means_init`` and ``precisions_init`` no sample is needed at all.

Dask is optional (``pip install "gmmlib[scale]"``) and imported only when a Dask array is fitted.
"""

import contextlib
import contextvars
import tracemalloc

import numpy as np
from sklearn.utils import check_array

from . import engine as eng

__all__ = [
    "INIT_SAMPLE_SIZE",
    "PERSIST_FRACTION",
    "DaskRows",
    "check_worker_headroom",
    "choose_dask_storage",
    "cluster_memory",
    "dask_storage",
    "default_chunk_size",
    "init_sample_indices",
    "iter_row_chunks",
    "peak_memory_of",
    "tree_sum",
]

#: Rows per chunk of EM's passes: :func:`gmmlib.engine.chunk_rows` (the same rule everywhere).
default_chunk_size = eng.chunk_rows

#: Largest number of rows the streamed fits (``fit_chunks``, Dask arrays) initialise on; see
#: :func:`init_sample_indices`.
INIT_SAMPLE_SIZE = 20_000


###############################################################################
# Public helpers


def iter_row_chunks(X, chunk_size):
    """Consecutive blocks of ``chunk_size`` rows of ``X`` (the last may be shorter).

    Slicing a :class:`numpy.memmap` only maps the rows, so each block is read from disk when it
    is used and a pass never holds the whole array. Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_samples, n_features)
    chunk_size : int
        Rows per block, at least 1.

    Yields
    ------
    ndarray of shape (<= chunk_size, n_features)
        Views of ``X`` (no copies).

    Examples
    --------
    >>> import numpy as np
    >>> [block.shape for block in iter_row_chunks(np.zeros((5, 2)), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}.")
    for start in range(0, X.shape[0], chunk_size):
        yield X[start : start + chunk_size]


def init_sample_indices(n_samples, size=None):
    """The rows a streamed fit initialises on: all of them, or ``size`` evenly spaced ones.

    A fixed rule, not a random one, so the fit is reproducible; evenly spaced rows also cover a
    file whose order means something (sorted by time, say) from start to end.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    n_samples : int
    size : int, default=INIT_SAMPLE_SIZE

    Returns
    -------
    ndarray of shape (min(n_samples, size),)
        Increasing row numbers.

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
    """Call ``func(*args, **kwargs)`` and return its result and the peak memory it allocated.

    Measured with :mod:`tracemalloc`, which sees what Python and NumPy allocate (NumPy reports
    its array buffers to it) but not the pages of a memory-mapped file: those belong to the
    operating system's page cache, which can drop them whenever it likes, so they are not
    memory the computation needs. (The resident set size counts them while they are mapped,
    and so grows with the file.) Tracing slows Python code a little, NumPy's arithmetic not at
    all. Introduced in {ref}`ch-scaling-em`.

    Returns
    -------
    result : object
        What ``func`` returned.
    peak_bytes : int
        The peak of traced memory during the call, above what was in use before it.

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


def _add_pair(left, right):
    return left + right


def tree_sum(items, split_every=2):
    """Add Dask delayed values in a tree, ``split_every`` at a time.

    The tree is ``log(len(items))`` deep, so the sums of many blocks are added in parallel
    rather than one after another. Introduced in {ref}`ch-scaling-em`.
    """
    import dask

    add = dask.delayed(_add_pair, pure=True)
    level = list(items)
    while len(level) > 1:
        next_level = []
        for start in range(0, len(level), split_every):
            group = level[start : start + split_every]
            total = group[0]
            for item in group[1:]:
                total = add(total, item)
            next_level.append(total)
        level = next_level
    return level[0]


###############################################################################
# Telling the estimator about the data's shape


def _note_features(model, n_features, n_samples):
    """Set ``n_features_in_`` (refusing a warm start on other features) and check the size."""
    if model._continuing() and n_features != model.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {type(model).__name__} is "
                         f"expecting {model.n_features_in_} features as input.")
    if n_samples < max(2, model.n_components):
        raise ValueError(
            f"There are {n_samples} samples for n_components={model.n_components}: expected "
            "n_samples >= n_components and at least 2 samples.")
    model.n_features_in_ = n_features
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_


###############################################################################
# Chunks from a function


def _split(item):
    if isinstance(item, tuple):
        X_chunk, weights = item
        return X_chunk, (None if weights is None else np.asarray(weights, dtype=np.float64))
    return item, None


def stream_source(make_chunks, model):
    """Check a stream of chunks in one pass and describe it for the engine.

    Returns ``(data, initial_sample, dtype)``: a :class:`gmmlib.engine.ChunkStream`, a function
    returning the initialisation sample ``(X, weights)``, and the float type of the chunks.
    """
    n_features, n_samples, total_weight, column_sum = None, 0, 0.0, None
    kept, kept_weights, weighted, dtypes = [], [], False, set()
    for item in make_chunks():
        X_chunk, weights = _split(item)
        X_chunk = check_array(X_chunk, dtype=[np.float64, np.float32], ensure_min_samples=0,
                              input_name="X")
        dtypes.add(X_chunk.dtype)
        if n_features is None:
            n_features = X_chunk.shape[1]
        elif X_chunk.shape[1] != n_features:
            raise ValueError(f"All chunks must have the same number of features: got "
                             f"{X_chunk.shape[1]} after {n_features}.")
        if weights is not None:
            if weights.shape != (X_chunk.shape[0],):
                raise ValueError(f"A chunk of {X_chunk.shape[0]} rows came with sample weights "
                                 f"of shape {weights.shape}.")
            if not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError("sample_weight must be finite and non-negative.")
            weighted = True
        n_samples += X_chunk.shape[0]
        sums = X_chunk.sum(axis=0, dtype=np.float64) if weights is None else weights @ X_chunk
        column_sum = sums if column_sum is None else column_sum + sums
        total_weight += X_chunk.shape[0] if weights is None else float(weights.sum())
        if n_samples <= INIT_SAMPLE_SIZE:
            kept.append(np.asarray(X_chunk, dtype=np.float64))
            kept_weights.append(np.ones(X_chunk.shape[0]) if weights is None else weights)
    if n_features is None:
        raise ValueError("make_chunks() returned no chunks.")
    _note_features(model, n_features, n_samples)
    if not total_weight > 0:
        raise ValueError("sample_weight must not be all zero.")
    data = eng.ChunkStream(make_chunks, column_sum / total_weight, n_samples, n_features,
                           weighted)

    def initial_sample():
        if n_samples <= INIT_SAMPLE_SIZE:
            rows = np.concatenate(kept)
            return rows, (np.concatenate(kept_weights) if weighted else None)
        wanted = init_sample_indices(n_samples)
        rows, weights, offset = [], [], 0
        for item in make_chunks():  # one more pass, keeping only the sampled rows
            X_chunk, w = _split(item)
            size = len(X_chunk)
            local = wanted[(wanted >= offset) & (wanted < offset + size)] - offset
            rows.append(np.asarray(X_chunk, dtype=np.float64)[local])
            weights.append(np.ones(len(local)) if w is None else w[local])
            offset += size
        return np.concatenate(rows), (np.concatenate(weights) if weighted else None)

    dtype = np.float32 if dtypes == {np.dtype(np.float32)} else np.float64
    return data, initial_sample, dtype


###############################################################################
# Dask arrays: where the blocks live during a fit

#: The Dask path keeps the blocks on the workers ("persist") when the data take at most this
#: fraction of the memory the workers have free; see :func:`choose_dask_storage`.
PERSIST_FRACTION = 0.5

_STORAGE_MODES = ("auto", "persist", "stream")
_storage_mode = contextvars.ContextVar("gmmlib_dask_storage", default="auto")


@contextlib.contextmanager
def dask_storage(mode):
    """Within the ``with`` block, Dask fits keep their blocks as ``mode`` says.

    ``"persist"`` loads every block once into the workers' memory (``Array.persist``) and
    passes over them there; ``"stream"`` computes each block from its source (reads it from
    storage) in every pass and keeps nothing; ``"auto"`` (the default outside any block)
    chooses by :func:`choose_dask_storage`. The choice a fit made is its ``dask_storage_``
    attribute. Introduced in {ref}`ch-scaling-em`.

    Examples
    --------
    >>> with dask_storage("stream"):
    ...     pass  # model.fit(X_dask) here streams whatever the cluster's memory
    """
    if mode not in _STORAGE_MODES:
        raise ValueError(f"mode must be one of {list(_STORAGE_MODES)}, got {mode!r}.")
    token = _storage_mode.set(mode)
    try:
        yield mode
    finally:
        _storage_mode.reset(token)


def _machine_memory():
    """Bytes of memory available on the machine this runs on (runs on a Dask worker)."""
    import psutil

    return int(psutil.virtual_memory().available)


def _workers(client):
    """The scheduler's record of every worker: address -> dict."""
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # versions before the n_workers argument list all workers anyway
        return client.scheduler_info()["workers"]


def cluster_memory(client):
    """Memory of a Dask cluster's workers: ``(free, limit, n_workers)`` in bytes.

    ``limit`` adds up the workers' memory limits and ``free`` what each has left under its
    limit now (its limit minus its process memory, as the scheduler last heard). Workers
    started without a limit count with their machine's available memory (once per machine).
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    free, limit : int
    n_workers : int
    """
    workers = _workers(client)
    free = limit = 0
    unlimited = {}
    for address, worker in workers.items():
        worker_limit = worker.get("memory_limit") or 0
        used = int(worker.get("metrics", {}).get("memory") or 0)
        if worker_limit > 0:
            limit += worker_limit
            free += max(worker_limit - used, 0)
        else:
            unlimited.setdefault(worker.get("host", address), []).append(address)
    if unlimited:
        first = [addresses[0] for addresses in unlimited.values()]
        available = client.run(_machine_memory, workers=first)
        for address in first:
            limit += available[address]
            free += available[address]
    return free, limit, len(workers)


def check_worker_headroom(client, block_bytes):
    """Raise a ValueError if a worker cannot work on blocks of ``block_bytes`` without pausing.

    A Dask worker stops taking tasks when its process memory passes the *pause* fraction of
    its limit (``distributed.worker.memory.pause``, 0.8 by default) and waits until memory is
    freed. A worker whose own start-up (Python, NumPy, scikit-learn, gmmlib: about 170 MB)
    leaves less than a few blocks below that line pauses in the first pass and never resumes,
    so the fit would wait forever. Each worker thread holds about two blocks at a time (the
    one read, the one worked on), plus the read buffer. Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    client : distributed.Client
    block_bytes : int
        Size of the largest block.
    """
    import dask

    pause = dask.config.get("distributed.worker.memory.pause", 0.8)
    if not pause:  # pausing switched off
        return
    for address, worker in _workers(client).items():
        limit = worker.get("memory_limit") or 0
        if limit <= 0:
            continue
        used = int(worker.get("metrics", {}).get("memory") or 0)
        needed = (2 * int(worker.get("nthreads", 1)) + 1) * block_bytes
        room = pause * limit - used
        if room < needed:
            raise ValueError(
                f"Dask worker {address} uses {used / 1e6:.0f} MB of its {limit / 1e6:.0f} MB "
                f"limit and pauses at {pause:.0%}: {max(room, 0) / 1e6:.0f} MB are left for "
                f"blocks of {block_bytes / 1e6:.1f} MB, and it needs about {needed / 1e6:.0f} MB. "
                "Give the workers more memory, fewer threads each, or use smaller blocks "
                "(X.rechunk).")


def _gigabytes(n_bytes):
    return f"{n_bytes / 1e9:.2f} GB"


def choose_dask_storage(data_bytes, client, mode="auto"):
    """Keep a Dask array's blocks on the workers for a whole fit, or stream them every pass?

    Persisting reads the data once and makes every later pass cheap, but it needs the data to
    fit in the workers' memory, with room to spare for the work itself; otherwise Dask must
    spill blocks to disk (slow) or a worker runs out of memory and is killed. Streaming reads
    each block from its source in every pass, and a worker holds only the few blocks it is
    working on, so it works on any cluster whose workers can hold a handful of blocks.
    Rule: without a ``dask.distributed`` client, stream (the local scheduler has no workers to
    keep blocks on; an array already in memory is simply sliced again); with one, persist when
    the data take at most :data:`PERSIST_FRACTION` of the memory the workers have free
    (:func:`cluster_memory`). Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    data_bytes : int
        Size of the data (``X.nbytes``, plus the sample weights).
    client : distributed.Client or None
    mode : {'auto', 'persist', 'stream'}, default='auto'
        'persist' or 'stream' force the choice.

    Returns
    -------
    choice : {'persist', 'stream'}
    reason : str
        One line saying why, with the numbers (what ``verbose`` prints).
    """
    if mode not in _STORAGE_MODES:
        raise ValueError(f"mode must be one of {list(_STORAGE_MODES)}, got {mode!r}.")
    size = _gigabytes(data_bytes)
    if client is None:
        choice = "stream" if mode == "auto" else mode
        where = ("in this process's memory" if choice == "persist"
                 else "from its source in every pass")
        return choice, (f"Dask without a distributed cluster, {size} of data: each block "
                        f"is computed {where}"
                        + (" (asked for)" if mode != "auto" else "") + ".")
    free, limit, n_workers = cluster_memory(client)
    memory = (f"{size} of data, {n_workers} workers with {_gigabytes(free)} free of "
              f"{_gigabytes(limit)}")
    if mode == "auto":
        choice = "persist" if data_bytes <= PERSIST_FRACTION * free else "stream"
        why = (f"the data fit in {PERSIST_FRACTION:g} of the free memory" if choice == "persist"
               else f"the data need more than {PERSIST_FRACTION:g} of the free memory")
    else:
        choice, why = mode, "asked for"
    action = ("persisting the blocks on the workers for the whole fit" if choice == "persist"
              else "streaming each block from its source in every pass")
    return choice, f"Dask: {memory}; {why}: {action}."


def _block_statistics(work, X_block, weight_block, rows_per_chunk):
    """What one Dask task computes: the statistics of one block, in engine-sized pieces."""
    X_block = np.asarray(X_block)
    workspace = eng.Workspace()
    total = None
    for start in range(0, X_block.shape[0], rows_per_chunk):
        stop = start + rows_per_chunk
        part = work(X_block[start:stop],
                    None if weight_block is None else np.asarray(weight_block[start:stop]),
                    None, workspace)
        if part is not None:
            total = part if total is None else total + part
    return total


def _distributed_client():
    """The ``dask.distributed`` client that ``dask.compute`` would use now, or None.

    None when distributed was never imported, when there is no client, and when the Dask
    configuration chooses another scheduler (``dask.config.set(scheduler="threads")``).
    """
    import sys

    if "distributed" not in sys.modules:
        return None
    import dask
    from distributed import Client

    owner = getattr(dask.base.get_scheduler(), "__self__", None)
    return owner if isinstance(owner, Client) else None


class DaskRows:
    """A Dask array as an engine data source: every pass maps over its row blocks and adds the
    blocks' statistics in a tree (:func:`tree_sum`) on the active scheduler.

    Whether the blocks sit in the workers' memory or are read from storage in every pass is
    decided before (:func:`choose_dask_storage`): this class passes over whatever ``X`` is.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Chunked along rows (column blocks are merged into one).
    sample_weight : dask.array.Array or ndarray of shape (n_samples,), optional
    centre : ndarray of shape (n_features,)
    """

    def __init__(self, X, sample_weight, centre):
        self.X = X
        self.n_samples, self.n_features = (int(size) for size in X.shape)
        self.centre = np.asarray(centre, dtype=np.float64)
        self.blocks = list(X.to_delayed().ravel())
        if sample_weight is None:
            self.weight_blocks = [None] * len(self.blocks)
        else:
            import dask.array as da

            weights = da.asarray(sample_weight).rechunk((X.chunks[0],))
            self.weight_blocks = list(weights.to_delayed().ravel())

    def map_reduce(self, engine, work):
        import dask

        task = dask.delayed(_block_statistics, pure=True)
        parts = [task(work, block, weights, engine.rows_per_chunk)
                 for block, weights in zip(self.blocks, self.weight_blocks)]
        (total,) = dask.compute(tree_sum(parts))
        return total


def _checked_dask(X, sample_weight):
    """The array as float rows in one column block, and the weights (Dask array, ndarray or
    None); raises for the wrong shape or negative weights."""
    import dask
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array of shape (n_samples, n_features), got {X.ndim}-D.")
    n_samples, n_features = (int(size) for size in X.shape)
    if n_features < 1:
        raise ValueError("Found array with 0 feature(s) while a minimum of 1 is required.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    if isinstance(sample_weight, da.Array):
        if sample_weight.shape != (n_samples,):
            raise ValueError(f"sample_weight must have one weight per sample, shape "
                             f"({n_samples},); it has shape {sample_weight.shape}.")
        weights = sample_weight.astype(np.float64).rechunk((X.chunks[0],))
        smallest, finite = dask.compute(weights.min(), da.isfinite(weights).all())
        if smallest < 0 or not finite:
            raise ValueError("sample_weight must be finite and non-negative.")
    else:
        weights = eng.checked_sample_weight(sample_weight, n_samples)
    return X, weights


def placed_dask_array(X, weights, model):
    """Decide where the blocks live (:func:`choose_dask_storage`), tell ``model``, and
    persist ``X`` (and Dask weights) if so decided.

    Sets ``model.dask_storage_`` and prints the reason when ``model.verbose`` is at least 1.
    Returns ``(X, weights)``.
    """
    import dask.array as da

    data_bytes = X.nbytes + (weights.nbytes if weights is not None else 0)
    client = _distributed_client()
    if client is not None:
        block_rows = max(X.chunks[0]) if X.chunks[0] else 0
        check_worker_headroom(client, block_rows * X.shape[1] * X.dtype.itemsize)
    choice, reason = choose_dask_storage(data_bytes, client, _storage_mode.get())
    model.dask_storage_ = choice
    if getattr(model, "verbose", 0) >= 1:
        print(reason)
    if choice == "persist":
        X = X.persist()
        if isinstance(weights, da.Array):
            weights = weights.persist()
    return X, weights


def _needs_initial_sample(model, n_features):
    """Whether the fit will initialise from data (no warm start, some ``*_init`` missing)."""
    return not model._continuing() and not model._needs_no_sample(
        model._check_initial_values(n_features))


def dask_source(X, sample_weight, model):
    """Check a Dask array (and weights) and describe it for the engine.

    Returns ``(data, initial_sample, dtype)`` as :func:`stream_source` does. Where the blocks
    live during the fit is decided by :func:`placed_dask_array`. The checks (finite values),
    the data's centre and, when the fit initialises from data, the initialisation sample are
    computed in one pass, so a streamed fit reads its source once before EM starts.
    """
    import dask
    import dask.array as da

    X, weights = _checked_dask(X, sample_weight)
    n_samples, n_features = (int(size) for size in X.shape)
    X, weights = placed_dask_array(X, weights, model)
    if weights is None:
        column_sum, total_weight = X.sum(axis=0, dtype=np.float64), n_samples
    else:
        w = da.asarray(weights).rechunk((X.chunks[0],))
        column_sum, total_weight = (X * w[:, None]).sum(axis=0, dtype=np.float64), w.sum()
    wanted = init_sample_indices(n_samples)
    needs_sample = _needs_initial_sample(model, n_features)
    sample_rows = X[wanted] if needs_sample else None
    sample_weights = (weights[wanted] if needs_sample and isinstance(weights, da.Array)
                      else None)
    finite, column_sum, total_weight, sample_rows, sample_weights = dask.compute(
        da.isfinite(X).all(), column_sum, total_weight, sample_rows, sample_weights)
    if not finite:
        raise ValueError("Input X contains NaN or infinity.")
    if not total_weight > 0:
        raise ValueError("sample_weight must not be all zero.")
    _note_features(model, n_features, n_samples)
    data = DaskRows(X, weights, np.asarray(column_sum, dtype=np.float64) / float(total_weight))

    def initial_sample():
        rows = X[wanted].compute() if sample_rows is None else sample_rows
        rows = np.asarray(rows, dtype=np.float64)
        if weights is None:
            return rows, None
        if isinstance(weights, da.Array):
            chosen = weights[wanted].compute() if sample_weights is None else sample_weights
        else:
            chosen = weights[wanted]
        return rows, np.asarray(chosen, dtype=np.float64)

    return data, initial_sample, X.dtype
