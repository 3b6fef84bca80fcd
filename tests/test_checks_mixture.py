"""The chapter 3 self-checks accept correct answers and reject typical wrong ones."""

import numpy as np
import pytest
from scipy import stats

from gmmlib.checks import SelfCheckError, check_responsibilities, check_sample_mixture


# ---------------------------------------------------------------------------------------------
# check_sample_mixture
# ---------------------------------------------------------------------------------------------

def _sample(weights, means, covariances, n_samples, rng, choose, factor):
    """An ancestral sampler whose component choice and covariance factor can be made wrong."""
    z = choose(weights, n_samples, rng)
    eps = rng.standard_normal((n_samples, means.shape[1]))
    factors = np.stack([factor(c) for c in covariances])
    X = means[z] + np.einsum("nij,nj->ni", factors[z], eps)
    return X, z


def _by_weight(weights, n_samples, rng):
    return rng.choice(len(weights), size=n_samples, p=weights)


def sample_mixture(weights, means, covariances, n_samples, rng):
    return _sample(weights, means, covariances, n_samples, rng, _by_weight, np.linalg.cholesky)


def test_sample_mixture_accepts_correct(capsys):
    check_sample_mixture(sample_mixture)
    assert capsys.readouterr().out.startswith("Correct!")


def test_sample_mixture_accepts_sorted_output_like_sklearn(capsys):
    def sorted_sampler(weights, means, covariances, n_samples, rng):
        X, z = sample_mixture(weights, means, covariances, n_samples, rng)
        order = np.argsort(z, kind="stable")
        return X[order], list(z[order])

    check_sample_mixture(sorted_sampler)
    assert "Correct!" in capsys.readouterr().out


def test_sample_mixture_rejects_uniform_choice():
    def uniform(weights, means, covariances, n_samples, rng):
        uniform_choice = lambda w, n, r: r.integers(len(w), size=n)  # noqa: E731
        return _sample(weights, means, covariances, n_samples, rng, uniform_choice,
                       np.linalg.cholesky)

    with pytest.raises(SelfCheckError, match="uniformly.*ignoring the weights"):
        check_sample_mixture(uniform)


def test_sample_mixture_rejects_one_component_for_all():
    def one_component(weights, means, covariances, n_samples, rng):
        k = rng.choice(len(weights), p=weights)
        L = np.linalg.cholesky(covariances[k])
        X = means[k] + rng.standard_normal((n_samples, means.shape[1])) @ L.T
        return X, np.full(n_samples, k)

    with pytest.raises(SelfCheckError, match="Every point came from one component"):
        check_sample_mixture(one_component)

    def one_label(weights, means, covariances, n_samples, rng):
        X, z = one_component(weights, means, covariances, n_samples, rng)
        return X, z[0]

    with pytest.raises(SelfCheckError, match="one component for the whole sample"):
        check_sample_mixture(one_label)


def test_sample_mixture_rejects_covariance_instead_of_cholesky():
    def with_covariance(weights, means, covariances, n_samples, rng):
        return _sample(weights, means, covariances, n_samples, rng, _by_weight, lambda c: c)

    with pytest.raises(SelfCheckError, match="Cholesky factor"):
        check_sample_mixture(with_covariance)


def test_sample_mixture_rejects_forgotten_factor_and_missing_labels():
    def no_factor(weights, means, covariances, n_samples, rng):
        return _sample(weights, means, covariances, n_samples, rng, _by_weight,
                       lambda c: np.eye(len(c)))

    with pytest.raises(SelfCheckError, match="identity covariance"):
        check_sample_mixture(no_factor)

    def only_points(weights, means, covariances, n_samples, rng):
        return sample_mixture(weights, means, covariances, n_samples, rng)[0]

    with pytest.raises(SelfCheckError, match="return X, z"):
        check_sample_mixture(only_points)


def test_sample_mixture_reports_missing_implementation():
    def template(weights, means, covariances, n_samples, rng):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented"):
        check_sample_mixture(template)


# ---------------------------------------------------------------------------------------------
# check_responsibilities
# ---------------------------------------------------------------------------------------------

def _weighted_densities(X, weights, means, covariances):
    return np.column_stack([
        w * stats.multivariate_normal(m, c).pdf(X).reshape(len(X))
        for w, m, c in zip(weights, means, covariances)
    ])


def responsibilities(X, weights, means, covariances):
    p = _weighted_densities(X, weights, means, covariances)
    return p / p.sum(axis=1, keepdims=True)


def test_responsibilities_accepts_correct(capsys):
    check_responsibilities(responsibilities)
    assert capsys.readouterr().out.startswith("Correct!")


def test_responsibilities_accepts_gmmlib_e_step(capsys):
    em = pytest.importorskip("gmmlib.em")
    if not hasattr(em, "e_step"):
        pytest.skip("gmmlib.em.e_step not available yet")
    check_responsibilities(em.e_step)
    assert "Correct!" in capsys.readouterr().out


def test_responsibilities_rejects_forgotten_weights():
    def no_weights(X, weights, means, covariances):
        return responsibilities(X, np.ones_like(weights), means, covariances)

    with pytest.raises(SelfCheckError, match="ignore the mixing weights"):
        check_responsibilities(no_weights)


def test_responsibilities_rejects_unnormalised():
    with pytest.raises(SelfCheckError, match="do not sum to 1.*without dividing"):
        check_responsibilities(_weighted_densities)


def test_responsibilities_rejects_wrong_axis():
    def wrong_axis(X, weights, means, covariances):
        p = _weighted_densities(X, weights, means, covariances)
        return p / p.sum(axis=0, keepdims=True)

    with pytest.raises(SelfCheckError, match="wrong axis"):
        check_responsibilities(wrong_axis)


def test_responsibilities_rejects_transposed_and_wrong_density():
    def transposed(X, weights, means, covariances):
        return responsibilities(X, weights, means, covariances).T

    with pytest.raises(SelfCheckError, match="transposed"):
        check_responsibilities(transposed)

    def diagonal_only(X, weights, means, covariances):
        diagonal = np.stack([np.diag(np.diag(c)) for c in covariances])
        return responsibilities(X, weights, means, diagonal)

    # In one dimension a diagonal covariance is the full one, so try until D > 1 is drawn.
    with pytest.raises(SelfCheckError, match="differ from Bayes' rule"):
        check_responsibilities(diagonal_only, n_trials=30)
