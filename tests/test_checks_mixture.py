"""The chapter 3 self-checks accept correct answers and reject typical wrong ones."""

import numpy as np
import pytest
from scipy import optimize, stats

from gmmlib.checks import (
    SelfCheckError,
    check_boundary_points,
    check_mixture_moments,
    check_sample_mixture,
)
from gmmlib.checks.mixture import boundary_reference, moments_reference


# ---------------------------------------------------------------------------------------------
# check_boundary_points
# ---------------------------------------------------------------------------------------------

def _coefficients(weights, means, sds, use_weights=True, use_scale=True):
    (w1, w2), (m1, m2), (s1, s2) = weights, means, sds
    a = 0.5 / s2**2 - 0.5 / s1**2
    b = m1 / s1**2 - m2 / s2**2
    c = 0.5 * m2**2 / s2**2 - 0.5 * m1**2 / s1**2
    c += np.log(w1 / w2) if use_weights else 0.0
    c += np.log(s2 / s1) if use_scale else 0.0
    return a, b, c


def boundary_by_formula(weights, means, sds, **kwargs):
    a, b, c = _coefficients(weights, means, sds, **kwargs)
    if np.isclose(a, 0):
        return np.array([-c / b])
    disc = b**2 - 4 * a * c
    if disc < 0:
        return np.array([])
    return np.sort((-b + np.array([-1, 1]) * np.sqrt(disc)) / (2 * a))


def boundary_by_root_finding(weights, means, sds):
    """An independent answer: bracket the sign changes of the log-ratio on a fine grid."""
    def log_ratio(x):
        return (np.log(weights[0]) + stats.norm.logpdf(x, means[0], sds[0])
                - np.log(weights[1]) - stats.norm.logpdf(x, means[1], sds[1]))

    grid = np.linspace(-60, 60, 240_001)
    values = log_ratio(grid)
    positive = values > 0
    changes = np.flatnonzero(positive[:-1] != positive[1:])
    return np.array([optimize.brentq(log_ratio, grid[i], grid[i + 1], xtol=1e-14) for i in changes])


def test_reference_agrees_with_root_finding():
    rng = np.random.default_rng(0)
    for _ in range(30):
        weights, means, sds = rng.dirichlet([3, 3]), rng.normal(scale=2, size=2), rng.uniform(0.3, 3, 2)
        expected = boundary_reference(weights, means, sds)
        np.testing.assert_allclose(expected[np.abs(expected) < 60],  # the root finder's range
                                   boundary_by_root_finding(weights, means, sds), atol=1e-8)


def test_check_boundary_points_accepts_correct(capsys):
    check_boundary_points(boundary_by_formula)
    check_boundary_points(boundary_by_root_finding)
    assert capsys.readouterr().out.count("Correct!") == 2


@pytest.mark.parametrize(
    "func, match",
    [
        (lambda w, m, s: boundary_by_formula(w, m, s, use_weights=False), r"ignore the weights"),
        (lambda w, m, s: boundary_by_formula(w, m, s, use_scale=False), r"normalising constants"),
        (lambda w, m, s: boundary_by_formula(w, m, s)[::-1], r"not sorted"),
        (lambda w, m, s: boundary_by_formula(w, m, s)[-1:], r"one crossing.*two"),
        # the quadratic formula without the equal-width case divides by zero
        (lambda w, m, s: np.sort((-_coefficients(w, m, s)[1] + np.array([-1.0, 1.0]) * np.sqrt(
            max(_coefficients(w, m, s)[1] ** 2 - 4 * _coefficients(w, m, s)[0]
                * _coefficients(w, m, s)[2], 0.0))) / (2 * _coefficients(w, m, s)[0])),
         r"NaN or infinite|linear"),
        (lambda w, m, s: np.array([(m[0] + m[1]) / 2]), r"not right|ignore the weights"),
        (lambda w, m, s: np.zeros((2, 2)), r"1-D array"),
    ],
)
def test_check_boundary_points_rejects_wrong(func, match):
    with np.errstate(divide="ignore", invalid="ignore"):
        with pytest.raises(SelfCheckError, match=match):
            check_boundary_points(func)


def test_check_boundary_points_wants_an_empty_array_when_one_component_never_wins():
    def never_empty(weights, means, sds):
        found = boundary_by_formula(weights, means, sds)
        return found if len(found) else np.array([means[0]])

    with pytest.raises(SelfCheckError, match="never the more responsible"):
        check_boundary_points(never_empty)


