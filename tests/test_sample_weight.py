"""``GaussianMixture.fit(X, sample_weight=...)``: weighted EM (issue 7).

Integer weights must give the same fit as repeating rows (to 1e-10, given the same
initialisation), zero weights the same fit as removing rows, and the k-means initialisation
must use the weights. The data overlap, so EM is still moving after many iterations.
"""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from gmmlib import GaussianMixture
from test_parity import _overlapping_5d, assert_close, initial_parameters

pytestmark = pytest.mark.usefixtures("single_blas_thread")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PARAMS = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


@pytest.fixture(scope="module")
def data():
    X = _overlapping_5d(n=600)
    weights = np.random.default_rng(0).integers(0, 4, size=len(X))
    return X, weights


def fit(X, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(X, sample_weight=sample_weight)


def assert_same_fit(a, b):
    for name in PARAMS:
        assert_close(getattr(a, name), getattr(b, name))
    assert a.n_iter_ == b.n_iter_
    assert_close(a.lower_bounds_, b.lower_bounds_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(data, covariance_type):
    X, w = data
    params = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=30,
                  record_history=True, **initial_parameters(X, 4, covariance_type))
    weighted = fit(X, w, **params)
    repeated = fit(np.repeat(X, w, axis=0), **params)
    assert_same_fit(weighted, repeated)
    assert_close(weighted.history_[-1]["log_likelihood"], repeated.history_[-1]["log_likelihood"])
    # the lower bound is the weighted mean log-likelihood
    assert_close(weighted.history_[-1]["log_likelihood"],
                 np.average(weighted.score_samples(X), weights=w))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_equal_removed_rows_and_scale_does_not_matter(data, covariance_type):
    X, w = data
    params = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=20,
                  **initial_parameters(X, 4, covariance_type))
    keep = w > 0
    assert_same_fit(fit(X, keep.astype(float), **params), fit(X[keep], **params))
    assert_same_fit(fit(X, 0.37 * w, **params), fit(X, w, **params))
    assert_same_fit(fit(X, np.ones(len(X)), **params), fit(X, **params))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_kmeans_initialisation_uses_the_weights(data, init_params):
    X, w = data
    model = fit(X, w, n_components=3, max_iter=0, init_params=init_params, random_state=0)
    if init_params == "kmeans":
        labels = KMeans(3, n_init=1, random_state=np.random.RandomState(0)).fit(
            X, sample_weight=w).labels_
        expected = np.array([np.average(X[labels == k], axis=0, weights=w[labels == k])
                             for k in range(3)])
        assert_close(model.means_, expected)
        assert_close(model.weights_, [w[labels == k].sum() / w.sum() for k in range(3)])
    # rows with zero weight never seed a component
    assert not np.any(np.all(np.isin(model.means_, X[w == 0]), axis=1))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_initial_m_step_equals_repeated_rows(data, covariance_type):
    """The initial M-step (from given responsibilities) weights every sum, including the
    scatter matrix of the tied covariance."""
    from gmmlib import engine

    X, w = data
    resp = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X))
    runner = engine.Engine(covariance_type, 3, X.shape[1])

    def moments(rows, responsibilities):
        stats = runner.statistics(rows, engine.GivenResponsibilities(responsibilities))
        return runner.moments(rows, stats, 1e-6)

    weighted = moments(engine.Rows(X, w.astype(float)), resp)
    repeated = moments(engine.Rows(np.repeat(X, w, axis=0)), np.repeat(resp, w, axis=0))
    for name in ("counts", "means", "covariances"):
        assert_close(getattr(weighted, name), getattr(repeated, name))


def test_fit_predict_with_weights_agrees_with_predict(data):
    X, w = data
    model = GaussianMixture(3, random_state=0)
    labels = model.fit_predict(X, sample_weight=w)
    np.testing.assert_array_equal(labels, model.predict(X))


def test_float32_data_with_weights(data):
    X, w = data
    a = fit(X.astype(np.float32), w, n_components=3, random_state=0)
    b = fit(X, w, n_components=3, random_state=0)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda n: -np.ones(n), "non-negative"),
        (lambda n: np.ones(n + 1), r"shape \(600,\)"),
        (lambda n: np.ones((n, 1)), r"shape \(600,\)"),
        (lambda n: np.full(n, np.nan), "finite"),
        (lambda n: np.zeros(n), "all zero"),
        (lambda n: np.array(["a"] * n), "numbers"),
    ],
)
def test_bad_weights_raise_a_clear_value_error(data, bad, message):
    X, _ = data
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, random_state=0).fit(X, sample_weight=bad(len(X)))


def test_scalar_weight_is_broadcast(data):
    X, _ = data
    params = dict(n_components=2, random_state=0, tol=0.0, max_iter=10)
    assert_same_fit(fit(X, 2.0, **params), fit(X, **params))
