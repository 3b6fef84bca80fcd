"""The chapter 6 self-checks accept correct answers and reject typical wrong ones."""

import numpy as np
import pytest

from gmmlib.checks import (
    SelfCheckError,
    check_diag_covariances,
    check_n_free_parameters,
    check_tied_covariance,
)
from gmmlib.em import m_step
from gmmlib.model_selection import n_parameters

# ---------------------------------------------------------------------------------------------
# check_n_free_parameters
# ---------------------------------------------------------------------------------------------


def _count(K, D, covariance_type, *, weights=None, symmetric=True, tied_per_component=False):
    """A parameter count with optional typical mistakes built in."""
    weights = K - 1 if weights is None else weights
    per_matrix = D * (D + 1) // 2 if symmetric else D * D
    covariance = {
        "full": K * per_matrix,
        "tied": (K if tied_per_component else 1) * per_matrix,
        "diag": K * D,
        "spherical": K,
    }[covariance_type]
    return weights + K * D + covariance


def test_n_free_parameters_accepts_correct(capsys):
    check_n_free_parameters(lambda K, D, t: _count(K, D, t))
    assert capsys.readouterr().out.startswith("Correct!")


def test_n_free_parameters_accepts_gmmlib_and_float_counts(capsys):
    check_n_free_parameters(n_parameters)
    check_n_free_parameters(lambda K, D, t: float(_count(K, D, t)))
    assert capsys.readouterr().out.count("Correct!") == 2


def test_n_free_parameters_rejects_k_weights():
    with pytest.raises(SelfCheckError, match="counted K free weights.*only K - 1"):
        check_n_free_parameters(lambda K, D, t: _count(K, D, t, weights=K))


def test_n_free_parameters_rejects_d_squared():
    with pytest.raises(SelfCheckError, match="'full'.*all D\\^2 entries.*symmetric"):
        check_n_free_parameters(lambda K, D, t: _count(K, D, t, symmetric=False))


def test_n_free_parameters_rejects_tied_per_component():
    with pytest.raises(SelfCheckError, match="'tied'.*one covariance matrix per component.*ONE"):
        check_n_free_parameters(lambda K, D, t: _count(K, D, t, tied_per_component=True))


def test_n_free_parameters_reports_combined_mistakes():
    with pytest.raises(SelfCheckError, match="K free weights.*; and .*D\\^2 entries"):
        check_n_free_parameters(lambda K, D, t: _count(K, D, t, weights=K, symmetric=False))


def test_n_free_parameters_rejects_spherical_per_feature():
    def wrong(K, D, t):
        return _count(K, D, "diag") if t == "spherical" else _count(K, D, t)

    with pytest.raises(SelfCheckError, match="'spherical'.*single variance per component"):
        check_n_free_parameters(wrong)


def test_n_free_parameters_rejects_unrecognised_and_non_numbers():
    with pytest.raises(SelfCheckError, match="Count the three parts separately"):
        check_n_free_parameters(lambda K, D, t: _count(K, D, t) + 7)
    with pytest.raises(SelfCheckError, match="should return one whole number"):
        check_n_free_parameters(lambda K, D, t: [_count(K, D, t)])
    with pytest.raises(SelfCheckError, match="not implemented yet"):
        def template(K, D, t):
            raise NotImplementedError
        check_n_free_parameters(template)


# ---------------------------------------------------------------------------------------------
# check_diag_covariances
# ---------------------------------------------------------------------------------------------


def diag_covariances(X, resp, means):
    Nk = resp.sum(axis=0)
    return np.stack([resp[:, k] @ (X - means[k]) ** 2 for k in range(len(means))]) / Nk[:, None]


def test_diag_accepts_correct_and_gmmlib(capsys):
    check_diag_covariances(diag_covariances)
    check_diag_covariances(lambda X, resp, means: m_step(X, resp, "diag")[2])
    assert capsys.readouterr().out.count("Correct!") == 2


def test_diag_rejects_not_divided_by_nk():
    def wrong(X, resp, means):
        return diag_covariances(X, resp, means) * resp.sum(axis=0)[:, None]

    with pytest.raises(SelfCheckError, match="not divided by N_k"):
        check_diag_covariances(wrong)


def test_diag_rejects_divided_by_n():
    def wrong(X, resp, means):
        return diag_covariances(X, resp, means) * resp.sum(axis=0)[:, None] / len(X)

    with pytest.raises(SelfCheckError, match="divided by N, the number of points"):
        check_diag_covariances(wrong)


def test_diag_rejects_wrong_mean():
    def overall_mean(X, resp, means):
        return diag_covariances(X, resp, np.broadcast_to(X.mean(axis=0), means.shape))

    def not_centred(X, resp, means):
        return diag_covariances(X, resp, np.zeros_like(means))

    with pytest.raises(SelfCheckError, match="centred on the overall mean"):
        check_diag_covariances(overall_mean)
    with pytest.raises(SelfCheckError, match="not centred"):
        check_diag_covariances(not_centred)


def test_diag_rejects_wrong_shapes():
    def full(X, resp, means):
        return m_step(X, resp, "full")[2]

    def transposed(X, resp, means):
        return diag_covariances(X, resp, means).T

    with pytest.raises(SelfCheckError, match="full covariance matrices"):
        check_diag_covariances(full)
    with pytest.raises(SelfCheckError, match="should have shape"):
        check_diag_covariances(transposed)


def test_diag_rejects_standard_deviations():
    def stds(X, resp, means):
        return np.sqrt(diag_covariances(X, resp, means))

    with pytest.raises(SelfCheckError, match="square root"):
        check_diag_covariances(stds)


# ---------------------------------------------------------------------------------------------
# check_tied_covariance
# ---------------------------------------------------------------------------------------------


def _per_component(X, resp, means):
    Nk = resp.sum(axis=0)
    return np.stack([(resp[:, k] * (X - m).T) @ (X - m) / Nk[k] for k, m in enumerate(means)])


def tied_covariance(X, resp, means):
    weights = resp.sum(axis=0) / len(X)
    return np.einsum("k,kij->ij", weights, _per_component(X, resp, means))


def test_tied_accepts_correct_and_gmmlib(capsys):
    check_tied_covariance(tied_covariance)
    check_tied_covariance(lambda X, resp, means: m_step(X, resp, "tied")[2])
    assert capsys.readouterr().out.count("Correct!") == 2


def test_tied_rejects_unweighted_average():
    with pytest.raises(SelfCheckError, match="equal weights 1/K"):
        check_tied_covariance(lambda X, resp, means: _per_component(X, resp, means).mean(axis=0))


def test_tied_rejects_per_component_matrices():
    with pytest.raises(SelfCheckError, match="one matrix per component"):
        check_tied_covariance(_per_component)


def test_tied_rejects_not_divided_and_overall_covariance():
    def not_divided(X, resp, means):
        return tied_covariance(X, resp, means) * len(X)

    with pytest.raises(SelfCheckError, match="not divided by N"):
        check_tied_covariance(not_divided)
    with pytest.raises(SelfCheckError, match="covariance of all of X"):
        check_tied_covariance(lambda X, resp, means: np.cov(X.T, bias=True))
