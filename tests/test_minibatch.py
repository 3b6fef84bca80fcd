"""``gmmlib.MiniBatchGaussianMixture``: online (stepwise) EM (issue 7).

On a well-specified problem it reaches batch EM's log-likelihood within a small tolerance,
``partial_fit`` learns from a stream, its first step is exactly one EM step, and it passes
scikit-learn's estimator checks (one expected failure, explained below).
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

import gmmlib
from gmmlib import GaussianMixture, MiniBatchGaussianMixture
from test_parity import assert_close, initial_parameters

pytestmark = pytest.mark.usefixtures("single_blas_thread")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]

# Stochastic: the k-means initialisation and the shuffling of mini-batches draw differently
# from weighted rows than from repeated rows (scikit-learn marks this check as an expected
# failure for its MiniBatchKMeans-like estimators too).
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "initialisation and mini-batch shuffling draw differently from weighted rows than "
        "from repeated rows"
    ),
}


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(20_000, centers=4, n_features=3, cluster_std=1.5, random_state=0)
    return X @ np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.4], [0.2, 0.0, 1.0]])


@pytest.fixture(scope="module")
def batch_fit(blobs):
    return GaussianMixture(4, random_state=0).fit(blobs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reaches_batch_em_log_likelihood(blobs, covariance_type):
    batch = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(blobs)
    online = MiniBatchGaussianMixture(4, covariance_type=covariance_type, batch_size=500,
                                      random_state=0).fit(blobs)
    assert abs(online.score(blobs) - batch.score(blobs)) < 5e-3
    assert 1 <= online.n_iter_ <= 10 and len(online.lower_bounds_) == online.n_iter_
    assert online.n_steps_ == online.n_iter_ * 40


def test_partial_fit_on_a_stream(blobs, batch_fit):
    model = MiniBatchGaussianMixture(4, random_state=0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(blobs))
    for start in range(0, len(blobs), 256):  # one pass over a shuffled stream
        model.partial_fit(blobs[order[start : start + 256]])
    assert model.n_steps_ == int(np.ceil(len(blobs) / 256))
    assert abs(model.score(blobs) - batch_fit.score(blobs)) < 1e-2
    assert model.n_features_in_ == 3
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(blobs[:10, :2])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_first_step_is_one_em_step_and_second_follows_the_step_size(blobs, covariance_type):
    X1, X2 = blobs[:3000], blobs[3000:5000]
    inits = initial_parameters(X1, 4, covariance_type)
    online = MiniBatchGaussianMixture(4, covariance_type=covariance_type, **inits).partial_fit(X1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = GaussianMixture(4, covariance_type=covariance_type, max_iter=1, **inits).fit(X1)
    for name in ["weights_", "means_", "covariances_", "precisions_"]:
        assert_close(getattr(online, name), getattr(em, name))
    assert_close(online.lower_bound_, em.lower_bound_)

    # second step: s = (1 - rho) s_1 + rho s_2 with rho = (1 + 10) ** -0.6, per-sample sums
    # about the first batch's mean, each batch's statistics from gmmlib's engine
    from gmmlib import engine

    centre = X1.mean(axis=0)

    def per_sample(X, log_weights, means, factors):
        plan = engine.ScoringPlan(log_weights, means, factors, covariance_type, centre)
        s = engine.chunk_statistics(X, None, centre, plan, covariance_type)
        return [s.counts / len(X), s.first / len(X), s.second / len(X)]

    s1 = per_sample(X1, np.log(inits["weights_init"]), inits["means_init"],
                    engine.factors_from_precisions(inits["precisions_init"], covariance_type))
    s2 = per_sample(X2, np.log(em.weights_), em.means_, em.precisions_cholesky_)
    rho = 11.0 ** -0.6
    nk, sx, _ = [(1 - rho) * a + rho * b for a, b in zip(s1, s2)]
    online.partial_fit(X2)
    guarded = nk + 10 * np.finfo(float).eps
    assert_close(online.means_, (sx + nk[:, None] * centre) / guarded[:, None])
    assert_close(online.weights_, guarded / guarded.sum())


def test_same_methods_as_gaussian_mixture(blobs):
    model = MiniBatchGaussianMixture(4, batch_size=1000, max_iter=3, random_state=0).fit(blobs)
    assert model.predict(blobs[:5]).shape == (5,)
    assert model.predict_proba(blobs[:5]).shape == (5, 4)
    assert model.score_samples(blobs[:5]).shape == (5,)
    samples, labels = model.sample(50, random_state=1)
    assert samples.shape == (50, 3) and labels.shape == (50,)
    assert np.isfinite(model.bic(blobs)) and np.isfinite(model.aic(blobs))
    np.testing.assert_array_equal(model.fit_predict(blobs), model.predict(blobs))
    assert "MiniBatchGaussianMixture" in gmmlib.__all__


def test_fit_chunks_runs_epochs_of_partial_fit(blobs, batch_fit):
    model = MiniBatchGaussianMixture(4, max_iter=3, random_state=0)
    model.fit_chunks(lambda: (blobs[s : s + 1000] for s in range(0, len(blobs), 1000)))
    assert model.n_steps_ == 60 and len(model.lower_bounds_) == 3
    assert abs(model.score(blobs) - batch_fit.score(blobs)) < 1e-2


def test_weighted_partial_fit_equals_repeated_rows(blobs):
    X = blobs[:400]
    w = np.random.default_rng(0).integers(0, 3, size=len(X))
    inits = initial_parameters(X, 3, "full")
    a = MiniBatchGaussianMixture(3, **inits).partial_fit(X, sample_weight=w)
    a.partial_fit(blobs[400:800], sample_weight=np.full(400, 2.0))
    b = MiniBatchGaussianMixture(3, **inits).partial_fit(np.repeat(X, w, axis=0))
    b.partial_fit(np.repeat(blobs[400:800], 2, axis=0))
    assert_close(a.means_, b.means_)
    assert_close(a.covariances_, b.covariances_)


@pytest.mark.parametrize(
    "params, message",
    [(dict(learning_decay=1.5), "learning_decay"), (dict(batch_size=0), "batch_size"),
     (dict(learning_offset=-1.0), "learning_offset")],
)
def test_invalid_parameters(blobs, params, message):
    with pytest.raises(ValueError, match=message):
        MiniBatchGaussianMixture(2, **params).fit(blobs[:100])


@parametrize_with_checks(
    [MiniBatchGaussianMixture(), MiniBatchGaussianMixture(2, covariance_type="diag",
                                                          batch_size=7, random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_check_estimator_as_a_whole():
    check_estimator(MiniBatchGaussianMixture(2, random_state=0),
                    expected_failed_checks=EXPECTED_FAILED_CHECKS)


# --- sources: memory maps, iterators, Dask arrays (issue 15) --------------------------------


def test_fit_on_a_memory_map_equals_fit_on_the_array(blobs, tmp_path):
    path = tmp_path / "blobs.npy"
    np.save(path, blobs)
    X_map = np.load(path, mmap_mode="r")
    params = dict(n_components=4, batch_size=700, max_iter=3, random_state=0)
    on_map = MiniBatchGaussianMixture(**params).fit(X_map)
    in_memory = MiniBatchGaussianMixture(**params).fit(np.array(blobs))
    for name in ["weights_", "means_", "covariances_"]:
        np.testing.assert_array_equal(getattr(on_map, name), getattr(in_memory, name))
    assert on_map.lower_bounds_ == in_memory.lower_bounds_


def test_fit_chunks_cuts_chunks_into_batches_and_reads_an_iterator_once(blobs):
    chunks = lambda: (blobs[s : s + 5000] for s in range(0, len(blobs), 5000))  # noqa: E731
    model = MiniBatchGaussianMixture(4, batch_size=1000, max_iter=2, random_state=0)
    model.fit_chunks(chunks)
    assert model.n_steps_ == 2 * 20 and model.n_iter_ == 2
    once = MiniBatchGaussianMixture(4, batch_size=1000, max_iter=1, random_state=0)
    once.fit_chunks(chunks())  # a generator: one epoch
    assert once.n_steps_ == 20
    replay = MiniBatchGaussianMixture(4, batch_size=1000, max_iter=1, random_state=0)
    replay.fit_chunks(chunks)
    assert_close(once.means_, replay.means_)
    with pytest.raises(ValueError, match="read only once.*max_iter=1"):
        MiniBatchGaussianMixture(4, max_iter=3).fit_chunks(chunks())
    with pytest.raises(TypeError, match="make_chunks"):
        MiniBatchGaussianMixture(4, max_iter=1).fit_chunks(42)


def test_fit_on_a_dask_array_reads_one_block_at_a_time(blobs, batch_fit):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")

    X_dask = da.from_array(blobs, chunks=(4000, 3))  # five blocks
    with dask.config.set(scheduler="threads"):
        model = MiniBatchGaussianMixture(4, batch_size=500, max_iter=3, random_state=0,
                                         verbose=1).fit(X_dask)
        again = MiniBatchGaussianMixture(4, batch_size=500, max_iter=3, random_state=0).fit(X_dask)
    assert model.dask_storage_ == "stream"
    assert model.n_steps_ == model.n_iter_ * 5 * 8
    assert abs(model.score(blobs) - batch_fit.score(blobs)) < 5e-3
    assert_close(model.means_, again.means_)  # reproducible: block order and shuffles seeded
    w = np.random.default_rng(0).integers(1, 3, size=len(blobs)).astype(float)
    with dask.config.set(scheduler="threads"):
        weighted = MiniBatchGaussianMixture(4, batch_size=500, max_iter=2, random_state=0).fit(
            X_dask, sample_weight=da.from_array(w, chunks=3000))
    assert abs(weighted.score(blobs) - batch_fit.score(blobs)) < 1e-2
