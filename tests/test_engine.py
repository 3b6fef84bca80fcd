"""The EM engine (issue 11): one engine behind every path, sound wherever scikit-learn fits.

* The teaching functions of :mod:`gmmlib.em` and the engine compute the same E-step, M-step and
  log-likelihood on all four covariance types, for any chunking and number of threads.
* Where scikit-learn returns a fit, so does gmmlib, at least as accurately: a narrow component
  far from the data's centre, and scikit-learn's own "best parameters after divergence" case.
* Moving the data (``X + c``) moves the means and leaves the covariances alone.
* One answer per data set: an ndarray and a memory map of the same numbers give the same
  model, bit for bit, and ``fit_predict`` agrees with ``fit(...).predict``.
* float32 in, float32 out (also with sample weights); random initialisations never start from
  a row of zero weight.
* Threads: ``n_jobs`` as in scikit-learn, one pool per fit, fits in several threads at once
  give the results they give alone and leave the BLAS setting as they found it.
"""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmlib import GaussianMixture, em, engine
from test_parity import _overlapping_5d, assert_close, initial_parameters

pytestmark = pytest.mark.usefixtures("single_blas_thread")

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def random_parameters(X, covariance_type, K=4, seed=0):
    inits = initial_parameters(X, K, covariance_type, seed=seed)
    factors = engine.factors_from_precisions(inits["precisions_init"], covariance_type)
    covariances = engine.covariances_from_factors(factors, covariance_type)
    return inits["weights_init"], inits["means_init"], covariances, factors


# ------------------------------------------------------------------ the engine equals the book


def assert_engine_equals_teaching_functions(X, weights, means, covariances, factors,
                                            covariance_type, n_jobs, rows):
    """One E-step, M-step and per-row scoring by the engine (``rows`` per chunk, ``n_jobs``
    threads) give what gmmlib.em gives."""
    expected_resp = em.e_step(X, weights, means, covariances, covariance_type)
    expected = em.m_step(X, expected_resp, covariance_type, reg_covar=1e-6)
    runner = engine.Engine(covariance_type, len(weights), X.shape[1], n_jobs=n_jobs)
    if rows is not None:
        runner.rows_per_chunk = rows
    data = engine.Rows(X)
    with runner:
        stats = runner.e_step(data, np.log(weights), means, factors)
        moments = runner.moments(data, stats, 1e-6)
        log_norm, log_resp = runner.row_output(
            data, runner.plan(data, np.log(weights), means, factors), "log_resp")
    assert_close(stats.log_norm, em.log_likelihood(X, weights, means, covariances, covariance_type))
    assert_close(stats.counts, expected_resp.sum(axis=0))
    assert_close(moments.counts / moments.counts.sum(), expected[0])
    assert_close(moments.means, expected[1])
    assert_close(moments.covariances, expected[2])
    assert_close(np.exp(log_resp), expected_resp)
    assert_close(log_norm, em.log_mixture_density(X, weights, means, covariances, covariance_type))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_jobs, rows", [(None, None), (None, 256), (2, 700), (3, 1000)])
def test_engine_step_equals_the_teaching_functions(covariance_type, n_jobs, rows):
    X = _overlapping_5d(n=3000)
    weights, means, covariances, factors = random_parameters(X, covariance_type)
    assert_engine_equals_teaching_functions(X, weights, means, covariances, factors,
                                            covariance_type, n_jobs, rows)


