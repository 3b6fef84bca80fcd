"""Benchmark: gmmlib's EM against scikit-learn's, per covariance type.

Run ``python -m gmmlib.benchmark`` (or ``make bench``); ``--quick`` runs smaller workloads.
For each workload and covariance type both libraries fit the *same* data from the *same*
initial parameters (``weights_init``, ``means_init``, ``precisions_init``) with ``tol=0``, so
they run the same number of iterations. The data are overlapping clusters, so EM is still
moving when it stops.

Time per EM iteration is measured on the iterations themselves: both models are first
initialised from the same parameters, then ``n_iter`` E-step + M-step pairs are timed
(scikit-learn's ``_e_step``/``_m_step``; gmmlib's fused iteration, with its one-off
preparation of chunked features counted in). The runs of the two libraries alternate, so both
see the same machine load, and the best of ``--repeat`` runs of each is kept. Fixed costs of
``fit`` (input validation, initialisation, the final E-step) are left out for both. The last
column is the difference of the final mean per-sample log-likelihoods (must be <= 1e-8).

``--scale`` adds a second table (issue 7, {ref}`ch-scaling-em`): the same fit in memory,
streamed from a ``numpy.memmap`` in row chunks (:mod:`gmmlib.scaling`), and on Dask (its
default threaded scheduler, and a two-worker ``LocalCluster`` on 127.0.0.1), as throughput in
points per second per EM iteration (N / seconds per iteration, same data and initialisation,
best of ``--repeat``), and the peak memory each fit allocates above the data (tracemalloc;
see :func:`gmmlib.scaling.peak_memory_of`) in a separate, untimed fit. ``--scale-only``
prints just that table.
"""

import argparse
import os
import platform
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

from . import _estimation as est
from . import _fast
from .mixture import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
WORKLOADS = [(200_000, 16, 10), (50_000, 64, 10)]
QUICK_WORKLOADS = [(20_000, 16, 10), (5_000, 64, 10)]


def make_data(n_samples, n_features, n_components, seed=0):
    """Overlapping, correlated Gaussian clusters (float64)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.0, size=(n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = centers[labels] + rng.normal(size=(n_samples, n_features))
    mixing = np.eye(n_features) + 0.3 * rng.normal(size=(n_features, n_features))
    return X @ mixing + 3.0


def initial_parameters(X, n_components, covariance_type, seed=0):
    """Uniform weights, random data points as means, the data's (co)variance everywhere."""
    rng = np.random.default_rng(seed)
    n_samples, n_features = X.shape
    means = X[rng.choice(n_samples, size=n_components, replace=False)]
    covariance = np.cov(X.T)
    precision = np.linalg.inv(covariance)
    variances = np.diag(covariance)
    precisions = {
        "full": np.repeat(precision[np.newaxis], n_components, axis=0),
        "tied": precision,
        "diag": np.repeat(1.0 / variances[np.newaxis], n_components, axis=0),
        "spherical": np.full(n_components, 1.0 / variances.mean()),
    }[covariance_type]
    weights = np.full(n_components, 1.0 / n_components)
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def _sklearn_iterations(X, params, n_iter, threads=None):
    """Wall time of ``n_iter`` scikit-learn EM iterations from the initial parameters."""
    model = SkGaussianMixture(max_iter=1, tol=0.0, **params).fit(X)
    model._initialize_parameters(X, np.random.RandomState(0))  # back to the initialisation
    start = time.perf_counter()
    for _ in range(n_iter):
        _, log_resp = model._e_step(X)
        model._m_step(X, log_resp)
    elapsed = time.perf_counter() - start
    model._set_parameters(model._get_parameters())  # refresh precisions_
    return elapsed, model


def _gmmlib_iterations(X, params, n_iter, threads=None):
    """Wall time of ``n_iter`` gmmlib EM iterations (feature preparation included)."""
    model = GaussianMixture(max_iter=1, tol=0.0, **params).fit(X)
    inits = model._check_initial_parameters(X.shape[1])
    model._initialize_parameters(X, None, inits)  # back to the initialisation
    start = time.perf_counter()
    engine = _fast.FusedEM(X, model.covariance_type, model.reg_covar,
                           n_components=model.n_components, n_threads=threads)
    for _ in range(n_iter):
        model._em_iteration(X, engine)
    elapsed = time.perf_counter() - start
    model._set_parameters(model._get_parameters())
    return elapsed, model


