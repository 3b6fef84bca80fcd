"""Out-of-core and distributed EM (issue 7): ``fit_chunks``, ``fit`` on a ``numpy.memmap`` and
on a Dask array equal the in-memory fit to 1e-10 given the same initialisation; the
out-of-core fit's peak memory is bounded by the chunk size (measured in a subprocess).

The Dask tests share one ``dask.distributed.LocalCluster`` on 127.0.0.1 (two workers, one
thread each) per module. Its workers are threads of this process (``processes=False``) but it
talks TCP (``protocol="tcp"``), as a cluster of separate machines would.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gmmlib import GaussianMixture
from gmmlib.scaling import (
    INIT_SAMPLE_SIZE,
    default_chunk_size,
    init_sample_indices,
    iter_row_chunks,
    peak_memory_of,
)
from test_parity import _overlapping_5d, assert_close, initial_parameters

pytestmark = pytest.mark.usefixtures("single_blas_thread")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PARAMS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


@pytest.fixture(scope="module")
def X():
    return _overlapping_5d(n=1500)


def fit(data, how="fit", sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GaussianMixture(**params)
        if how == "chunks":
            return model.fit_chunks(data)
        return model.fit(data, sample_weight=sample_weight)


def assert_same_fit(a, b):
    for name in PARAMS:
        assert_close(getattr(a, name), getattr(b, name))
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    assert_close(a.lower_bounds_, b.lower_bounds_)
    assert_close(a.lower_bound_, b.lower_bound_)
    assert a.n_features_in_ == b.n_features_in_


def uneven_chunks(X, sizes=(1, 130, 7, 400)):
    """A chunk maker with chunks of varying sizes (the last one takes the rest)."""
    def make_chunks():
        start = 0
        for size in sizes:
            yield X[start : start + size]
            start += size
        yield X[start:]
    return make_chunks


@pytest.fixture
def memmap_of(tmp_path):
    def make(array):
        path = tmp_path / f"data{array.shape[0]}.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=array.dtype, shape=array.shape)
        out[:] = array
        out.flush()
        del out
        return np.load(path, mmap_mode="r")
    return make


# --- helpers -------------------------------------------------------------------------------


def test_iter_row_chunks_and_init_sample_indices():
    X = np.arange(20.0).reshape(10, 2)
    chunks = list(iter_row_chunks(X, 4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert np.shares_memory(chunks[0], X)
    np.testing.assert_array_equal(np.vstack(chunks), X)
    with pytest.raises(ValueError, match="at least 1"):
        list(iter_row_chunks(X, 0))
    np.testing.assert_array_equal(init_sample_indices(5, size=10), np.arange(5))
    idx = init_sample_indices(1_000_001)
    assert len(idx) == INIT_SAMPLE_SIZE and idx[0] == 0 and idx[-1] == 1_000_000
    assert np.all(np.diff(idx) > 0)
    assert 256 <= default_chunk_size(16, 10, "full") <= 8192


def test_peak_memory_of_sees_numpy_allocations():
    _, peak = peak_memory_of(np.ones, 2_000_000)
    assert 16e6 <= peak < 17e6


# --- fit_chunks ----------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_chunks_equals_in_memory_fit_given_initial_parameters(X, covariance_type):
    params = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=25,
                  record_history=True, **initial_parameters(X, 4, covariance_type))
    streamed = fit(uneven_chunks(X), "chunks", **params)
    in_memory = fit(X, **params)
    assert_same_fit(streamed, in_memory)
    assert len(streamed.history_) == 26
    assert_close(streamed.history_[-1]["log_likelihood"], in_memory.history_[-1]["log_likelihood"])


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_fit_chunks_initialises_like_fit_on_small_data(X, init_params):
    """Up to INIT_SAMPLE_SIZE rows, the initialisation sample is all the data."""
    params = dict(n_components=3, init_params=init_params, random_state=0, n_init=2)
    assert_same_fit(fit(uneven_chunks(X), "chunks", **params), fit(X, **params))


def test_fit_chunks_with_weights_equals_weighted_fit(X):
    w = np.random.default_rng(0).uniform(0, 2, size=len(X))
    params = dict(n_components=3, covariance_type="tied", random_state=0)

    def make_chunks():
        return ((X[s : s + 200], w[s : s + 200]) for s in range(0, len(X), 200))

    assert_same_fit(fit(make_chunks, "chunks", **params), fit(X, sample_weight=w, **params))


def test_fit_chunks_rejects_bad_chunks(X):
    with pytest.raises(ValueError, match="same number of features"):
        GaussianMixture(2).fit_chunks(lambda: iter([X[:10], X[10:20, :3]]))
    with pytest.raises(ValueError, match="NaN|infinity"):
        GaussianMixture(2).fit_chunks(lambda: iter([np.full((5, 2), np.nan)]))
    with pytest.raises(ValueError, match="no chunks"):
        GaussianMixture(2).fit_chunks(lambda: iter([]))
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixture(5).fit_chunks(lambda: iter([X[:3]]))


def test_large_stream_initialises_on_evenly_spaced_rows(X):
    """More rows than INIT_SAMPLE_SIZE: the initialisation sees init_sample_indices(N)."""
    big = np.vstack([X] * 14)  # 21,000 rows
    assert len(big) > INIT_SAMPLE_SIZE
    params = dict(n_components=3, random_state=0, max_iter=5, tol=0.0)
    streamed = fit(lambda: iter_row_chunks(big, 5000), "chunks", **params)
    start = GaussianMixture(max_iter=0, **{k: v for k, v in params.items() if k != "max_iter"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(big[init_sample_indices(len(big))])
    inits = dict(weights_init=start.weights_, means_init=start.means_,
                 precisions_init=start.precisions_)
    assert_same_fit(streamed, fit(big, **params, **{k: v for k, v in inits.items()}))


# --- numpy.memmap --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_memmap_fit_equals_in_memory_fit(X, memmap_of, covariance_type):
    X_map = memmap_of(X)
    assert isinstance(X_map, np.memmap)
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0)
    assert_same_fit(fit(X_map, **params), fit(np.array(X), **params))
    given = dict(params, tol=0.0, max_iter=20, **initial_parameters(X, 4, covariance_type))
    assert_same_fit(fit(X_map, **given), fit(np.array(X), **given))
    w = np.random.default_rng(0).integers(0, 3, size=len(X))
    assert_same_fit(fit(X_map, sample_weight=w, **given), fit(np.array(X), sample_weight=w, **given))


def test_memmap_fit_rejects_nan(memmap_of):
    bad = np.ones((50, 2))
    bad[30, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(memmap_of(bad))


PEAK_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys, warnings
    import numpy as np
    from gmmlib import GaussianMixture
    from gmmlib.scaling import default_chunk_size, iter_row_chunks, peak_memory_of

    path, n, d = sys.argv[1], int(sys.argv[2]), 16
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(0)
    for s in range(0, n, 50_000):
        m = min(50_000, n - s)
        out[s : s + m] = rng.normal(size=(m, d)) + 3.0 * rng.integers(0, 5, size=(m, 1))
    out.flush()
    del out
    X = np.load(path, mmap_mode="r")
    warnings.simplefilter("ignore")
    model, peak = peak_memory_of(GaussianMixture(5, max_iter=3, random_state=0).fit_chunks,
                                 lambda: iter_row_chunks(X, 100_000))
    print(json.dumps(dict(peak=peak, file=X.nbytes, chunk=default_chunk_size(d, 5, "full"),
                          n_iter=model.n_iter_,
                          maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)))
    """
)


