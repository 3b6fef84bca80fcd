"""The chapter 1 self-checks accept a correct answer and reject typical wrong ones."""

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import solve_triangular

import gmmlib
from gmmlib.checks import (
    SelfCheckError,
    check_ellipse_coverage,
    check_fit_spherical,
    check_log_pdf,
    check_mahalanobis,
)


def _whiten(X, mean, covariance):
    L = np.linalg.cholesky(covariance)
    return solve_triangular(L, (np.asarray(X) - mean).T, lower=True), L


# ---------------------------------------------------------------------------------------------
# check_log_pdf
# ---------------------------------------------------------------------------------------------
def log_pdf_correct(X, mean, covariance):
    Z, L = _whiten(X, mean, covariance)
    D = X.shape[1]
    return -0.5 * (D * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + np.sum(Z**2, axis=0))


def log_pdf_no_half_on_log_det(X, mean, covariance):
    Z, L = _whiten(X, mean, covariance)
    D = X.shape[1]
    log_det = 2 * np.sum(np.log(np.diag(L)))
    return -0.5 * (D * np.log(2 * np.pi) + np.sum(Z**2, axis=0)) - log_det


def log_pdf_log_det_missing_factor_two(X, mean, covariance):
    Z, L = _whiten(X, mean, covariance)
    D = X.shape[1]
    return -0.5 * (D * np.log(2 * np.pi) + np.sum(np.log(np.diag(L))) + np.sum(Z**2, axis=0))


def log_pdf_covariance_not_inverse(X, mean, covariance):
    diff = X - mean
    D = X.shape[1]
    quad = np.einsum("nd,de,ne->n", diff, covariance, diff)
    return -0.5 * (D * np.log(2 * np.pi) + np.linalg.slogdet(covariance)[1] + quad)


def log_pdf_returns_density(X, mean, covariance):
    return np.exp(log_pdf_correct(X, mean, covariance))


def log_pdf_column(X, mean, covariance):
    return log_pdf_correct(X, mean, covariance)[:, None]


def log_pdf_summed(X, mean, covariance):
    return log_pdf_correct(X, mean, covariance).sum()


def log_pdf_no_2pi(X, mean, covariance):
    Z, L = _whiten(X, mean, covariance)
    return -0.5 * (2 * np.sum(np.log(np.diag(L))) + np.sum(Z**2, axis=0))


def log_pdf_euclidean(X, mean, covariance):
    D = X.shape[1]
    return -0.5 * (D * np.log(2 * np.pi) + np.linalg.slogdet(covariance)[1]
                   + np.sum((X - mean) ** 2, axis=1))


def log_pdf_template(X, mean, covariance):
    raise NotImplementedError


def test_check_log_pdf_accepts_correct(capsys):
    check_log_pdf(log_pdf_correct)
    assert capsys.readouterr().out.startswith("Correct!")


def test_check_log_pdf_accepts_gmmlib_and_scipy(capsys):
    check_log_pdf(gmmlib.gaussian.log_pdf)
    check_log_pdf(lambda X, m, S: stats.multivariate_normal(m, S).logpdf(X).reshape(len(X)))
    assert capsys.readouterr().out.count("Correct!") == 2


@pytest.mark.parametrize(
    "func, match",
    [
        (log_pdf_no_half_on_log_det, r"forgot the 1/2"),
        (log_pdf_log_det_missing_factor_two, r"log-determinant term is off by a factor of 2"),
        (log_pdf_covariance_not_inverse, r"used the covariance Sigma .* where its inverse belongs"),
        (log_pdf_returns_density, r"returned the density p\(x\), not its logarithm"),
        (log_pdf_column, r"shape \(\d+, 1\).*should have shape \(\d+,\)"),
        (log_pdf_summed, r"returned a single number"),
        (log_pdf_no_2pi, r"-D/2 log\(2 pi\)"),
        (log_pdf_euclidean, r"squared Euclidean distance"),
        (log_pdf_template, r"not implemented yet"),
    ],
)
def test_check_log_pdf_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_log_pdf(func)


def test_check_log_pdf_reports_reader_errors():
    def broken(X, mean, covariance):
        return np.linalg.cholesky(X)  # X is not square

    with pytest.raises(SelfCheckError, match="stopped with an error"):
        check_log_pdf(broken)


# ---------------------------------------------------------------------------------------------
# check_mahalanobis
# ---------------------------------------------------------------------------------------------
def mahalanobis_correct(X, mean, covariance):
    Z, _ = _whiten(X, mean, covariance)
    return np.sqrt(np.sum(Z**2, axis=0))


