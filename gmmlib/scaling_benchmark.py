"""How the cost of EM grows with the number of rows, path by path: the scaling table.

Introduced in {ref}`ch-scaling-em`; ``make bench`` (``python -m gmmlib.benchmark --scale``)
prints the table for 1, 4 and 10 million rows, and chapter 12 runs the same code on smaller
sizes.

Every path fits the same rows, read from one Zarr store on disk, from the same initial
parameters with ``tol=0``:

- **in memory**: the rows loaded into a NumPy array, ``fit``;
- **out of core**: ``fit_chunks`` over the store, one block of rows at a time, in this process;

(both with ``n_jobs=-1``: as many threads as cores, the cores the cluster's workers share)
- **capped process**: the same out-of-core fit in a fresh Python process whose memory the
  operating system caps (``RLIMIT_DATA``) below the size of the largest data;
- **Dask, persisted**: a ``LocalCluster`` of worker processes on 127.0.0.1 with room to spare,
  the blocks kept on the workers;
- **Dask, streamed**: a ``LocalCluster`` whose workers each have a memory limit below the data,
  the blocks read from the store in every pass.

*Time per iteration* is the median duration of the iterations of a whole 4-iteration fit (as
``verbose=2`` prints them), and the *fixed cost* the rest of the fit's time: checks, the pass
that finds the data's centre, persisting, scheduling the first graph. *Peak memory* is the largest growth of private memory
(:mod:`gmmlib.memory`) above what the process held before the fit: the fitting process for the
first three paths (above the loaded data, for the in-memory path), the busiest worker for Dask.
"""

import contextlib
import io
import logging
import os
import re
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .memory import MemoryWatcher, run_python, watch_workers
from .mixture import GaussianMixture
from .scaling import dask_storage

__all__ = ["CAPPED_FIT_SCRIPT", "LOAD_SCRIPT", "iteration_seconds", "per_iteration", "run_scale", "scaling_rows", "write_store"]

#: Rows per block of the store (and per chunk of the out-of-core fit): 16 MB at 16 features.
BLOCK_ROWS = 125_000
#: The memory cap of the capped process, and the memory limit of each streaming Dask worker.
MEMORY_CAP = 400 * 2**20
WORKER_LIMIT = 500_000_000
#: EM iterations of every timed fit.
ITERATIONS = 4


def write_store(path, n_rows, n_features=16, n_components=4, block_rows=BLOCK_ROWS, seed=0):
    """Write overlapping clusters to a Zarr store, block by block; return seconds taken.

    The rows are those of :func:`gmmlib.benchmark.make_data`'s kind (clusters with unit spread
    around centres drawn from a standard normal, mixed by a random linear map), drawn block by
    block so the data never sit in memory together.
    """
    import zarr

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_components, n_features))
    mixing = np.eye(n_features) + 0.3 * rng.normal(size=(n_features, n_features))
    start = time.perf_counter()
    # Uncompressed: random floats do not compress, and decompressing would cost time.
    store = zarr.create_array(str(path), shape=(n_rows, n_features), overwrite=True,
                              chunks=(block_rows, n_features), dtype="f8", compressors=None)
    for first in range(0, n_rows, block_rows):
        size = min(block_rows, n_rows - first)
        labels = rng.integers(n_components, size=size)
        store[first : first + size] = (centres[labels] + rng.normal(size=(size, n_features))) @ mixing + 3.0
    return time.perf_counter() - start


_ITERATION_LINE = re.compile(r"iteration \d+: .*?([0-9.]+) s since the last message")


def iteration_seconds(output):
    """Seconds of every EM iteration, from what a fit with ``verbose=2, verbose_interval=1``
    printed (one line per iteration, ending in the seconds since the previous line)."""
    return [float(seconds) for seconds in _ITERATION_LINE.findall(output)]


def per_iteration(fit, n_iter=ITERATIONS, repeat=1):
    """Seconds per EM iteration and fixed seconds of a whole fit.

    ``fit(max_iter)`` runs a whole fit with ``tol=0``, ``verbose=2`` and ``verbose_interval=1``,
    so that it prints the duration of every iteration. One iteration costs the *median* of
    those durations (robust to a moment when the machine was busy elsewhere), and the fixed
    cost is the whole fit's time minus all its iterations: checks, the pass that finds the
    data's centre, persisting, the last E-step. Of ``repeat`` fits the fastest is kept.

    Returns
    -------
    seconds_per_iteration, fixed_seconds : float
    model : the fastest model
    """
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(repeat):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                start = time.perf_counter()
                model = fit(n_iter)
                total = time.perf_counter() - start
            iterations = iteration_seconds(printed.getvalue())
            if len(iterations) != n_iter:
                raise RuntimeError(f"Expected {n_iter} iteration lines from verbose=2, found "
                                   f"{len(iterations)}: {printed.getvalue()[:300]!r}")
            if best is None or total < best[0]:
                best = (total, float(np.median(iterations)), total - sum(iterations), model)
    return best[1], best[2], best[3]


