"""The chapter 4 self-checks accept correct answers and reject typical wrong ones."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from gmmlib.checks import SelfCheckError, check_e_step, check_m_step


# ---------------------------------------------------------------------------------------------
# check_e_step
# ---------------------------------------------------------------------------------------------

def _log_joint(X, weights, means, covariances):
    return np.log(weights) + np.stack(
        [stats.multivariate_normal(m, c).logpdf(X).reshape(len(X))
         for m, c in zip(means, covariances)], axis=1)


def e_step(X, weights, means, covariances):
    log_joint = _log_joint(X, weights, means, covariances)
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def e_step_naive(X, weights, means, covariances):
    joint = np.exp(_log_joint(X, weights, means, covariances))
    return joint / joint.sum(axis=1, keepdims=True)


def test_e_step_accepts_correct(capsys):
    check_e_step(e_step)
    assert capsys.readouterr().out.startswith("Correct!")


def test_e_step_accepts_hand_written_max_shift(capsys):
    def e_step_by_hand(X, weights, means, covariances):
        log_joint = _log_joint(X, weights, means, covariances)
        shifted = log_joint - log_joint.max(axis=1, keepdims=True)
        resp = np.exp(shifted)
        return resp / resp.sum(axis=1, keepdims=True)

    check_e_step(e_step_by_hand)
    assert "Correct!" in capsys.readouterr().out


def test_e_step_rejects_naive_underflow():
    with pytest.raises(SelfCheckError, match="underflows.*log-sum-exp trick"):
        check_e_step(e_step_naive)


def test_e_step_rejects_unnormalised():
    def unnormalised(X, weights, means, covariances):
        return np.exp(_log_joint(X, weights, means, covariances))

    with pytest.raises(SelfCheckError, match="not normalised.*Divide each row by its sum"):
        check_e_step(unnormalised)


def test_e_step_rejects_forgotten_weights():
    def no_weights(X, weights, means, covariances):
        return e_step(X, np.full(len(weights), 1.0 / len(weights)), means, covariances)

    with pytest.raises(SelfCheckError, match="forgot the weights"):
        check_e_step(no_weights)


def test_e_step_rejects_log_responsibilities():
    def log_resp(X, weights, means, covariances):
        log_joint = _log_joint(X, weights, means, covariances)
        return log_joint - logsumexp(log_joint, axis=1, keepdims=True)

    with pytest.raises(SelfCheckError, match="log-responsibilities.*np.exp"):
        check_e_step(log_resp)


def test_e_step_rejects_wrong_axis_and_transpose():
    def columns(X, weights, means, covariances):
        joint = np.exp(_log_joint(X, weights, means, covariances))
        return joint / joint.sum(axis=0, keepdims=True)

    with pytest.raises(SelfCheckError, match="wrong axis"):
        check_e_step(columns)
    with pytest.raises(SelfCheckError, match="transposed"):
        check_e_step(lambda *args: e_step(*args).T)


def test_e_step_template_is_not_implemented():
    def template(X, weights, means, covariances):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_e_step(template)


# ---------------------------------------------------------------------------------------------
# check_m_step
# ---------------------------------------------------------------------------------------------

def _m_step(X, resp, *, count="Nk", weight_norm=True, centre="new"):
    N = len(X)
    Nk = resp.sum(axis=0)
    weights = Nk / N if weight_norm else Nk
    means = resp.T @ X / Nk[:, None]
    covariances = []
    for k in range(resp.shape[1]):
        c = {"new": means[k], "overall": X.mean(axis=0), "zero": 0.0,
             "other": means[(k + 1) % len(means)]}[centre]
        diff = X - c
        scatter = (resp[:, k] * diff.T) @ diff
        covariances.append(scatter / {"Nk": Nk[k], "none": 1.0, "N": N}[count])
    return weights, means, np.array(covariances)


def test_m_step_accepts_correct(capsys):
    check_m_step(_m_step)
    assert capsys.readouterr().out.startswith("Correct!")


def test_m_step_accepts_lists_and_tuples(capsys):
    check_m_step(lambda X, resp: [a.tolist() for a in _m_step(X, resp)])
    assert "Correct!" in capsys.readouterr().out


def test_m_step_rejects_covariance_not_divided_by_Nk():
    with pytest.raises(SelfCheckError, match="not divided by N_k"):
        check_m_step(lambda X, resp: _m_step(X, resp, count="none"))
    with pytest.raises(SelfCheckError, match="divided by N, the number of points"):
        check_m_step(lambda X, resp: _m_step(X, resp, count="N"))


def test_m_step_rejects_unnormalised_weights():
    with pytest.raises(SelfCheckError, match="add up to N.*Divide by N"):
        check_m_step(lambda X, resp: _m_step(X, resp, weight_norm=False))


def test_m_step_rejects_wrong_centre():
    with pytest.raises(SelfCheckError, match="centred on the wrong mean: the overall mean"):
        check_m_step(lambda X, resp: _m_step(X, resp, centre="overall"))
    with pytest.raises(SelfCheckError, match="not centred"):
        check_m_step(lambda X, resp: _m_step(X, resp, centre="zero"))
    with pytest.raises(SelfCheckError, match="another component's mean"):
        check_m_step(lambda X, resp: _m_step(X, resp, centre="other"))


def test_m_step_rejects_means_divided_by_N_and_wrong_return():
    def means_by_N(X, resp):
        weights, means, covariances = _m_step(X, resp)
        return weights, means * resp.sum(axis=0)[:, None] / len(X), covariances

    with pytest.raises(SelfCheckError, match="means are divided by N"):
        check_m_step(means_by_N)
    with pytest.raises(SelfCheckError, match="return three things"):
        check_m_step(lambda X, resp: _m_step(X, resp)[:2])
