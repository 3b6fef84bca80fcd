"""The self-checks of the chapter on Bayesian mixtures accept right answers and explain
typical wrong ones."""

import numpy as np
import pytest
from scipy.special import digamma

from gmmlib import bayesian
from gmmlib.checks import (
    SelfCheckError,
    check_dirichlet_expected_log_weights,
    check_map_covariances,
    check_stick_breaking_expected_log_weights,
)

# --- Dirichlet ----------------------------------------------------------------------------------


def dirichlet_log_weights(alpha):
    return digamma(alpha) - digamma(np.sum(alpha))


@pytest.mark.parametrize("func", [
    dirichlet_log_weights,
    lambda alpha: bayesian.expected_log_weights(alpha, "dirichlet_distribution"),
], ids=["by-hand", "gmmlib"])
def test_dirichlet_accepts_correct(func, capsys):
    check_dirichlet_expected_log_weights(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("wrong, message", [
    (lambda a: np.log(a / a.sum()), "expected LOG weight"),
    (lambda a: digamma(a), "digamma.*alone"),
    (lambda a: digamma(a) - np.log(a.sum()), "should subtract digamma"),
    (lambda a: dirichlet_log_weights(a) + 0.1, "not right"),
    (lambda a: dirichlet_log_weights(a)[:-1], "shape"),
])
def test_dirichlet_explains_mistakes(wrong, message):
    with pytest.raises(SelfCheckError, match=message):
        check_dirichlet_expected_log_weights(wrong)


def test_dirichlet_template():
    def template(alpha):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_dirichlet_expected_log_weights(template)


# --- stick-breaking -----------------------------------------------------------------------------


def stick(a, b):
    take = digamma(a) - digamma(a + b)
    leave = digamma(b) - digamma(a + b)
    return take + np.concatenate(([0.0], np.cumsum(leave)[:-1]))


@pytest.mark.parametrize("func", [
    stick, lambda a, b: bayesian.expected_log_weights((a, b), "dirichlet_process"),
], ids=["by-hand", "gmmlib"])
def test_stick_accepts_correct(func, capsys):
    check_stick_breaking_expected_log_weights(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_stick_explains_mistakes():
    def take_only(a, b):
        return digamma(a) - digamma(a + b)

    def inclusive(a, b):
        return take_only(a, b) + np.cumsum(digamma(b) - digamma(a + b))

    def logs_of_means(a, b):
        v = a / (a + b)
        return np.log(v) + np.concatenate(([0.0], np.cumsum(np.log(1 - v))[:-1]))

    def wrong_fraction(a, b):
        take = take_only(a, b)
        return take + np.concatenate(([0.0], np.cumsum(take)[:-1]))

    for func, message in [(take_only, "E\\[log v_k\\] only"), (inclusive, "shift the running"),
                          (logs_of_means, "expected LOGS"), (wrong_fraction, "1 - v_j")]:
        with pytest.raises(SelfCheckError, match=message):
            check_stick_breaking_expected_log_weights(func)


# --- MAP covariances ----------------------------------------------------------------------------


def map_cov(nk, scatter, psi, nu):
    D = psi.shape[0]
    return (psi + nk[:, None, None] * scatter) / (nu + nk + D + 1)[:, None, None]


@pytest.mark.parametrize("func", [map_cov, bayesian.map_covariances], ids=["by-hand", "gmmlib"])
def test_map_accepts_correct(func, capsys):
    check_map_covariances(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("wrong, message", [
    (lambda nk, S, psi, nu: (psi + nk[:, None, None] * S) / (nu + nk)[:, None, None],
     "nu_0 \\+ N_k \\+ D \\+ 1"),
    (lambda nk, S, psi, nu: (psi + nk[:, None, None] * S)
     / (nu + nk - psi.shape[0] - 1)[:, None, None], "posterior MEAN"),
    (lambda nk, S, psi, nu: S + psi, "like reg_covar"),
    (lambda nk, S, psi, nu: (psi + S) / (nu + nk + psi.shape[0] + 1)[:, None, None],
     "multiply S_k by N_k"),
    (lambda nk, S, psi, nu: map_cov(nk, S, psi, nu)[0], "shape"),
])
def test_map_explains_mistakes(wrong, message):
    with pytest.raises(SelfCheckError, match=message):
        check_map_covariances(wrong)


# --- MAP-EM itself --------------------------------------------------------------------------------


def test_map_em_increases_the_log_posterior_and_survives_duplicates():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(5, 1, (60, 2)), np.tile([2.5, 6.0], (5, 1))])
    result = bayesian.map_em(X, 3, max_iter=300, tol=0.0)
    steps = np.diff(result.log_posteriors)
    assert np.all(steps >= -1e-12 * np.abs(result.log_posteriors[1:]))
    assert np.all(np.linalg.eigvalsh(result.covariances) > 1e-3)


def test_map_em_one_step_is_em_with_the_map_covariance():
    from gmmlib import em

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    first = bayesian.map_em(X, 2, max_iter=1)
    second = bayesian.map_em(X, 2, max_iter=2)
    resp = em.e_step(X, first.weights, first.means, first.covariances)
    weights, means, scatter = em.m_step(X, resp)
    psi, nu = bayesian.default_map_prior(X, 2)
    np.testing.assert_allclose(second.weights, weights, rtol=1e-12)
    np.testing.assert_allclose(second.means, means, rtol=1e-12)
    np.testing.assert_allclose(second.covariances,
                               map_cov(weights * len(X), scatter, psi, nu), rtol=1e-12)


def test_map_em_rejects_too_few_degrees_of_freedom():
    with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
        bayesian.map_em(np.random.default_rng(0).normal(size=(20, 3)), 2,
                        degrees_of_freedom_prior=1.5)
