"""The EM history recorded with ``record_history=True``."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from gmmlib import GaussianMixture, em


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """EM makes many tiny BLAS calls, which a multi-threaded OpenBLAS makes very slow on a
    busy machine; one thread keeps these tests fast and changes nothing beyond rounding."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


COVARIANCE_SHAPES = {
    "full": (3, 2, 2),
    "tied": (2, 2),
    "diag": (3, 2),
    "spherical": (3,),
}


@pytest.fixture(scope="module")
def X():
    X, _ = make_blobs(400, centers=3, cluster_std=[1.5, 0.5, 1.0], random_state=0)
    return X @ np.array([[0.8, -0.6], [0.6, 0.8]])


def fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(X)


def test_no_history_by_default(X):
    assert not hasattr(fit(X, n_components=3, random_state=0), "history_")


def test_record_history_is_keyword_only():
    with pytest.raises(TypeError):
        GaussianMixture(3, "full", record_history=True)


@pytest.mark.parametrize("covariance_type", COVARIANCE_SHAPES)
def test_history_semantics(X, covariance_type):
    gm = fit(X, n_components=3, covariance_type=covariance_type, random_state=0,
             record_history=True)
    h = gm.history_
    assert len(h) == gm.n_iter_ + 1
    for entry in h:
        assert set(entry) == {"weights", "means", "covariances", "log_likelihood"}
        assert entry["weights"].shape == (3,)
        assert entry["means"].shape == (3, 2)
        assert entry["covariances"].shape == COVARIANCE_SHAPES[covariance_type]
        assert isinstance(float(entry["log_likelihood"]), float)
    for t in range(gm.n_iter_):
        assert h[t]["log_likelihood"] == gm.lower_bounds_[t]
    # the last entry is the fitted model
    np.testing.assert_array_equal(h[-1]["weights"], gm.weights_)
    np.testing.assert_array_equal(h[-1]["means"], gm.means_)
    np.testing.assert_array_equal(h[-1]["covariances"], gm.covariances_)
    np.testing.assert_allclose(h[-1]["log_likelihood"], gm.score(X), rtol=1e-12)
    # every entry's log-likelihood is that of its own parameters
    for entry in h:
        total = em.log_likelihood(X, entry["weights"], entry["means"], entry["covariances"],
                                  covariance_type)
        np.testing.assert_allclose(total / len(X), entry["log_likelihood"], rtol=1e-10)
    # EM never decreases the log-likelihood
    lls = np.array([entry["log_likelihood"] for entry in h])
    assert np.all(np.diff(lls) >= -1e-10)


def test_history_entry_zero_is_the_initialisation(X):
    weights = np.array([0.2, 0.3, 0.5])
    means = X[:3].copy()
    precisions = np.stack([np.eye(2)] * 3)
    gm = fit(X, n_components=3, weights_init=weights, means_init=means,
             precisions_init=precisions, record_history=True, max_iter=4, tol=0.0)
    np.testing.assert_array_equal(gm.history_[0]["weights"], weights)
    np.testing.assert_array_equal(gm.history_[0]["means"], means)
    np.testing.assert_allclose(gm.history_[0]["covariances"], precisions, rtol=1e-14)
    assert len(gm.history_) == 5


def test_history_with_max_iter_zero(X):
    gm = fit(X, n_components=3, random_state=0, record_history=True, max_iter=0)
    assert gm.n_iter_ == 0 and len(gm.history_) == 1
    np.testing.assert_allclose(gm.history_[0]["log_likelihood"], gm.score(X), rtol=1e-12)


def test_history_of_the_best_initialisation(X):
    gm = fit(X, n_components=3, init_params="random", n_init=4, random_state=1,
             record_history=True)
    assert len(gm.history_) == gm.n_iter_ + 1
    assert gm.history_[-2]["log_likelihood"] == gm.lower_bound_
    np.testing.assert_array_equal(gm.history_[-1]["means"], gm.means_)


def test_history_entries_are_copies(X):
    gm = fit(X, n_components=3, random_state=0, record_history=True)
    means = [entry["means"] for entry in gm.history_]
    assert all(m is not gm.means_ for m in means[:-1])
    assert not np.allclose(means[0], means[-1])


def test_history_with_warm_start_starts_from_previous_fit(X):
    gm = GaussianMixture(3, random_state=0, warm_start=True, max_iter=3, record_history=True)
    fit_params = gm.get_params()
    first = fit(X, **fit_params)
    previous_means = first.means_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first.fit(X)
    np.testing.assert_array_equal(first.history_[0]["means"], previous_means)
    assert len(first.history_) == first.n_iter_ + 1