# ---------------------------------------------------------------------------------------------
# check_mixture_moments
# ---------------------------------------------------------------------------------------------

def moments_correct(weights, means, covariances):
    mean = weights @ means
    spread = means - mean
    covariance = np.einsum("k,kij->ij", weights, covariances) + (weights * spread.T) @ spread
    return mean, covariance


def test_moments_reference_agrees_with_a_large_sample():
    rng = np.random.default_rng(1)
    weights = np.array([0.2, 0.5, 0.3])
    means = np.array([[0.0, 0.0], [4.0, 1.0], [-2.0, 3.0]])
    covariances = np.array([np.eye(2), [[2.0, 0.5], [0.5, 1.0]], 0.3 * np.eye(2)])
    z = rng.choice(3, size=400_000, p=weights)
    X = means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(covariances)[z],
                             rng.standard_normal((z.size, 2)))
    mean, covariance = moments_reference(weights, means, covariances)
    np.testing.assert_allclose(X.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(X.T), covariance, atol=0.05)


def test_check_mixture_moments_accepts_correct(capsys):
    check_mixture_moments(moments_correct)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, match",
    [
        (lambda w, m, c: (m.mean(axis=0), moments_correct(w, m, c)[1]), r"plain average"),
        (lambda w, m, c: (w @ m, np.einsum("k,kij->ij", w, c)), r"only the weighted average"),
        (lambda w, m, c: (w @ m, moments_correct(w, m, c)[1] + np.outer(w @ m, w @ m)),
         r"second moment"),
        (lambda w, m, c: (w @ m, c.mean(axis=0) + np.cov(m.T, bias=True).reshape(m.shape[1], -1)),
         r"without their weights"),
        (lambda w, m, c: (w @ m, moments_correct(w, m, c)[1][0]), r"shape"),
        (lambda w, m, c: w @ m, r"two things"),
    ],
)
def test_check_mixture_moments_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_mixture_moments(func)


# ---------------------------------------------------------------------------------------------
# check_sample_mixture
# ---------------------------------------------------------------------------------------------

def _noise_scale(covariances, covariance_type, z, eps, transform=np.sqrt, transpose=False):
    if covariance_type == "full":
        factors = np.linalg.cholesky(covariances)[z]
        if transpose:
            factors = np.swapaxes(factors, 1, 2)
        return np.einsum("nij,nj->ni", factors, eps)
    if covariance_type == "tied":
        factor = np.linalg.cholesky(covariances)
        return eps @ (factor if transpose else factor.T)
    if covariance_type == "diag":
        return eps * transform(covariances)[z]
    return eps * transform(covariances)[z][:, None]


def sample_correct(weights, means, covariances, covariance_type, n_samples, rng, **kwargs):
    z = rng.choice(len(weights), size=n_samples, p=weights)
    eps = rng.standard_normal((n_samples, means.shape[1]))
    return means[z] + _noise_scale(covariances, covariance_type, z, eps, **kwargs), z


def test_check_sample_mixture_accepts_correct(capsys):
    check_sample_mixture(sample_correct)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, match",
    [
        (lambda w, m, c, t, n, rng: sample_correct(np.full(len(w), 1 / len(w)), m, c, t, n, rng),
         r"chosen uniformly"),
        (lambda w, m, c, t, n, rng: sample_correct(w, m, c, t, n, rng, transform=lambda v: v),
         r"SQUARED variances|Sigma @ Sigma"),
        (lambda w, m, c, t, n, rng: sample_correct(w, m, c, t, n, rng, transpose=True),
         r"L\^T L"),
        (lambda w, m, c, t, n, rng: (sample_correct(w, m, c, t, n, rng)[0],
                                     rng.permutation(sample_correct(w, m, c, t, n, rng)[1])),
         r"do not have mean|covariance"),
        (lambda w, m, c, t, n, rng: sample_correct(w, m, c, t, n, rng)[0], r"two things"),
    ],
)
def test_check_sample_mixture_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_sample_mixture(func)


def test_check_sample_mixture_reports_a_sampler_that_only_knows_full_covariances():
    def full_only(weights, means, covariances, covariance_type, n_samples, rng):
        z = rng.choice(len(weights), size=n_samples, p=weights)
        factors = np.linalg.cholesky(covariances)
        eps = rng.standard_normal((n_samples, means.shape[1]))
        return means[z] + np.einsum("nij,nj->ni", factors[z], eps), z

    with pytest.raises(SelfCheckError, match="tied|stopped with an error"):
        check_sample_mixture(full_only)
