"""gmmlib.GaussianMixture reproduces sklearn.mixture.GaussianMixture.

Given the same initial parameters and number of iterations, the fitted parameters, the lower
bounds and the responsibilities agree to a relative 1e-10 for all four covariance types. The
data sets include overlapping clusters on which EM is still moving after 20+ iterations: on
well-separated data EM stops after a few iterations, and agreement there proves little.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

from gmmlib import GaussianMixture


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """EM makes many tiny BLAS calls, which a multi-threaded OpenBLAS makes very slow on a
    busy machine; one thread keeps these tests fast and changes nothing beyond rounding."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
RTOL = 1e-10


def assert_close(actual, desired, rtol=RTOL):
    """Relative agreement, measured against the scale of the whole array."""
    actual = np.asarray(actual, dtype=float)
    desired = np.asarray(desired, dtype=float)
    assert actual.shape == desired.shape
    scale = max(np.max(np.abs(desired)), np.finfo(float).tiny) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def _overlapping_2d(n=600, seed=0):
    """Three overlapping, stretched clusters in 2-D."""
    X, _ = make_blobs(n, centers=[[0, 0], [2, 1], [1, 3]], cluster_std=[1.2, 1.0, 1.4],
                      random_state=seed)
    return X @ np.array([[0.8, -0.6], [0.6, 0.8]])


def _overlapping_5d(n=1500, seed=1):
    """Four heavily overlapping clusters in 5-D with correlated features."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(4, 5))
    X, _ = make_blobs(n, centers=centers, cluster_std=1.3, random_state=seed)
    return X @ (np.eye(5) + 0.3 * rng.normal(size=(5, 5)))


def _separated_3d(n=500, seed=2):
    X, _ = make_blobs(n, n_features=3, centers=3, cluster_std=0.5, random_state=seed)
    return X


def _big_chunked(n=30_000, seed=3):
    """Large enough to be processed in several row chunks by the fast EM path."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.0, size=(5, 6))
    X, _ = make_blobs(n, centers=centers, cluster_std=1.0, random_state=seed)
    return X * np.arange(1, 7)


DATASETS = {
    "overlapping_2d": (_overlapping_2d, 3),
    "overlapping_5d": (_overlapping_5d, 4),
    "separated_3d": (_separated_3d, 3),
    "big_chunked": (_big_chunked, 5),
}


def initial_parameters(X, n_components, covariance_type, seed=0):
    """Deliberately rough initial weights, means (random data points) and precisions."""
    rng = np.random.default_rng(seed)
    n_samples, n_features = X.shape
    weights = rng.uniform(0.5, 1.5, size=n_components)
    weights /= weights.sum()
    means = X[rng.choice(n_samples, size=n_components, replace=False)]
    variances = X.var(axis=0) * rng.uniform(0.5, 1.5, size=(n_components, n_features))
    precisions = {
        "full": np.stack([np.diag(1.0 / v) for v in variances]),
        "tied": np.linalg.inv(np.cov(X.T)),
        "diag": 1.0 / variances,
        "spherical": 1.0 / variances.mean(axis=1),
    }[covariance_type]
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def fit_both(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**params).fit(X)
        theirs = SkGaussianMixture(**params).fit(X)
    return ours, theirs


