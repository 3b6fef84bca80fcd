"""The self-checks of chapter 9 (density estimation) accept right answers and explain typical
wrong ones."""

import doctest

import numpy as np
import pytest

import gmmlib.checks.density
from scipy.special import logsumexp

from gmmlib.checks import (
    SelfCheckError,
    check_kde_log_density,
    check_kde_loo_log_likelihood,
    check_log_density_grid,
)


def test_doctests():
    failures, _ = doctest.testmod(gmmlib.checks.density)
    assert failures == 0


# --- KDE log-density -------------------------------------------------------------------------


def _log_kernels(X_train, X_eval, bandwidth, variance=None, dims=None, half=0.5):
    variance = bandwidth**2 if variance is None else variance
    dims = X_train.shape[1] if dims is None else dims
    squared = ((X_eval[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2)
    return -half * squared / bandwidth**2 * (bandwidth**2 / variance) - dims / 2 * np.log(
        2 * np.pi * variance
    )


def kde_log_density(X_train, X_eval, bandwidth):
    return logsumexp(_log_kernels(X_train, X_eval, bandwidth), axis=1) - np.log(len(X_train))


def kde_from_scipy(X_train, X_eval, bandwidth):
    from scipy.stats import multivariate_normal

    covariance = bandwidth**2 * np.eye(X_train.shape[1])
    log_kernels = np.array([np.atleast_1d(multivariate_normal(x, covariance).logpdf(X_eval))
                            for x in X_train])
    return logsumexp(log_kernels, axis=0) - np.log(len(X_train))


@pytest.mark.parametrize("func", [kde_log_density, kde_from_scipy])
def test_kde_accepts_correct(func, capsys):
    check_kde_log_density(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_kde_rejects_underflow():
    def without_logsumexp(X_train, X_eval, bandwidth):
        with np.errstate(divide="ignore"):
            return np.log(np.exp(_log_kernels(X_train, X_eval, bandwidth)).mean(axis=1))

    with pytest.raises(SelfCheckError, match="log-sum-exp"):
        check_kde_log_density(without_logsumexp)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda X, E, h: np.exp(kde_log_density(X, E, h)), "DENSITY, not its logarithm"),
        (lambda X, E, h: kde_log_density(X, E, h) + np.log(len(X)), "divide by N"),
        (lambda X, E, h: logsumexp(_log_kernels(X, E, h, variance=h), axis=1) - np.log(len(X)),
         "VARIANCE"),
        (lambda X, E, h: logsumexp(_log_kernels(X, E, h, dims=1), axis=1) - np.log(len(X)),
         "ONE dimension"),
        (lambda X, E, h: logsumexp(_log_kernels(X, E, h, half=1.0), axis=1) - np.log(len(X)),
         "factor 1/2"),
        (lambda X, E, h: float(np.mean(kde_log_density(X, E, h))), "one number"),
        (lambda X, E, h: kde_log_density(X, E, h)[:-1], "should have shape"),
    ],
    ids=["density", "no-1/N", "h-as-variance", "1-D-constant", "no-half", "mean", "shape"],
)
def test_kde_rejects_typical_mistakes(wrong, message):
    def kde_log_density(X_train, X_eval, bandwidth):
        with np.errstate(all="ignore"):
            return wrong(X_train, X_eval, bandwidth)

    with pytest.raises(SelfCheckError, match=message):
        check_kde_log_density(kde_log_density)


# --- leave-one-out log-likelihood ---------------------------------------------------------------


def _loo_per_point(X, bandwidth, divide_by=None):
    log_kernel = _log_kernels(X, X, bandwidth)
    np.fill_diagonal(log_kernel, -np.inf)
    return logsumexp(log_kernel, axis=1) - np.log(len(X) - 1 if divide_by is None else divide_by)


def kde_loo_log_likelihood(X, bandwidth):
    return float(np.mean(_loo_per_point(X, bandwidth)))


def loo_one_point_at_a_time(X, bandwidth):
    """Each point scored by the N - 1 kernels of the others, one point at a time."""
    from scipy.stats import multivariate_normal

    covariance = bandwidth**2 * np.eye(X.shape[1])
    return np.mean([logsumexp(multivariate_normal(X[n], covariance).logpdf(np.delete(X, n, 0)))
                    - np.log(len(X) - 1) for n in range(len(X))])


@pytest.mark.parametrize("func", [kde_loo_log_likelihood, loo_one_point_at_a_time])
def test_loo_accepts_correct(func, capsys):
    check_kde_loo_log_likelihood(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda X, h: np.mean(kde_log_density(X, X, h)), "OWN kernel"),
        (lambda X, h: np.mean(_loo_per_point(X, h, divide_by=len(X))), "divides by N"),
        (lambda X, h: np.sum(_loo_per_point(X, h)), "TOTAL"),
        (lambda X, h: _loo_per_point(X, h), "their MEAN"),
        (lambda X, h: np.mean(_loo_per_point(X, 2 * h)), "mean leave-one-out log-likelihood"),
    ],
    ids=["with-self", "over-N", "total", "per-point", "other"],
)
def test_loo_rejects_typical_mistakes(wrong, message):
    with pytest.raises(SelfCheckError, match=message):
        check_kde_loo_log_likelihood(wrong)


(lambda X_train, X_test, k_values: 3)


# --- log-density grid ---------------------------------------------------------------------------


def log_density_grid(model, xx, yy):
    return model.score_samples(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)


def test_grid_accepts_correct(capsys):
    check_log_density_grid(log_density_grid)
    assert capsys.readouterr().out.startswith("Correct!")


def test_grid_rejects_transposed():
    with pytest.raises(SelfCheckError, match="looks transposed"):
        check_log_density_grid(lambda model, xx, yy: log_density_grid(model, xx, yy).T)


def test_grid_rejects_density():
    with pytest.raises(SelfCheckError, match="DENSITY p\\(x\\), not its logarithm"):
        check_log_density_grid(lambda model, xx, yy: np.exp(log_density_grid(model, xx, yy)))


def test_grid_rejects_swapped_and_misordered():
    def swapped(model, xx, yy):
        return model.score_samples(np.column_stack([yy.ravel(), xx.ravel()])).reshape(xx.shape)

    def misordered(model, xx, yy):
        points = np.column_stack([xx.ravel(order="F"), yy.ravel(order="F")])
        return model.score_samples(points).reshape(xx.shape)

    with pytest.raises(SelfCheckError, match=r"\(x_2, x_1\)"):
        check_log_density_grid(swapped)
    with pytest.raises(SelfCheckError, match="wrong places"):
        check_log_density_grid(misordered)


def test_grid_rejects_flat():
    with pytest.raises(SelfCheckError, match="should have shape"):
        check_log_density_grid(
            lambda model, xx, yy: model.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))
        )
