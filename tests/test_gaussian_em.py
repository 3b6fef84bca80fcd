"""gmmlib.gaussian and gmmlib.em against scipy.stats and against the estimator."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from gmmlib import GaussianMixture, em, gaussian


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """EM makes many tiny BLAS calls, which a multi-threaded OpenBLAS makes very slow on a
    busy machine; one thread keeps these tests fast and changes nothing beyond rounding."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def random_spd(rng, d):
    A = rng.normal(size=(d, d))
    return A @ A.T + d * np.eye(d)


def dense_covariances(covariances, covariance_type, n_components, n_features):
    """Covariances of any type as a (K, D, D) stack."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.repeat(covariances[np.newaxis], n_components, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


def random_parameters(rng, covariance_type, K=3, D=4):
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(scale=2.0, size=(K, D))
    covariances = {
        "full": np.stack([random_spd(rng, D) for _ in range(K)]),
        "tied": random_spd(rng, D),
        "diag": rng.uniform(0.5, 2.0, size=(K, D)),
        "spherical": rng.uniform(0.5, 2.0, size=K),
    }[covariance_type]
    return weights, means, covariances


# ---------------------------------------------------------------- gmmlib.gaussian


@pytest.mark.parametrize("d", [1, 2, 5])
def test_log_pdf_matches_scipy(d):
    rng = np.random.default_rng(d)
    mean, cov = rng.normal(size=d), random_spd(rng, d)
    X = rng.normal(size=(50, d))
    expected = stats.multivariate_normal(mean, cov).logpdf(X)
    np.testing.assert_allclose(gaussian.log_pdf(X, mean, cov), np.atleast_1d(expected),
                               rtol=1e-12)


def test_mahalanobis_matches_scipy():
    rng = np.random.default_rng(0)
    mean, cov = rng.normal(size=3), random_spd(rng, 3)
    X = rng.normal(size=(20, 3))
    from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

    VI = np.linalg.inv(cov)
    expected = [scipy_mahalanobis(x, mean, VI) for x in X]
    np.testing.assert_allclose(gaussian.mahalanobis(X, mean, cov), expected, rtol=1e-12)


def test_fit_gaussian_is_maximum_likelihood():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3)) @ rng.normal(size=(3, 3))
    mean, cov = gaussian.fit_gaussian(X)
    np.testing.assert_allclose(mean, X.mean(axis=0))
    np.testing.assert_allclose(cov, np.cov(X.T, bias=True))
    # the estimator with one component finds the same Gaussian (up to reg_covar)
    gm = GaussianMixture(1, reg_covar=0.0).fit(X)
    np.testing.assert_allclose(gm.means_[0], mean, rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_[0], cov, rtol=1e-10)


def test_sample_gaussian_moments_and_seeding():
    mean, cov = np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
    X = gaussian.sample_gaussian(mean, cov, 50_000, random_state=0)
    assert X.shape == (50_000, 2)
    np.testing.assert_allclose(X.mean(axis=0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(X.T), cov, atol=0.05)
    np.testing.assert_array_equal(X, gaussian.sample_gaussian(mean, cov, 50_000, random_state=0))
    Y = gaussian.sample_gaussian(mean, cov, 5, random_state=np.random.default_rng(0))
    assert Y.shape == (5, 2)


def test_gaussian_errors_are_plain():
    with pytest.raises(ValueError, match="positive definite"):
        gaussian.log_pdf(np.zeros((2, 2)), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        gaussian.log_pdf(np.zeros(3), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="shape"):
        gaussian.log_pdf(np.zeros((2, 2)), np.zeros(3), np.eye(2))


# ---------------------------------------------------------------- gmmlib.em


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_component_densities_match_scipy(covariance_type):
    rng = np.random.default_rng(2)
    weights, means, covariances = random_parameters(rng, covariance_type)
    X = rng.normal(size=(40, 4))
    dense = dense_covariances(covariances, covariance_type, 3, 4)
    expected = np.column_stack(
        [stats.multivariate_normal(m, c).logpdf(X) for m, c in zip(means, dense)]
    )
    got = em.log_component_densities(X, means, covariances, covariance_type)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_and_log_likelihood_match_scipy(covariance_type):
    rng = np.random.default_rng(3)
    weights, means, covariances = random_parameters(rng, covariance_type)
    X = rng.normal(scale=2.0, size=(40, 4))
    dense = dense_covariances(covariances, covariance_type, 3, 4)
    joint = np.column_stack(
        [w * stats.multivariate_normal(m, c).pdf(X) for w, m, c in zip(weights, means, dense)]
    )
    resp = em.e_step(X, weights, means, covariances, covariance_type)
    np.testing.assert_allclose(resp, joint / joint.sum(axis=1, keepdims=True), rtol=1e-9,
                               atol=1e-15)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    per_sample = em.log_mixture_density(X, weights, means, covariances, covariance_type)
    np.testing.assert_allclose(per_sample, np.log(joint.sum(axis=1)), rtol=1e-12)
    total = em.log_likelihood(X, weights, means, covariances, covariance_type)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, np.sum(np.log(joint.sum(axis=1))), rtol=1e-12)


def test_e_step_does_not_underflow():
    X = np.array([[0.0], [1000.0]])
    resp = em.e_step(X, [0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0], "spherical")
    assert np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    assert np.isfinite(em.log_likelihood(X, [0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0],
                                         "spherical"))


def test_m_step_with_hard_assignments_is_per_cluster_fit():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 2))
    labels = np.repeat([0, 1, 2], 30)
    resp = np.eye(3)[labels]
    weights, means, covariances = em.m_step(X, resp, "full")
    np.testing.assert_allclose(weights, [1 / 3] * 3)
    for k in range(3):
        mean_k, cov_k = gaussian.fit_gaussian(X[labels == k])
        np.testing.assert_allclose(means[k], mean_k, rtol=1e-12)
        np.testing.assert_allclose(covariances[k], cov_k, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_functions_reproduce_the_estimator(covariance_type):
    """e_step + m_step from the estimator's initialisation give its parameters, step by step."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3)) + np.repeat(rng.normal(scale=2, size=(3, 3)), 100, axis=0)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0,
                  record_history=True, tol=0.0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(**params).fit(X)
    h = gm.history_
    weights, means, covariances = h[0]["weights"], h[0]["means"], h[0]["covariances"]
    for t in range(5):
        total = em.log_likelihood(X, weights, means, covariances, covariance_type)
        np.testing.assert_allclose(total / len(X), gm.lower_bounds_[t], rtol=1e-10)
        resp = em.e_step(X, weights, means, covariances, covariance_type)
        weights, means, covariances = em.m_step(X, resp, covariance_type, reg_covar=1e-6)
        np.testing.assert_allclose(weights, h[t + 1]["weights"], rtol=1e-10)
        np.testing.assert_allclose(means, h[t + 1]["means"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(covariances, h[t + 1]["covariances"], rtol=1e-10,
                                   atol=1e-12)
    np.testing.assert_allclose(gm.covariances_, covariances, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gm.predict_proba(X),
                               em.e_step(X, weights, means, covariances, covariance_type),
                               rtol=1e-8, atol=1e-12)


def test_em_rejects_bad_input():
    with pytest.raises(ValueError, match="covariance_type"):
        em.log_component_densities(np.zeros((2, 2)), np.zeros((1, 2)), np.eye(2), "round")
    with pytest.raises(ValueError, match="2-D"):
        em.e_step(np.zeros(4), [1.0], [[0.0]], [1.0], "spherical")
    with pytest.raises(ValueError, match="reg_covar"):
        em.log_component_densities(np.zeros((2, 2)), np.zeros((1, 2)), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="resp"):
        em.m_step(np.zeros((4, 2)), np.ones((3, 2)))