def _compare(X, params, n_iter, repeat, threads=None):
    """Best times of both libraries; their runs alternate so both see the same machine load.

    With ``threads``, the BLAS (both libraries) and gmmlib's worker threads are limited to
    that many threads.
    """
    best = {"gmmlib": np.inf, "sklearn": np.inf}
    models = {}
    runners = {"gmmlib": _gmmlib_iterations, "sklearn": _sklearn_iterations}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(repeat):
            for name, runner in runners.items():
                with threadpool_limits(limits=threads, user_api="blas"):
                    elapsed, models[name] = runner(X, params, n_iter, threads)
                best[name] = min(best[name], elapsed)
    return best, models


def run(workloads, n_iter=10, repeat=3, covariance_types=COVARIANCE_TYPES, threads=None,
        out=print):
    """Run the benchmark and print a Markdown table; return its rows as dicts."""
    import sklearn

    from . import __version__

    out(f"gmmlib {__version__} vs scikit-learn {sklearn.__version__}: ms per EM iteration "
        f"(same data, same initialisation, {n_iter} iterations, best of {repeat})")
    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", load average %.1f at start" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    limit = "" if threads is None else f", limited to {threads} thread(s) each"
    out(f"{platform.processor() or platform.machine()}, {n_cpus} CPUs{load}{limit}, "
        f"numpy {np.__version__}, Python {platform.python_version()}")
    out("")
    header = "| workload | covariance | gmmlib ms/iter | sklearn ms/iter | speed-up | Δ log-lik per sample (abs.) |"
    out(header)
    out("|---|---|---:|---:|---:|---:|")
    rows = []
    for n_samples, n_features, n_components in workloads:
        X = make_data(n_samples, n_features, n_components)
        workload = f"N={n_samples:,} D={n_features} K={n_components}"
        for covariance_type in covariance_types:
            params = dict(n_components=n_components, covariance_type=covariance_type,
                          **initial_parameters(X, n_components, covariance_type))
            best, models = _compare(X, params, n_iter, repeat, threads)
            per_iter = {name: elapsed / n_iter * 1e3 for name, elapsed in best.items()}
            diff = abs(models["gmmlib"].score(X) - models["sklearn"].score(X))
            ratio = per_iter["sklearn"] / per_iter["gmmlib"]
            row = dict(workload=workload, covariance_type=covariance_type,
                       gmmlib_ms=per_iter["gmmlib"], sklearn_ms=per_iter["sklearn"],
                       speedup=ratio, loglik_diff=diff)
            rows.append(row)
            out(f"| {workload} | {covariance_type} | {row['gmmlib_ms']:.1f} | "
                f"{row['sklearn_ms']:.1f} | {ratio:.1f}x | {diff:.1e} |")
    return rows


SCALE_WORKLOADS = [(1_000_000, 16, 10)]
QUICK_SCALE_WORKLOADS = [(100_000, 16, 10)]


def _time_path(name, data, params, n_iter):
    """Wall time of ``n_iter`` EM iterations of one path from the initial parameters, the
    engine's one-off preparation included (features of all chunks in memory; the centre's
    validation pass out of core; persisting the blocks on a cluster)."""
    from . import scaling

    model = GaussianMixture(**dict(params, max_iter=0))
    inits = model._check_initial_parameters(data.shape[1])
    model._initialize_parameters(None, None, inits)
    ct, reg, K = model.covariance_type, model.reg_covar, model.n_components
    chunk_size = scaling.default_chunk_size(data.shape[1], K, ct)
    start = time.perf_counter()
    with est.blas_single_thread():
        if isinstance(data, np.memmap):
            shift = np.zeros(data.shape[1])
            for chunk in scaling.iter_row_chunks(data, chunk_size):
                shift += chunk.sum(axis=0)
            engine = scaling.ChunkedEM(lambda: scaling.iter_row_chunks(data, chunk_size),
                                       shift / data.shape[0], ct, reg, chunk_size)
        elif isinstance(data, np.ndarray):
            engine = _fast.FusedEM(data, ct, reg, n_components=K)
        else:  # Dask
            if scaling._distributed_client() is not None:
                data = data.persist()
            shift = np.asarray(data.mean(axis=0).compute())
            engine = scaling.DaskEM(data, None, shift, ct, reg, chunk_size)
        for _ in range(n_iter):
            model._em_iteration(None, engine)
    elapsed = time.perf_counter() - start
    model._set_parameters(model._get_parameters())
    return elapsed, model