def test_out_of_core_peak_memory_is_bounded_by_the_chunk_size(tmp_path):
    """A 128 MB file streamed by ``fit_chunks`` in 100,000-row chunks of a memory map:
    tracemalloc's peak (what NumPy and Python allocate) stays far below the file size. (The
    resident set size is not asserted: it counts the file's pages that the memory map has read,
    which the OS may drop at will.)"""
    import json

    n = 1_000_000
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(tmp_path / "big.npy"), str(n)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["file"] == n * 16 * 8
    assert report["n_iter"] == 3
    # measured 12-22 MB: the 20,000-row initialisation sample with its k-means, then
    # temporaries of a few MB per chunk and thread. Bound generously, far below the data.
    assert report["peak"] < 45e6
    assert report["peak"] < report["file"] / 2.5


# --- Dask ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
            host="127.0.0.1", dashboard_address=None,
        )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_fit_on_a_local_cluster_equals_in_memory_fit(X, dask_client, covariance_type):
    import dask.array as da
    from distributed import get_task_stream

    X_dask = da.from_array(X, chunks=((700, 300, 500), (3, 2)))  # uneven blocks, 2 column blocks
    given = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=15,
                 **initial_parameters(X, 4, covariance_type))
    with get_task_stream(dask_client) as tasks:
        distributed = fit(X_dask, **given)
    assert_same_fit(distributed, fit(X, **given))
    names = {task["key"][0] if isinstance(task["key"], tuple) else task["key"]
             for task in tasks.data}
    assert any("_block_statistics" in str(name) for name in names)  # ran on the cluster
    assert any("_add" in str(name) for name in names)  # tree reduction of the statistics


def test_dask_fit_with_default_init_and_weights(X, dask_client):
    import dask.array as da

    w = np.random.default_rng(2).uniform(0, 3, size=len(X))
    params = dict(n_components=3, random_state=0)
    X_dask = da.from_array(X, chunks=400)
    assert_same_fit(fit(X_dask, **params), fit(X, **params))
    assert_same_fit(fit(X_dask, sample_weight=da.from_array(w, chunks=600), **params),
                    fit(X, sample_weight=w, **params))
    assert_same_fit(fit(X_dask, sample_weight=w, **params), fit(X, sample_weight=w, **params))


def test_importing_gmmlib_does_not_import_dask():
    code = "import sys, gmmlib, gmmlib.scaling; print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- where a Dask array's blocks live (issue 15) -------------------------------------------