@pytest.mark.parametrize("n_jobs, rows", [(None, None), (2, 300)])
def test_full_covariances_in_feature_blocks_equal_the_teaching_functions(n_jobs, rows):
    """Past 16 features the full-covariance products are cut into blocks of features that skip
    the zeros of the triangular factors and the mirror half of the symmetric scatter. With 37
    features the blocks are 16, 16 and 5 wide; the covariances are dense, so every part of every
    block matters."""
    rng = np.random.default_rng(3)
    n, D, K = 1200, 37, 3
    mixing = np.eye(D) + 0.2 * rng.normal(size=(D, D))
    X = rng.normal(size=(n, D)) @ mixing + rng.integers(0, K, n)[:, np.newaxis] * rng.normal(size=D)
    weights, means, covariances = em.m_step(X, rng.dirichlet(np.ones(K), size=n), "full",
                                            reg_covar=1e-6)
    assert np.all(np.abs(np.triu(covariances, 1)).max(axis=(1, 2)) > 0.1)  # dense
    factors = engine.precision_factors(covariances, "full")
    assert_engine_equals_teaching_functions(X, weights, means, covariances, factors, "full",
                                            n_jobs, rows)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_chunks_add_up(covariance_type):
    X = _overlapping_5d(n=2000)
    weights, means, _, factors = random_parameters(X, covariance_type)
    centre = X.mean(axis=0)
    plan = engine.ScoringPlan(np.log(weights), means, factors, covariance_type, centre)
    whole = engine.chunk_statistics(X, None, centre, plan, covariance_type)
    parts = [engine.chunk_statistics(part, None, centre, plan, covariance_type)
             for part in (X[:1], X[1:1234], X[1234:])]
    total = parts[0] + parts[1] + parts[2]
    assert total.weight == whole.weight == len(X)
    for name in ("log_norm", "counts", "first", "second"):
        assert_close(getattr(total, name), getattr(whole, name))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estimator_iteration_equals_the_teaching_functions(covariance_type):
    """Ten iterations of the estimator are ten E-steps and M-steps of gmmlib.em."""
    X = _overlapping_5d(n=1500)
    inits = initial_parameters(X, 4, covariance_type)
    model = quiet_fit(GaussianMixture(4, covariance_type=covariance_type, max_iter=10, tol=0,
                                      reg_covar=1e-6, **inits), X)
    weights, means, covariances, _ = random_parameters(X, covariance_type)
    bounds = []
    for _ in range(10):
        bounds.append(em.log_likelihood(X, weights, means, covariances, covariance_type) / len(X))
        resp = em.e_step(X, weights, means, covariances, covariance_type)
        weights, means, covariances = em.m_step(X, resp, covariance_type, reg_covar=1e-6)
    assert_close(model.lower_bounds_, bounds)
    assert_close(model.weights_, weights)
    assert_close(model.means_, means)
    assert_close(model.covariances_, covariances)


# ------------------------------------------------------------------ sound where sklearn fits


