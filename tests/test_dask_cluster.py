"""Dask fits on a ``LocalCluster`` of worker *processes* with memory limits (issue 15).

The data (a Zarr store on disk, read by the workers themselves) are larger than each
worker's memory limit, and half of them (each worker's share) would not fit under a limit
beside the ~170 MB a worker needs for Python and the libraries. The fit must notice that, stream the blocks from the store in every
pass instead of persisting them, keep each worker's memory bounded by the block size, and give
the in-memory fit's parameters. On a cluster with room to spare the same code persists.

Everything listens on 127.0.0.1 only. Memory is measured inside each worker process
(:class:`gmmlib.memory.watch_workers`), never timed.
"""

import logging
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gmmlib import GaussianMixture, MiniBatchGaussianMixture
from gmmlib.memory import watch_workers
from gmmlib.scaling import dask_storage

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("single_blas_thread")

N_ROWS, N_FEATURES, N_COMPONENTS = 5_000_000, 16, 4  # 640 MB of float64
BLOCK_ROWS = 100_000  # 12.8 MB per block
WORKER_LIMIT = 400_000_000  # each worker: less than the data, too little to persist its half
PARAMS = ["weights_", "means_", "covariances_"]


def _write_store(path, n_rows, block_rows, seed=0):
    """Rows from a fixed mixture of four Gaussians, written block by block (never all in memory)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, size=(N_COMPONENTS, N_FEATURES))
    store = zarr.open_array(str(path), mode="w", shape=(n_rows, N_FEATURES),
                            chunks=(block_rows, N_FEATURES), dtype="f8")
    for start in range(0, n_rows, block_rows):
        size = min(block_rows, n_rows - start)
        labels = rng.integers(N_COMPONENTS, size=size)
        store[start : start + size] = centres[labels] + rng.normal(size=(size, N_FEATURES))
    return str(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _write_store(tmp_path_factory.mktemp("zarr") / "rows.zarr", N_ROWS, BLOCK_ROWS)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_LIMIT,
            host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    client.run(lambda: __import__("gmmlib") and None)  # what the first task would import
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def start(store):
    """Initial parameters from the first 50,000 rows, so both fits start alike."""
    pilot = GaussianMixture(N_COMPONENTS, random_state=0).fit(zarr.open_array(store)[:50_000])
    return dict(weights_init=pilot.weights_, means_init=pilot.means_,
                precisions_init=pilot.precisions_)


def _fit(X, start, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(N_COMPONENTS, tol=0.0, max_iter=2, **start, **params).fit(X)


def test_larger_than_the_cluster_streams_with_bounded_worker_memory(client, store, start, capsys):
    X = da.from_zarr(store)
    assert X.nbytes > WORKER_LIMIT
    workers_before = set(client.scheduler_info()["workers"])
    with watch_workers(client) as watched:
        on_cluster = _fit(X, start, verbose=1)
    assert on_cluster.dask_storage_ == "stream"
    assert "streaming each block" in capsys.readouterr().out
    assert set(client.scheduler_info()["workers"]) == workers_before  # no worker was restarted

    block_bytes = BLOCK_ROWS * N_FEATURES * 8
    growths = [report["growth"] for report in watched.workers.values()]
    assert len(growths) == 2
    # Each worker holds a few blocks at a time (the one it reads, the one it works on, the
    # store's read buffer) and the engine's temporaries: measured 25-45 MB, against 320 MB of
    # data per worker. The bound is generous but far below the data.
    assert max(growths) < 5 * block_bytes + 32e6
    assert max(growths) < X.nbytes / 2 / 3

    in_memory = _fit(zarr.open_array(store)[:], start)
    for name in PARAMS:
        np.testing.assert_allclose(getattr(on_cluster, name), getattr(in_memory, name),
                                   rtol=1e-10, atol=1e-12)
    assert on_cluster.n_iter_ == in_memory.n_iter_ == 2


def test_worker_memory_does_not_grow_with_the_number_of_rows(client, store, start):
    """A fifth of the rows and all of them: the same blocks, so the same memory per worker."""
    growth = {}
    for n_rows in (N_ROWS // 5, N_ROWS):
        with dask_storage("stream"), watch_workers(client) as watched:
            _fit(da.from_zarr(store)[:n_rows], start)
        growth[n_rows] = watched.largest_growth
    block_bytes = BLOCK_ROWS * N_FEATURES * 8
    assert growth[N_ROWS] < growth[N_ROWS // 5] + 2 * block_bytes + 16e6


def test_a_roomy_cluster_persists(client, store, start, capsys):
    """A twentieth of the data fits easily: the blocks are kept on the workers."""
    X = da.from_zarr(store)[: N_ROWS // 20]
    on_cluster = _fit(X, start, verbose=1)
    assert on_cluster.dask_storage_ == "persist"
    assert "persisting the blocks" in capsys.readouterr().out
    in_memory = _fit(np.asarray(X), start)
    for name in PARAMS:
        np.testing.assert_allclose(getattr(on_cluster, name), getattr(in_memory, name),
                                   rtol=1e-10, atol=1e-12)
    with dask_storage("stream"):
        assert _fit(X, start).dask_storage_ == "stream"


def test_mini_batch_em_reads_the_store_block_by_block_on_the_cluster(client, store, start):
    X = da.from_zarr(store)[: N_ROWS // 10]
    model = MiniBatchGaussianMixture(N_COMPONENTS, batch_size=5000, max_iter=1, random_state=0,
                                     **start).fit(X)
    assert model.dask_storage_ == "persist"
    assert model.n_steps_ == (N_ROWS // 10) // 5000
    reference = _fit(np.asarray(X[:100_000]), start)
    assert abs(model.score(np.asarray(X[:100_000])) - reference.score(np.asarray(X[:100_000]))) < 1e-2
