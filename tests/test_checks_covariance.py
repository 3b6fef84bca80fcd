"""The chapter 6 self-checks (E-step and M-step for every covariance type) accept correct answers
and reject typical wrong ones."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from gmmlib import em
from gmmlib.checks import SelfCheckError, check_e_step, check_m_step

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# ---------------------------------------------------------------------------------------------
# check_m_step
# ---------------------------------------------------------------------------------------------


def m_step(X, resp, covariance_type, *, count="Nk", centre="new", tied="weighted", sqrt=False,
           spherical="mean"):
    """The M-step for every type, with optional typical mistakes built in."""
    N, D = X.shape
    Nk = resp.sum(axis=0)
    means = resp.T @ X / Nk[:, None]
    full = []
    for k in range(resp.shape[1]):
        c = {"new": means[k], "overall": X.mean(axis=0), "zero": 0.0}[centre]
        diff = X - c
        scatter = (resp[:, k] * diff.T) @ diff
        full.append(scatter / {"Nk": Nk[k], "none": 1.0, "N": N}[count])
    full = np.array(full)
    if covariance_type == "full":
        covariances = full
    elif covariance_type == "tied":
        covariances = {"weighted": np.tensordot(Nk / N, full, axes=1),
                       "equal": full.mean(axis=0), "sum": full.sum(axis=0)}[tied]
    elif covariance_type == "diag":
        covariances = np.diagonal(full, axis1=1, axis2=2).copy()
    else:
        variances = np.diagonal(full, axis1=1, axis2=2)
        covariances = variances.mean(axis=1) if spherical == "mean" else variances.sum(axis=1)
    if sqrt and covariance_type in ("diag", "spherical"):
        covariances = np.sqrt(covariances)
    return Nk / N, means, covariances


def test_m_step_accepts_correct_and_gmmlib(capsys):
    check_m_step(m_step)
    check_m_step(lambda X, resp, covariance_type: em.m_step(X, resp, covariance_type))
    assert capsys.readouterr().out.count("Correct!") == 2


def test_m_step_accepts_lists(capsys):
    check_m_step(lambda X, resp, ct: [np.asarray(a).tolist() for a in m_step(X, resp, ct)])
    assert "Correct!" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, message", [
    ({"count": "none"}, "not divided by the effective counts"),
    ({"count": "N"}, "divided by N, the number of points"),
    ({"centre": "overall"}, "centred on the overall mean"),
    ({"centre": "zero"}, "not centred"),
    ({"sqrt": True}, "standard deviations"),
    ({"spherical": "sum"}, "D times too large"),
    ({"tied": "equal"}, "equal weights"),
    ({"tied": "sum"}, "added up the K full covariances"),
])
def test_m_step_rejects_typical_mistakes(kwargs, message):
    with pytest.raises(SelfCheckError, match=message):
        check_m_step(lambda X, resp, ct: m_step(X, resp, ct, **kwargs))


def test_m_step_rejects_wrong_shapes_weights_and_signature():
    def full_always(X, resp, covariance_type):
        return m_step(X, resp, "full")

    with pytest.raises(SelfCheckError, match=r"'tied'.*ONE D x D matrix"):
        check_m_step(full_always)
    with pytest.raises(SelfCheckError, match="effective counts N_k.*Divide by N"):
        check_m_step(lambda X, resp, ct: (resp.sum(axis=0), *m_step(X, resp, ct)[1:]))
    with pytest.raises(SelfCheckError, match="return three things"):
        check_m_step(lambda X, resp, ct: m_step(X, resp, ct)[:2])
    with pytest.raises(SelfCheckError, match="should take 3 arguments.*covariance_type"):
        check_m_step(lambda X, resp: m_step(X, resp, "full"))


def test_m_step_template_is_not_implemented():
    def template(X, resp, covariance_type):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_m_step(template)


# ---------------------------------------------------------------------------------------------
# check_e_step
# ---------------------------------------------------------------------------------------------

def _matrices(covariances, covariance_type, K, D):
    covariances = np.asarray(covariances)
    return {"full": lambda: covariances,
            "tied": lambda: np.broadcast_to(covariances, (K, D, D)),
            "diag": lambda: np.stack([np.diag(v) for v in covariances]),
            "spherical": lambda: covariances[:, None, None] * np.eye(D)}[covariance_type]()


def _log_joint(X, weights, means, covariances, covariance_type, *, as_std=False):
    K, D = means.shape
    matrices = _matrices(covariances, covariance_type, K, D)
    if as_std and covariance_type in ("diag", "spherical"):
        matrices = matrices**2
    return np.log(weights) + np.stack(
        [stats.multivariate_normal(m, c).logpdf(X).reshape(len(X)) for m, c in zip(means, matrices)],
        axis=1)


def e_step(X, weights, means, covariances, covariance_type):
    a = _log_joint(X, weights, means, covariances, covariance_type)
    return np.exp(a - logsumexp(a, axis=1, keepdims=True))


def e_step_naive(X, weights, means, covariances, covariance_type):
    joint = np.exp(_log_joint(X, weights, means, covariances, covariance_type))
    return joint / joint.sum(axis=1, keepdims=True)


def test_e_step_accepts_correct_and_gmmlib(capsys):
    check_e_step(e_step)
    check_e_step(em.e_step)
    assert capsys.readouterr().out.count("Correct!") == 2


def test_e_step_rejects_naive_underflow():
    with pytest.raises(SelfCheckError, match="underflows.*log-sum-exp trick"):
        check_e_step(e_step_naive)


@pytest.mark.parametrize("func, message", [
    (lambda X, w, m, c, ct: np.exp(_log_joint(X, w, m, c, ct)), "not normalised"),
    (lambda X, w, m, c, ct: e_step(X, np.full(len(w), 1 / len(w)), m, c, ct), "forgot the weights"),
    (lambda X, w, m, c, ct: np.log(e_step(X, w, m, c, ct)), "log-responsibilities"),
    (lambda X, w, m, c, ct: e_step(X, w, m, c, ct).T, "transposed"),
])
def test_e_step_rejects_typical_mistakes(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_e_step(func)


def test_e_step_rejects_variances_as_standard_deviations():
    def as_std(X, weights, means, covariances, covariance_type):
        a = _log_joint(X, weights, means, covariances, covariance_type, as_std=True)
        return np.exp(a - logsumexp(a, axis=1, keepdims=True))

    with pytest.raises(SelfCheckError, match="'diag'.*standard deviations"):
        check_e_step(as_std)


def test_e_step_rejects_spherical_log_determinant_without_D():
    def log_det_once(X, weights, means, covariances, covariance_type):
        if covariance_type != "spherical":
            return e_step(X, weights, means, covariances, covariance_type)
        D = X.shape[1]
        quad = np.stack([np.sum((X - m) ** 2, axis=1) / v for m, v in zip(means, covariances)], 1)
        a = np.log(weights) - 0.5 * (D * np.log(2 * np.pi) + np.log(covariances) + quad)
        return np.exp(a - logsumexp(a, axis=1, keepdims=True))

    with pytest.raises(SelfCheckError, match="D log"):
        check_e_step(log_det_once)


def test_e_step_asks_for_covariance_type_and_reports_template():
    with pytest.raises(SelfCheckError, match="should take 5 arguments"):
        check_e_step(lambda X, weights, means, covariances: e_step(X, weights, means, covariances,
                                                                   "full"))

    def template(X, weights, means, covariances, covariance_type):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_e_step(template)


@pytest.mark.parametrize("check", [check_e_step, check_m_step])
def test_checks_draw_the_same_inputs_every_time(check, capsys):
    """Seeded: a right answer passes every time and a wrong one fails the same way."""
    func = e_step if check is check_e_step else m_step
    for _ in range(2):
        check(func)
    assert capsys.readouterr().out.count("Correct!") == 2