def _prefix_chunks(store, n_rows, block_rows):
    """A function returning a fresh pass over the first ``n_rows`` rows of ``store``."""
    return lambda: (store[first : min(first + block_rows, n_rows)]
                    for first in range(0, n_rows, block_rows))


#: Loads the first rows of a store whole, or reports why it cannot. Arguments: store, rows.
LOAD_SCRIPT = """
import json, sys
import zarr
store, n_rows = zarr.open_array(sys.argv[1], mode="r"), int(sys.argv[2])
try:
    whole = store[:n_rows]
    outcome = "loaded"
except (MemoryError, RuntimeError) as error:  # RuntimeError: no memory left for a thread
    outcome = f"{type(error).__name__}: {error}"
print(json.dumps(outcome))
"""

#: The capped process: one ``fit_chunks`` over the first rows of a store, printing the time of
#: every iteration, with its private memory watched. Arguments: store, rows, block rows,
#: iterations, initial parameters (.npz).
CAPPED_FIT_SCRIPT = """
import contextlib, io, json, sys, warnings
import numpy as np, zarr
from gmmlib import GaussianMixture
from gmmlib.memory import MemoryWatcher

path, n_rows, block_rows, n_iter, start_path = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
store, start = zarr.open_array(path, mode="r"), dict(np.load(start_path))
warnings.simplefilter("ignore")
chunks = lambda: (store[i : min(i + block_rows, n_rows)] for i in range(0, n_rows, block_rows))
model = GaussianMixture(len(start["weights_init"]), tol=0.0, max_iter=n_iter, n_jobs=-1,
                        verbose=2, verbose_interval=1, **start)
printed = io.StringIO()
with MemoryWatcher() as watcher, contextlib.redirect_stdout(printed):
    model.fit_chunks(chunks)
print(json.dumps(dict(seconds=watcher.seconds, growth=watcher.growth, printed=printed.getvalue(),
                      means=model.means_.tolist())))
"""


def _cluster(memory_limit):
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               memory_limit=memory_limit, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster, set_as_default=False)
    client.run(lambda: __import__("gmmlib") and None)  # the import every worker pays once
    return cluster, client


def scaling_rows(store_path, sizes, start, *, clients=None, block_rows=BLOCK_ROWS,
                 memory_cap=MEMORY_CAP, repeat=1, workdir=None, out=None):
    """Measure every path at every size; return a list of dicts, one per (size, path).

    Parameters
    ----------
    store_path : str
        A Zarr store of at least ``max(sizes)`` rows.
    sizes : sequence of int
        Numbers of rows (the first rows of the store).
    start : dict
        ``weights_init``, ``means_init``, ``precisions_init``.
    clients : dict, optional
        ``{"Dask, persisted": client, "Dask, streamed": client}``; paths without a client are
        left out.
    memory_cap : int or None
        Bytes for the capped process; None leaves that path out.
    repeat : int
        Whole fits per timing (the best is kept).
    workdir : str, optional
        Where the capped process finds the initial parameters (a temporary file).
    out : callable, optional
        Called with each finished row (to print progress).
    """
    import zarr

    store = zarr.open_array(store_path, mode="r")
    n_components = len(start["weights_init"])
    model = lambda n_iter: GaussianMixture(n_components, tol=0.0, max_iter=n_iter, n_jobs=-1,  # noqa: E731
                                          verbose=2, verbose_interval=1, **start)
    rows = []
    start_path = None
    if memory_cap is not None:
        start_path = os.path.join(workdir, "start.npz")
        np.savez(start_path, **start)

    def record(n_rows, path, step, fixed, peak, means, reference):
        row = dict(rows=n_rows, data_mb=n_rows * store.shape[1] * 8 / 1e6, path=path,
                   seconds_per_iteration=step, fixed_seconds=fixed,
                   rows_per_second=n_rows / step if step > 0 else float("nan"),
                   peak_mb=peak / 1e6,
                   means_diff=float(np.max(np.abs(np.asarray(means) - reference))))
        rows.append(row)
        if out is not None:
            out(row)

    for n_rows in sizes:
        X = np.asarray(store[:n_rows])
        with MemoryWatcher() as watcher:
            step, fixed, fitted = per_iteration(lambda n: model(n).fit(X), repeat=repeat)
        reference = fitted.means_
        record(n_rows, "in memory", step, fixed, watcher.growth, reference, reference)
        del X
        chunks = _prefix_chunks(store, n_rows, block_rows)
        with MemoryWatcher() as watcher:
            step, fixed, fitted = per_iteration(lambda n: model(n).fit_chunks(chunks), repeat=repeat)
        record(n_rows, "out of core", step, fixed, watcher.growth, fitted.means_, reference)
        if memory_cap is not None:
            loads = run_python(LOAD_SCRIPT, store_path, n_rows, memory_limit=memory_cap) == "loaded"
            report = run_python(CAPPED_FIT_SCRIPT, store_path, n_rows, block_rows, ITERATIONS,
                                start_path, memory_limit=memory_cap)
            iterations = iteration_seconds(report["printed"])
            step = float(np.median(iterations))
            record(n_rows, f"capped process ({memory_cap / 2**20:.0f} MiB; the rows "
                   f"{'could' if loads else 'cannot'} be loaded whole under the cap)",
                   step, report["seconds"] - sum(iterations), report["growth"],
                   np.array(report["means"]),
                   reference)
        for path, client in (clients or {}).items():
            import dask.array as da

            X_dask = da.from_zarr(store_path)[:n_rows]
            mode = "persist" if "persist" in path else "stream"
            with client.as_current(), dask_storage(mode), watch_workers(client) as watched:
                step, fixed, fitted = per_iteration(lambda n: model(n).fit(X_dask), repeat=repeat)
            record(n_rows, path, step, fixed, watched.largest_growth, fitted.means_, reference)
    return rows