class FakeClient:
    """What choose_dask_storage and check_worker_headroom ask of a distributed client."""

    def __init__(self, workers, machine_memory=0):
        self.workers = workers
        self.machine_memory = machine_memory

    def scheduler_info(self, n_workers=-1):
        return {"workers": self.workers}

    def run(self, function, workers):
        return {address: self.machine_memory for address in workers}


def _worker(limit, used, host="10.0.0.1", nthreads=1):
    return dict(memory_limit=limit, metrics=dict(memory=used), host=host, nthreads=nthreads)


def test_choose_dask_storage_persists_what_fits_in_half_the_free_memory():
    from gmmlib.scaling import PERSIST_FRACTION, choose_dask_storage, cluster_memory

    client = FakeClient({"a": _worker(1_000e6, 200e6), "b": _worker(1_000e6, 400e6)})
    assert cluster_memory(client) == (1_400e6, 2_000e6, 2)
    fits = PERSIST_FRACTION * 1_400e6
    choice, reason = choose_dask_storage(fits, client)
    assert choice == "persist" and "persisting" in reason and "1.40 GB free of 2.00 GB" in reason
    choice, reason = choose_dask_storage(fits + 1, client)
    assert choice == "stream" and "streaming" in reason
    assert choose_dask_storage(10, client, "stream")[0] == "stream"
    assert choose_dask_storage(10e9, client, "persist") == (
        "persist", choose_dask_storage(10e9, client, "persist")[1])
    assert "asked for" in choose_dask_storage(10e9, client, "persist")[1]
    with pytest.raises(ValueError, match="mode"):
        choose_dask_storage(10, client, "keep")


def test_workers_without_a_limit_count_with_their_machine_memory_once_per_machine():
    from gmmlib.scaling import cluster_memory

    client = FakeClient({"a": _worker(0, 100e6, host="m1"), "b": _worker(None, 100e6, host="m1"),
                         "c": _worker(500e6, 100e6, host="m2")}, machine_memory=8e9)
    assert cluster_memory(client) == (8e9 + 400e6, 8e9 + 500e6, 3)


def test_without_a_distributed_client_the_blocks_are_streamed():
    from gmmlib.scaling import choose_dask_storage

    choice, reason = choose_dask_storage(1e6, None)
    assert choice == "stream" and "without a distributed cluster" in reason
    assert choose_dask_storage(1e6, None, "persist")[0] == "persist"


def test_a_worker_too_full_to_hold_a_few_blocks_is_refused_in_words():
    """Dask pauses a worker above 80 % of its limit, and a paused worker never finishes its
    tasks: the fit would wait forever. gmmlib says so before it starts."""
    pytest.importorskip("dask")
    from gmmlib.scaling import check_worker_headroom

    roomy = FakeClient({"a": _worker(400e6, 170e6)})
    check_worker_headroom(roomy, 12.8e6)  # 150 MB below the pause line: fine
    tight = FakeClient({"a": _worker(300e6, 210e6), "b": _worker(0, 10e9)})
    with pytest.raises(ValueError, match="pauses at 80%.*more memory.*rechunk"):
        check_worker_headroom(tight, 12.8e6)
    check_worker_headroom(FakeClient({"b": _worker(0, 10e9)}), 1e9)  # no limit: no pause


def test_dask_storage_context_and_the_fitted_attribute(X, capsys):
    dask = pytest.importorskip("dask")
    import dask.array as da

    from gmmlib.scaling import dask_storage

    X_dask = da.from_array(X, chunks=500)
    params = dict(n_components=3, random_state=0, max_iter=5)
    with dask.config.set(scheduler="threads"):  # even while the module's cluster is up
        default = fit(X_dask, verbose=1, **params)
    assert default.dask_storage_ == "stream"  # threaded scheduler: nothing to persist on
    assert "without a distributed cluster" in capsys.readouterr().out
    with dask_storage("persist"), dask.config.set(scheduler="threads"):
        persisted = fit(X_dask, **params)
    assert persisted.dask_storage_ == "persist"
    assert_same_fit(persisted, default)
    with pytest.raises(ValueError, match="mode"):
        with dask_storage("memory"):
            pass


def test_dask_fit_reads_its_source_once_before_em(X, tmp_path):
    """Checks, centre and the initialisation sample come from one pass over a streamed
    array: count how often each block is read."""
    dask = pytest.importorskip("dask")
    import dask.array as da

    reads = []

    def read(start, stop):
        reads.append(start)
        return X[start:stop]

    blocks = [da.from_delayed(dask.delayed(read)(s, min(s + 500, len(X))),
                              shape=(min(500, len(X) - s), X.shape[1]), dtype=X.dtype)
              for s in range(0, len(X), 500)]
    X_dask = da.concatenate(blocks)
    with dask.config.set(scheduler="sync"):
        model = fit(X_dask, n_components=3, random_state=0, max_iter=2, tol=0.0)
    # 1 pass before EM + 2 E-steps (+ at most one exact pass in the M-step per iteration)
    assert model.n_iter_ == 2
    assert len(reads) <= 3 * (1 + 2 * 2)
    assert reads.count(0) in (3, 4, 5)
