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
    header = "| workload | covariance | gmmlib ms/iter | sklearn ms/iter | speed-up | |Δ log-lik| per sample |"
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
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