SCALE_SIZES = (1_000_000, 4_000_000, 10_000_000)
QUICK_SCALE_SIZES = (250_000, 500_000, 1_000_000)


def run_scale(sizes=SCALE_SIZES, repeat=3, dask=True, out=print, n_features=16, n_components=4):
    """The scaling table of ``make bench``; returns its rows."""
    import tempfile

    from .benchmark import _load

    out(f"Scaling EM: time per iteration and peak memory by path, full covariances, "
        f"D={n_features}, K={n_components}, best of {repeat}; rows read from a Zarr store on "
        "local disk that was just written, so mostly from the page cache")
    out(f"load average {_load():.1f} at start")
    clusters = []
    logging.disable(logging.INFO)  # no routine lines from the clusters' start and shutdown
    try:
        with tempfile.TemporaryDirectory() as workdir:
            path = os.path.join(workdir, "rows.zarr")
            seconds = write_store(path, max(sizes), n_features, n_components)
            size_mb = max(sizes) * n_features * 8 / 1e6
            out(f"wrote {size_mb:.0f} MB in {seconds:.1f} s ({size_mb / seconds:.0f} MB/s)")
            import zarr

            sample = np.asarray(zarr.open_array(path)[:100_000])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pilot = GaussianMixture(n_components, random_state=0).fit(sample)
            start = dict(weights_init=pilot.weights_, means_init=pilot.means_,
                         precisions_init=pilot.precisions_)
            clients = {}
            if dask:
                try:
                    import distributed  # noqa: F401
                except ImportError:
                    out("(Dask is not installed: pip install 'gmmlib[scale]')")
                else:
                    for name, limit in (("Dask, persisted", None),
                                        (f"Dask, streamed ({WORKER_LIMIT / 1e6:.0f} MB workers)",
                                         WORKER_LIMIT)):
                        cluster, client = _cluster("auto" if limit is None else limit)
                        clusters.append((cluster, client))
                        clients[name] = client
            out("")
            out("| rows | data | path | s / iteration | fixed s | M rows/s | peak memory | "
                "Δ means |")
            out("|---:|---:|---|---:|---:|---:|---:|---:|")
            rows = scaling_rows(
                path, sizes, start, clients=clients, repeat=repeat, workdir=workdir,
                out=lambda r: out(
                    f"| {r['rows']:,} | {r['data_mb']:.0f} MB | {r['path']} | "
                    f"{r['seconds_per_iteration']:.3f} | {r['fixed_seconds']:.2f} | "
                    f"{r['rows_per_second'] / 1e6:.1f} | {r['peak_mb']:.0f} MB | "
                    f"{r['means_diff']:.0e} |"))
    finally:
        for cluster, client in clusters:
            client.close()
            cluster.close()
        logging.disable(logging.NOTSET)
    out("")
    out("Peak memory: growth of private memory during the fits, above the loaded data for "
        "'in memory'; for Dask, the busiest worker. Δ means: largest difference of a fitted "
        "mean from the in-memory fit's. Two worker processes on this machine share its cores "
        "and disk with the fitting process.")
    out(f"load average {_load():.1f} at the end")
    return [dict(r, table="scale") for r in rows]