def assert_same_fit(ours, theirs, X):
    for name in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        assert_close(getattr(ours, name), getattr(theirs, name))
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert_close(ours.lower_bound_, theirs.lower_bound_)
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_)
    assert_close(ours.lower_bounds_, theirs.lower_bounds_)
    assert_close(ours.predict_proba(X), theirs.predict_proba(X))
    assert_close(ours.score_samples(X), theirs.score_samples(X))


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_given_initial_parameters(dataset, covariance_type):
    make, n_components = DATASETS[dataset]
    X = make()
    inits = initial_parameters(X, n_components, covariance_type)
    max_iter = 10 if dataset == "big_chunked" else 30
    ours, theirs = fit_both(
        X, n_components=n_components, covariance_type=covariance_type, max_iter=max_iter,
        tol=0.0, **inits,
    )
    assert ours.n_iter_ == max_iter
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["overlapping_2d", "overlapping_5d"])
def test_overlapping_data_is_still_moving(dataset, covariance_type):
    """The parity data sets really exercise many iterations (EM has not stopped at 20)."""
    make, n_components = DATASETS[dataset]
    X = make()
    inits = initial_parameters(X, n_components, covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(n_components, covariance_type=covariance_type, max_iter=30,
                             tol=0.0, **inits).fit(X)
    bounds = np.asarray(gm.lower_bounds_)
    assert bounds[29] - bounds[19] > 1e-6


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_until_convergence(covariance_type):
    """With the default tolerance both stop at the same iteration."""
    X = _overlapping_5d()
    inits = initial_parameters(X, 4, covariance_type, seed=5)
    ours, theirs = fit_both(X, n_components=4, covariance_type=covariance_type, tol=1e-5,
                            max_iter=500, **inits)
    assert ours.converged_
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_default_initialisation(init_params, covariance_type):
    """Same random_state, same initialisation method: same fit (and within 1e-6 per sample)."""
    X = _separated_3d()
    params = dict(n_components=3, covariance_type=covariance_type, init_params=init_params,
                  random_state=0)
    ours, theirs = fit_both(X, **params)
    assert abs(ours.score(X) - theirs.score(X)) <= 1e-6
    assert_same_fit(ours, theirs, X)


def _relabelled(model, order):
    """A copy of a fitted model with its components in ``order``."""
    import copy

    relabelled = copy.deepcopy(model)
    relabelled.weights_ = model.weights_[order]
    relabelled.means_ = model.means_[order]
    if model.covariance_type != "tied":
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            setattr(relabelled, name, getattr(model, name)[order])
    return relabelled


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_of_the_best_of_several_starts(init_params, covariance_type):
    """n_init=2: the same draws for both starts, the same best fit. On these separated clusters
    both starts often reach the same optimum with the components numbered differently, and their
    bounds then differ by rounding only (scikit-learn's own two bounds were equal on one
    version and one unit in the last place apart on another); which numbering is kept is then a
    coin flip of rounding, so the fits are compared with the components matched by their
    means. Where the bounds differ by more than rounding both must keep the same start."""
    from scipy.optimize import linear_sum_assignment

    X = _separated_3d()
    params = dict(n_components=3, covariance_type=covariance_type, init_params=init_params,
                  random_state=0, n_init=2)
    ours, theirs = fit_both(X, **params)
    distances = np.linalg.norm(ours.means_[:, None, :] - theirs.means_[None, :, :], axis=2)
    _, order = linear_sum_assignment(distances.T)
    if not np.array_equal(order, np.arange(3)):
        single = dict(params, n_init=1)
        starts = []
        rng = np.random.RandomState(0)
        for _ in range(2):  # scikit-learn's two starts, one at a time, from the same draws
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                starts.append(SkGaussianMixture(**dict(single, random_state=rng)).fit(X))
        bounds = [start.lower_bound_ for start in starts]
        assert abs(bounds[0] - bounds[1]) <= 1e-12 * abs(bounds[0]), "not a tie: a real mismatch"
    assert abs(ours.score(X) - theirs.score(X)) <= 1e-6
    assert_same_fit(_relabelled(ours, order), theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_parity_bic_aic_sample(covariance_type):
    X = _overlapping_2d()
    ours, theirs = fit_both(X, n_components=3, covariance_type=covariance_type, random_state=0)
    assert_close(ours.bic(X), theirs.bic(X))
    assert_close(ours.aic(X), theirs.aic(X))
    X_ours, y_ours = ours.sample(50)
    X_theirs, y_theirs = theirs.sample(50)
    assert_close(X_ours, X_theirs)
    np.testing.assert_array_equal(y_ours, y_theirs)


def test_sample_random_state_overrides_the_estimator_seed():
    X = _overlapping_2d()
    gm = GaussianMixture(3, random_state=0).fit(X)
    first, _ = gm.sample(20, random_state=7)
    again, _ = gm.sample(20, random_state=7)
    default, _ = gm.sample(20)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, default)
    generated, labels = gm.sample(20, random_state=np.random.default_rng(0))
    assert generated.shape == (20, 2) and labels.shape == (20,)


def test_parity_warm_start():
    X = _overlapping_5d()
    params = dict(n_components=4, max_iter=5, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = GaussianMixture(**params), SkGaussianMixture(**params)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
    assert_same_fit(ours, theirs, X)


def test_parity_float32():
    X = _overlapping_2d().astype(np.float32)
    ours, theirs = fit_both(X, n_components=3, random_state=0)
    assert ours.means_.dtype == theirs.means_.dtype == np.float32
    assert_close(ours.means_, theirs.means_, rtol=1e-4)


def test_parity_max_iter_zero():
    X = _overlapping_2d()
    ours, theirs = fit_both(X, n_components=3, max_iter=0, random_state=0)
    assert ours.n_iter_ == 0 and ours.lower_bounds_ == []
    assert ours.lower_bound_ == theirs.lower_bound_ == -np.inf
    assert_close(ours.means_, theirs.means_)
    assert_close(ours.covariances_, theirs.covariances_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(covariance_type):
    X = _overlapping_5d()
    params = dict(n_components=4, covariance_type=covariance_type, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(**params).fit_predict(X)
        gm = GaussianMixture(**params).fit(X)
    np.testing.assert_array_equal(labels, gm.predict(X))


def test_convergence_warning_message():
    X = _overlapping_5d()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(4, max_iter=2, random_state=0).fit(X)


# ---------------------------------------------------------------- edge cases


def test_an_empty_component_is_handled_as_in_sklearn():
    """A component far from all data (responsibilities ~0) is treated as scikit-learn does."""
    X = _overlapping_2d()
    means = np.array([[0.0, 0.0], [1.0, 1.0], [1e3, 1e3]])
    inits = dict(weights_init=np.array([0.45, 0.45, 0.1]), means_init=means,
                 precisions_init=np.array([1.0, 1.0, 1.0]))
    ours, theirs = fit_both(X, n_components=3, covariance_type="spherical", max_iter=3,
                            tol=0.0, **inits)
    assert_close(ours.weights_, theirs.weights_)
    assert_close(ours.lower_bounds_, theirs.lower_bounds_)
    assert_close(ours.means_[:2], theirs.means_[:2])