def mahalanobis_squared(X, mean, covariance):
    return mahalanobis_correct(X, mean, covariance) ** 2


def mahalanobis_covariance_not_inverse(X, mean, covariance):
    diff = X - mean
    return np.sqrt(np.einsum("nd,de,ne->n", diff, covariance, diff))


def mahalanobis_euclidean(X, mean, covariance):
    return np.linalg.norm(X - mean, axis=1)


def mahalanobis_transposed_solve(X, mean, covariance):
    L = np.linalg.cholesky(covariance)
    return np.linalg.norm((X - mean) @ np.linalg.inv(L), axis=1)


def mahalanobis_wrong_axis(X, mean, covariance):
    Z, _ = _whiten(X, mean, covariance)
    return np.sqrt(np.sum(Z**2, axis=1))


def test_check_mahalanobis_accepts_correct(capsys):
    check_mahalanobis(mahalanobis_correct)
    assert capsys.readouterr().out.startswith("Correct!")
    check_mahalanobis(gmmlib.gaussian.mahalanobis)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, match",
    [
        (mahalanobis_squared, r"SQUARED Mahalanobis distance"),
        (mahalanobis_covariance_not_inverse, r"used the covariance Sigma where its inverse belongs"),
        (mahalanobis_euclidean, r"Euclidean distance"),
        (mahalanobis_transposed_solve, r"triangular solve is transposed"),
        (mahalanobis_wrong_axis, r"should have shape \(\d+,\)"),
    ],
)
def test_check_mahalanobis_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_mahalanobis(func)


# ---------------------------------------------------------------------------------------------
# check_fit_spherical
# ---------------------------------------------------------------------------------------------
def _centred(X):
    return X - X.mean(axis=0)


def fit_spherical_correct(X):
    return X.mean(axis=0), np.sum(_centred(X) ** 2) / X.size


def test_check_fit_spherical_accepts_correct(capsys):
    check_fit_spherical(fit_spherical_correct)
    check_fit_spherical(lambda X: (X.mean(axis=0), np.var(X, axis=0).mean()))  # the same thing
    assert capsys.readouterr().out.count("Correct!") == 2


@pytest.mark.parametrize(
    "func, match",
    [
        (lambda X: (X.mean(axis=0), np.sum(_centred(X) ** 2) / len(X)), r"D times too large"),
        (lambda X: (X.mean(axis=0), np.sum(_centred(X) ** 2) / (X.size - X.shape[1])),
         r"\(N - 1\) D"),
        (lambda X: (X.mean(axis=0), np.var(X, axis=0)), r"one variance per feature"),
        (lambda X: (X.mean(axis=0), np.var(X)), r"mean of ALL entries"),
        (lambda X: (X.mean(axis=0), np.sqrt(np.sum(_centred(X) ** 2) / X.size)),
         r"standard deviation"),
        (lambda X: (X.mean(), np.sum(_centred(X) ** 2) / X.size), r"shape \(\d,\)"),
        (lambda X: np.sum(_centred(X) ** 2) / X.size, r"return two things"),
    ],
)
def test_check_fit_spherical_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_fit_spherical(func)


# ---------------------------------------------------------------------------------------------
# check_ellipse_coverage
# ---------------------------------------------------------------------------------------------
def coverage_correct(X, n_std):
    mean, covariance = gmmlib.gaussian.fit_gaussian(X)
    return np.mean(gmmlib.gaussian.mahalanobis(X, mean, covariance) <= n_std)


def test_check_ellipse_coverage_accepts_correct(capsys):
    check_ellipse_coverage(coverage_correct)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, match",
    [
        (lambda X, k: len(X) * coverage_correct(X, k), r"number of points"),
        (lambda X, k: coverage_correct(X, np.sqrt(k)), r"SQUARED Mahalanobis distance"),
        (lambda X, k: np.mean(np.linalg.norm(X - X.mean(axis=0), axis=1) <= k), r"Euclidean"),
        (lambda X, k: np.mean(gmmlib.gaussian.mahalanobis(X, X.mean(axis=0), np.cov(X.T)) <= k),
         r"N - 1"),
        (lambda X, k: np.array([coverage_correct(X, k)]), r"array of shape \(1,\)"),
        (lambda X, k: np.mean(gmmlib.gaussian.mahalanobis(X, np.zeros(X.shape[1]),
                                                          np.eye(X.shape[1])) <= k),
         r"fraction is not right"),
    ],
)
def test_check_ellipse_coverage_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_ellipse_coverage(func)
