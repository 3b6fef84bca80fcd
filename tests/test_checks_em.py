"""The chapter 4 self-checks (an EM loop with its stopping rule; the E- and M-step of a Bernoulli
mixture) accept correct answers and reject typical wrong ones."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp, xlog1py, xlogy
from sklearn.exceptions import ConvergenceWarning

from gmmlib import GaussianMixture, em
from gmmlib.checks import (
    SelfCheckError,
    check_bernoulli_e_step,
    check_bernoulli_m_step,
    check_run_em,
)

# ---------------------------------------------------------------------------------------------
# check_run_em
# ---------------------------------------------------------------------------------------------


def run_em(X, weights, means, covariances, tol, max_iter, *, rule="per_sample", after=False,
           stale=False, previous_start=-np.inf, converged_flag=None):
    """The EM loop of the exercise, with optional typical mistakes built in."""
    N = len(X)
    log_liks, previous, converged = [], previous_start, False
    for _ in range(max_iter):
        before = weights, means, covariances
        resp = em.e_step(X, weights, means, covariances)
        current = em.log_likelihood(X, weights, means, covariances) / N
        weights, means, covariances = em.m_step(X, resp)
        if after:
            current = em.log_likelihood(X, weights, means, covariances) / N
        log_liks.append(current)
        change = current - previous
        if {"per_sample": abs(change) < tol, "total": abs(change) * N < tol,
                "relative": abs(change) < tol * abs(current), "no_abs": change < tol, "never": False}[rule]:
            converged = True
            break
        previous = current
    if stale:
        weights, means, covariances = before
    if converged_flag is not None:
        converged = converged_flag
    return weights, means, covariances, log_liks, converged


def run_em_with_gmmlib(X, weights, means, covariances, tol, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(len(weights), weights_init=weights, means_init=means,
                             precisions_init=np.linalg.inv(covariances), tol=tol,
                             max_iter=max_iter, reg_covar=0).fit(X)
    return gm.weights_, gm.means_, gm.covariances_, gm.lower_bounds_, gm.converged_


@pytest.mark.parametrize("func", [run_em, run_em_with_gmmlib])
def test_run_em_accepts_right_answers(func, capsys):
    check_run_em(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("kwargs, message", [
    ({"rule": "total"}, "TOTAL log-likelihood"),
    ({"rule": "relative"}, "RELATIVE change"),
    ({"rule": "never"}, "all max_iter iterations"),
    ({"after": True}, "after each M-step"),
    ({"stale": True}, "BEFORE the last M-step"),
    ({"rule": "no_abs", "previous_start": 0.0}, "stopped after the first iteration"),
    ({"converged_flag": True}, "converged=True"),
])
def test_run_em_rejects_typical_mistakes(kwargs, message):
    with pytest.raises(SelfCheckError, match=message):
        check_run_em(lambda *args: run_em(*args, **kwargs))


def test_run_em_rejects_totals_extra_entry_and_wrong_return():
    def totals(X, *args):
        *params, log_liks, converged = run_em(X, *args)
        return (*params, np.array(log_liks) * len(X), converged)

    def extra_entry(X, *args):
        *params, log_liks, converged = run_em(X, *args)
        return (*params, [*log_liks, em.log_likelihood(X, *params) / len(X)], converged)

    with pytest.raises(SelfCheckError, match="are totals"):
        check_run_em(totals)
    with pytest.raises(SelfCheckError, match="one entry too many"):
        check_run_em(extra_entry)
    with pytest.raises(SelfCheckError, match="should return 5 things"):
        check_run_em(lambda *args: run_em(*args)[:3])


def test_run_em_template_is_not_implemented():
    def template(X, weights, means, covariances, tol, max_iter):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_run_em(template)


# ---------------------------------------------------------------------------------------------
# check_bernoulli_e_step and check_bernoulli_m_step
# ---------------------------------------------------------------------------------------------

def _log_joint(X, weights, probs):
    return np.log(weights) + (xlogy(X[:, None, :], probs) + xlog1py(1 - X[:, None, :], -probs)).sum(2)


def bernoulli_e_step(X, weights, probs):
    a = _log_joint(X, weights, probs)
    return np.exp(a - logsumexp(a, axis=1, keepdims=True))


def bernoulli_e_step_matmul(X, weights, probs):
    """Matrix products with logs clipped away from -inf: also right."""
    log_p, log_q = np.log(np.clip(probs, 1e-300, 1)), np.log(np.clip(1 - probs, 1e-300, 1))
    a = np.log(weights) + X @ log_p.T + (1 - X) @ log_q.T
    return np.exp(a - logsumexp(a, axis=1, keepdims=True))


def bernoulli_e_step_naive(X, weights, probs):
    joint = weights * np.prod(probs[None] ** X[:, None, :] * (1 - probs[None]) ** (1 - X[:, None, :]),
                              axis=2)
    return joint / joint.sum(axis=1, keepdims=True)


def bernoulli_e_step_nan_at_zero(X, weights, probs):
    a = np.log(weights) + X @ np.log(probs).T + (1 - X) @ np.log(1 - probs).T
    return np.exp(a - logsumexp(a, axis=1, keepdims=True))


@pytest.mark.parametrize("func", [bernoulli_e_step, bernoulli_e_step_matmul])
def test_bernoulli_e_step_accepts_right_answers(func, capsys):
    check_bernoulli_e_step(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("func, message", [
    (bernoulli_e_step_naive, "2,000 features.*log-sum-exp"),
    (bernoulli_e_step_nan_at_zero, "xlogy"),
    (lambda X, w, p: bernoulli_e_step(X, np.full(len(w), 1 / len(w)), p), "forgot the weights"),
    (lambda X, w, p: bernoulli_e_step(1 - X, w, p), "swapped"),
    (lambda X, w, p: np.exp(_log_joint(X, w, p)), "not normalised"),
    (lambda X, w, p: np.log(bernoulli_e_step(X, w, p)), "log-responsibilities"),
    (lambda X, w, p: bernoulli_e_step(X, w, p).T, "transposed"),
])
def test_bernoulli_e_step_rejects_typical_mistakes(func, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the wrong versions divide 0 by 0
        with pytest.raises(SelfCheckError, match=message):
            check_bernoulli_e_step(func)


def bernoulli_m_step(X, resp, *, weights_as_counts=False, divide_by="Nk"):
    Nk = resp.sum(axis=0)
    probs = resp.T @ X / {"Nk": Nk[:, None], "N": len(X), "none": 1.0}[divide_by]
    return (Nk if weights_as_counts else Nk / len(X)), probs


def test_bernoulli_m_step_accepts_right_answer(capsys):
    check_bernoulli_m_step(bernoulli_m_step)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize("func, message", [
    (lambda X, r: bernoulli_m_step(X, r, weights_as_counts=True), "effective counts"),
    (lambda X, r: bernoulli_m_step(X, r, divide_by="N"), "divided by N"),
    (lambda X, r: bernoulli_m_step(X, r, divide_by="none"), "weighted counts"),
    (lambda X, r: (r.mean(axis=0), np.tile(X.mean(axis=0), (r.shape[1], 1))), "overall fraction"),
    (lambda X, r: bernoulli_m_step(X, r)[1], "should return 2 things"),
])
def test_bernoulli_m_step_rejects_typical_mistakes(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_bernoulli_m_step(func)