def test_sklearn_best_parameters_after_divergence_case_fits():
    """scikit-learn's public test ``test_gaussian_mixture_setting_best_params``: 30 uniform
    points, the initial values it gives, one iteration, reg_covar=0. scikit-learn fits; so
    must we, with finite parameters that agree with its own."""
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 3))
    means_init = np.array([
        [0.670637869618158, 0.21038256107384043, 0.12892629765485303],
        [0.09394051075844147, 0.5759464955561779, 0.929296197576212],
        [0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
        [0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
        [0.4548589928173794, 0.35182513658825276, 0.568146063202464],
        [0.609279894978321, 0.7929063819678847, 0.9620097270828052],
    ])
    precisions_init = np.array([999999.999604483, 999999.9990869573, 553.7603944542167,
                                204.78596008931834, 15.867423501783637, 85.4595728389735])
    weights_init = [0.03333333333333341, 0.03333333333333341, 0.06666666666666674,
                    0.06666666666666674, 0.7000000000000001, 0.10000000000000007]
    params = dict(covariance_type="spherical", reg_covar=0, means_init=means_init,
                  weights_init=weights_init, precisions_init=precisions_init,
                  random_state=rng, n_components=6, max_iter=1)
    ours = quiet_fit(GaussianMixture(**params), X)
    theirs = quiet_fit(SkGaussianMixture(**params), X)
    assert not ours.converged_ and ours.n_iter_ == 1
    for name in PARAMS + ("lower_bound_",):
        assert np.all(np.isfinite(getattr(ours, name)))
    assert_close(ours.weights_, theirs.weights_)
    assert_close(ours.means_, theirs.means_)
    assert_close(ours.lower_bound_, theirs.lower_bound_)
    # The collapsed components' variances are tiny; scikit-learn's come from E[x^2] - mu^2,
    # ours from the exact two-pass formula: they agree wherever scikit-learn's has digits left.
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-6, atol=1e-15)


def _narrow_far_component(seed=0):
    """A broad cluster at the origin and a very narrow one far away (spread 1e-5 at 1e3)."""
    rng = np.random.default_rng(seed)
    broad = rng.normal(size=(400, 3))
    narrow = 1000.0 + 1e-5 * rng.normal(size=(60, 3)) @ np.array(
        [[1.0, 0.3, 0.0], [0.0, 1.0, 0.2], [0.0, 0.0, 1.0]])
    return np.vstack([broad, narrow])


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_narrow_far_component_without_regularisation(covariance_type):
    """scikit-learn fits it with reg_covar=0; gmmlib must too, and its narrow covariance must
    be the data's own scatter to ~1e-9. scikit-learn's full path centres per component and is
    exact; its diag and spherical paths subtract mu^2 from E[x^2] about the origin and lose
    all digits here (its fits fail: a variance comes out negative), which is why the comparison
    is with the data rather than with scikit-learn."""
    X = _narrow_far_component()
    params = dict(n_components=2, covariance_type=covariance_type, reg_covar=0.0,
                  random_state=0)
    try:
        theirs = quiet_fit(SkGaussianMixture(**params), X)
    except ValueError:  # scikit-learn's diag and spherical paths: E[x^2] - mu^2 came out <= 0
        assert covariance_type != "full"
        theirs = None
    ours = quiet_fit(GaussianMixture(**params), X)
    narrow = int(np.argmax(ours.means_[:, 0]))
    points = X[400:]
    scatter = np.cov(points.T, bias=True)
    expected = {"full": scatter, "diag": np.diag(scatter),
                "spherical": np.mean(np.diag(scatter))}[covariance_type]
    np.testing.assert_allclose(ours.covariances_[narrow], expected, rtol=1e-9)
    assert_close(ours.means_[narrow], points.mean(axis=0))
    if theirs is not None:
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if covariance_type == "full":
        assert_close(ours.covariances_, theirs.covariances_, rtol=1e-8)


def test_the_fast_formula_alone_would_lose_those_digits():
    """The recomputation is needed: about the data's centre the narrow component's variance
    keeps only a few digits."""
    X = _narrow_far_component()
    labels = (X[:, 0] > 500).astype(int)
    resp = np.eye(2)[labels]
    runner = engine.Engine("diag", 2, 3)
    data = engine.Rows(X)
    stats = runner.statistics(data, engine.GivenResponsibilities(resp))
    fast = engine.moments_from_statistics(stats, data.centre, "diag", 0.0).covariances[1]
    exact = runner.moments(data, stats, 0.0).covariances[1]
    truth = X[400:].var(axis=0)
    assert np.max(np.abs(fast / truth - 1)) > 1e-6
    assert np.max(np.abs(exact / truth - 1)) < 1e-10


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shift", [1e3, 1e6])
def test_translation_moves_the_means_and_keeps_the_covariances(covariance_type, shift):
    X = _overlapping_5d(n=1500)
    spread = X.std()
    inits = initial_parameters(X, 4, covariance_type)
    moved_inits = dict(inits, means_init=inits["means_init"] + shift * spread)
    params = dict(n_components=4, covariance_type=covariance_type, max_iter=20, tol=0)
    base = quiet_fit(GaussianMixture(**params, **inits), X)
    moved = quiet_fit(GaussianMixture(**params, **moved_inits), X + shift * spread)
    # the data themselves carry rounding of about eps * shift * spread: allow ten times that
    rtol = max(1e-10, 10 * np.finfo(float).eps * shift)
    assert_close(moved.covariances_, base.covariances_, rtol=rtol)
    assert_close(moved.means_ - shift * spread, base.means_, rtol=rtol)
    assert_close(moved.weights_, base.weights_, rtol=rtol)


# ------------------------------------------------------------------ one answer per data set


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_memmap_and_array_give_the_same_model_bit_for_bit(tmp_path, covariance_type):
    X = _overlapping_5d(n=1500)
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_map = np.load(path, mmap_mode="r")
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    from_array = quiet_fit(GaussianMixture(**params), np.array(X))
    from_map = quiet_fit(GaussianMixture(**params), X_map)
    for name in PARAMS + ("lower_bounds_",):
        np.testing.assert_array_equal(getattr(from_map, name), getattr(from_array, name))
    labels = GaussianMixture(**params).fit_predict(X_map)
    np.testing.assert_array_equal(labels, from_map.predict(X_map))
    np.testing.assert_array_equal(labels, from_array.predict(X))


# ------------------------------------------------------------------ float32, weights, init


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_in_float32_out_also_with_weights(covariance_type):
    X = _overlapping_5d(n=600).astype(np.float32)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(X)).astype(np.float32)
    for weights in (None, w):
        model = quiet_fit(GaussianMixture(3, covariance_type=covariance_type, random_state=0),
                          X, sample_weight=weights)
        for name in PARAMS + ("precisions_",):
            assert getattr(model, name).dtype == np.float32, name
        assert model.predict_proba(X).dtype == np.float32
        assert model.score_samples(X).dtype == np.float32
        reference = quiet_fit(GaussianMixture(3, covariance_type=covariance_type,
                                              random_state=0), X.astype(np.float64),
                              sample_weight=weights)
        np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++", "kmeans"])