def run_scale(workloads, n_iter=5, repeat=3, covariance_type="full", dask=True, out=print):
    """Second table: in-memory vs out-of-core (memmap) vs Dask paths; returns rows as dicts."""
    import tempfile

    from . import scaling

    out(f"Scaling paths ({covariance_type} covariances): throughput in points per second per EM "
        f"iteration ({n_iter} iterations, best of {repeat}) and peak memory allocated above "
        "the data (tracemalloc, separate fit)")
    out("")
    out("| workload | path | ms/iter | points/s per iter | vs in memory | peak memory |")
    out("|---|---|---:|---:|---:|---:|")
    rows = []
    for n_samples, n_features, n_components in workloads:
        X = make_data(n_samples, n_features, n_components)
        workload = f"N={n_samples:,} D={n_features} K={n_components}"
        params = dict(n_components=n_components, covariance_type=covariance_type, tol=0.0,
                      max_iter=n_iter, **initial_parameters(X, n_components, covariance_type))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "X.npy")
            np.save(path, X)
            X_map = np.load(path, mmap_mode="r")
            paths = [("in memory (ndarray)", X), ("out of core (memmap chunks)", X_map)]
            cluster = client = None
            if dask:
                try:
                    import dask.array as da
                    import distributed
                except ImportError:  # dask is optional (the "scale" extra)
                    out("(Dask not installed: pip install 'gmmlib[scale]')")
                else:
                    X_dask = da.from_array(X, chunks=(100_000, -1))
                    paths.append(("Dask, threaded scheduler", X_dask))
                    paths.append(("Dask, LocalCluster 2 workers", X_dask))
            reference = None
            for name, data in paths:
                uses_cluster = "LocalCluster" in name
                if uses_cluster:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        cluster = distributed.LocalCluster(
                            n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                            host="127.0.0.1", dashboard_address=None)
                        client = distributed.Client(cluster)
                try:
                    best = np.inf
                    for _ in range(repeat):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            # an in-memory array sent to a cluster: once per fit, expected
                            warnings.filterwarnings("ignore", "Sending large graph")
                            elapsed, model = _time_path(name, data, params, n_iter)
                        best = min(best, elapsed / n_iter)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        warnings.filterwarnings("ignore", "Sending large graph")
                        _, peak = scaling.peak_memory_of(GaussianMixture(**params).fit, data)
                finally:
                    if uses_cluster:
                        client.close()
                        cluster.close()
                score = model.score(X)
                if reference is None:
                    reference = (best, score)
                row = dict(workload=workload, path=name, ms_per_iter=best * 1e3,
                           points_per_s=n_samples / best, relative=reference[0] / best,
                           peak_mb=peak / 1e6, loglik_diff=abs(score - reference[1]))
                rows.append(row)
                out(f"| {workload} | {name} | {row['ms_per_iter']:.0f} | "
                    f"{row['points_per_s'] / 1e6:.2f} M | {row['relative']:.2f}x | "
                    f"{row['peak_mb']:.1f} MB |")
            del X_map
        out("")
        out(f"Data: {X.nbytes / 1e6:.0f} MB. ms/iter: {n_iter} EM iterations from the same "
            "initial parameters, one-off preparation included, divided by the iterations. "
            "Peak memory: a whole fit (validation, iterations, and for the in-memory fit its "
            "final E-step over all rows; the LocalCluster's workers are threads of this process "
            "here, so its peak includes the copy of the data persisted on them). "
            "|Δ log-lik| per sample against in memory: " + ", ".join(f"{r['loglik_diff']:.1e}" for r in rows
                                                if r["workload"] == workload))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gmmlib.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (seconds)")
    parser.add_argument("--n-iter", type=int, default=10, help="EM iterations timed")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit the BLAS (both libraries) and gmmlib's threads to this")
    parser.add_argument("--covariance-type", choices=COVARIANCE_TYPES, action="append",
                        help="only this covariance type (repeatable)")
    parser.add_argument("--scale", action="store_true",
                        help="also run the scaling table (memmap, Dask), issue 7")
    parser.add_argument("--scale-only", action="store_true",
                        help="run only the scaling table")
    parser.add_argument("--no-dask", action="store_true", help="scaling table without Dask")
    args = parser.parse_args(argv)
    if args.scale_only:
        rows = run_scale(QUICK_SCALE_WORKLOADS if args.quick else SCALE_WORKLOADS,
                         n_iter=min(args.n_iter, 5), repeat=args.repeat, dask=not args.no_dask)
        return _scale_status(rows)
    rows = run(
        QUICK_WORKLOADS if args.quick else WORKLOADS,
        n_iter=args.n_iter,
        repeat=args.repeat,
        covariance_types=tuple(args.covariance_type or COVARIANCE_TYPES),
        threads=args.threads,
    )
    worst = max(row["loglik_diff"] for row in rows)
    if worst > 1e-8:
        print(f"\nFAILED: log-likelihoods differ by {worst:.1e} per sample (> 1e-8)")
        return 1
    if args.scale:
        print("")
        scale_rows = run_scale(QUICK_SCALE_WORKLOADS if args.quick else SCALE_WORKLOADS,
                               n_iter=min(args.n_iter, 5), repeat=args.repeat,
                               dask=not args.no_dask)
        return _scale_status(scale_rows)
    return 0


def _scale_status(rows):
    worst = max(row["loglik_diff"] for row in rows)
    if worst > 1e-8:
        print(f"\nFAILED: scaling paths differ from in memory by {worst:.1e} per sample")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def run_bayesian(workload=(200_000, 16, 10), covariance_types=("full", "diag"), n_iter=10,
                 repeat=3, out=print):
    """The Bayesian row (issue 13): a whole ``fit`` of both BayesianGaussianMixture classes.

    Both fit the same data (:func:`make_data`) from the same start (``init_params=
    "random_from_data"``, ``random_state=0``, which draw the same rows in both) for exactly
    ``n_iter`` iterations (``tol=0``), so they do the same work; what is timed is what a user
    waits for, the whole ``fit``, validation and final E-step included. Runs alternate and the
    best of ``repeat`` is kept. Prints one Markdown row per covariance type with the ratio and
    the relative difference of the final lower bounds, and returns the rows as dicts.
    """
    from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

    from .bayesian import BayesianGaussianMixture

    n_samples, n_features, n_components = workload
    X = make_data(n_samples, n_features, n_components)
    out(f"Bayesian mixture, whole fit of {n_iter} iterations, N={n_samples}, D={n_features}, "
        f"K={n_components} (load average {os.getloadavg()[0]:.1f})")
    out("| covariance | gmmlib (s) | scikit-learn (s) | speed-up | bound rel. diff. |")
    out("|---|---|---|---|---|")
    rows = []
    for covariance_type in covariance_types:
        params = dict(n_components=n_components, covariance_type=covariance_type, tol=0.0,
                      max_iter=n_iter, init_params="random_from_data", random_state=0)
        best = {"gmmlib": np.inf, "sklearn": np.inf}
        bounds = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(repeat):
                for name, cls in [("gmmlib", BayesianGaussianMixture),
                                  ("sklearn", SkBayesianGaussianMixture)]:
                    start = time.perf_counter()
                    model = cls(**params).fit(X)
                    best[name] = min(best[name], time.perf_counter() - start)
                    bounds[name] = float(np.ravel(model.lower_bound_)[0])
        row = dict(covariance_type=covariance_type, gmmlib=best["gmmlib"],
                   sklearn=best["sklearn"], speedup=best["sklearn"] / best["gmmlib"],
                   bound_difference=abs(bounds["gmmlib"] - bounds["sklearn"]) / abs(bounds["sklearn"]))
        rows.append(row)
        out(f"| {covariance_type} | {row['gmmlib']:.2f} | {row['sklearn']:.2f} | "
            f"{row['speedup']:.1f}x | {row['bound_difference']:.1e} |")
    return rows