def test_random_starts_never_use_rows_of_zero_weight(init_params):
    X = _overlapping_5d(n=300)
    w = np.zeros(len(X))
    w[::7] = 1.0  # only every seventh row counts
    for seed in range(5):
        model = GaussianMixture(4, init_params=init_params, max_iter=0, random_state=seed)
        quiet_fit(model, X, sample_weight=w)
        zero_rows = X[w == 0]
        for mean in model.means_:
            assert not np.any(np.all(np.isclose(zero_rows, mean, rtol=0, atol=1e-12), axis=1))
        if init_params == "random_from_data":  # each start is one row of positive weight
            for mean in model.means_:
                assert np.any(np.all(np.isclose(X[w > 0], mean, rtol=1e-12, atol=0), axis=1))


def test_random_from_data_needs_enough_weighted_rows():
    X = _overlapping_5d(n=50)
    w = np.zeros(len(X))
    w[:2] = 1.0
    with pytest.raises(ValueError, match="positive sample_weight"):
        GaussianMixture(3, init_params="random_from_data").fit(X, sample_weight=w)


# ------------------------------------------------------------------ threads


def test_n_jobs_changes_nothing_beyond_rounding():
    X = _overlapping_5d(n=20_000)
    params = dict(n_components=4, random_state=0, max_iter=15, tol=0)
    one = quiet_fit(GaussianMixture(**params), X)
    two = quiet_fit(GaussianMixture(**params, n_jobs=2), X)
    every = quiet_fit(GaussianMixture(**params, n_jobs=-1), X)
    for other in (two, every):
        for name in PARAMS + ("lower_bounds_",):
            assert_close(getattr(other, name), getattr(one, name))


def test_n_jobs_follows_joblib():
    from joblib import parallel_backend

    assert engine.effective_threads(None) == 1
    assert engine.effective_threads(2) == 2
    assert engine.effective_threads(-1) >= 1
    with parallel_backend("threading", n_jobs=3):
        assert engine.effective_threads(None) == 3
    with pytest.raises(ValueError, match="n_jobs"):
        GaussianMixture(2, n_jobs=0).fit(_overlapping_5d(n=50))


def test_one_thread_pool_per_fit(monkeypatch):
    created = []
    real = engine.ThreadPoolExecutor

    def counting(*args, **kwargs):
        created.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "ThreadPoolExecutor", counting)
    model = quiet_fit(GaussianMixture(4, n_jobs=2, max_iter=12, tol=0, random_state=0),
                      _overlapping_5d(n=20_000))
    assert model.n_iter_ == 12
    assert len(created) == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fits_in_several_threads_at_once():
    """Each fit holds the BLAS to one thread while it runs; with several fits at once the limit
    is shared (the last one out restores it), so none of them races the others and the
    process's setting is what it was before."""
    from threadpoolctl import threadpool_info

    X = _overlapping_5d(n=4000)
    settings = [dict(n_components=k, covariance_type=ct, random_state=0, max_iter=20, tol=0)
                for k, ct in [(2, "full"), (3, "tied"), (4, "diag"), (3, "spherical"),
                              (4, "full"), (2, "diag")]]
    alone = [quiet_fit(GaussianMixture(**s), X) for s in settings]
    before = [(lib["internal_api"], lib["num_threads"]) for lib in threadpool_info()]
    barrier = threading.Barrier(len(settings))

    def fit_together(s):
        barrier.wait()  # warnings.catch_warnings is not thread-safe: the mark above filters
        return GaussianMixture(**s, n_jobs=2).fit(X)

    with ThreadPoolExecutor(len(settings)) as pool:
        together = list(pool.map(fit_together, settings))
    after = [(lib["internal_api"], lib["num_threads"]) for lib in threadpool_info()]
    assert after == before
    for a, b in zip(alone, together):
        for name in PARAMS:
            assert_close(getattr(b, name), getattr(a, name))


def test_scoring_wide_full_models_with_one_job_leaves_blas_threads_alone():
    """At large D the E-step's product is wide enough for a multi-threaded BLAS to pay, so
    scoring with n_jobs=None does not pin the BLAS to one thread; thin products are pinned."""
    assert not engine.Engine("full", 10, 64).pins_blas
    assert engine.Engine("full", 10, 16).pins_blas
    assert engine.Engine("full", 10, 64, n_jobs=2).pins_blas
    assert engine.Engine("diag", 10, 64).pins_blas


def test_verbose_reports_starts_iterations_and_the_end(capsys):
    X = _overlapping_5d(n=500)
    quiet_fit(GaussianMixture(3, n_init=2, max_iter=4, tol=0, verbose=2, verbose_interval=2,
                              random_state=0), X)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Start 1 of 2" and "Start 2 of 2" in lines
    assert sum(line.strip().startswith("iteration 2: bound") for line in lines) == 2
    assert sum("stopped without converging after 4 iterations" in line for line in lines) == 2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_fit_allocates_no_more_memory_than_sklearns(covariance_type):
    """Peak memory above the data (tracemalloc) of a 3-iteration fit, from the same initial
    parameters, on 100,000 rows: the engine works chunk by chunk and keeps at most the centred
    rows between passes, where scikit-learn holds (n, K) arrays and copies of X."""
    from gmmlib.benchmark import initial_parameters as bench_initial_parameters
    from gmmlib.benchmark import make_data
    from gmmlib.scaling import peak_memory_of

    X = make_data(100_000, 16, 10)
    params = dict(n_components=10, covariance_type=covariance_type, max_iter=3, tol=0,
                  **bench_initial_parameters(X, 10, covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, ours = peak_memory_of(GaussianMixture(**params, n_jobs=2).fit, X)
        _, theirs = peak_memory_of(SkGaussianMixture(**params).fit, X)
    assert ours <= theirs, (ours / 1e6, theirs / 1e6)
