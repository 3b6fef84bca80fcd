"""Self-checks for chapter 4, {ref}`ch-deriving-em` ("Deriving EM").

- :func:`check_run_em` -- a complete EM loop with its stopping rule: iterate until the
  log-likelihood per sample gains less than ``tol``, or ``max_iter`` iterations are done.
- :func:`check_bernoulli_e_step` -- the E-step of a mixture of multivariate Bernoulli
  distributions (binary data), computed stably in the log domain.
- :func:`check_bernoulli_m_step` -- its M-step: weights :math:`\\pi_k = N_k / N` and pixel
  probabilities :math:`\\mu_{kd} = \\frac{1}{N_k} \\sum_n \\gamma_{nk} x_{nd}`.

Each calls the reader's function on random inputs drawn from a seeded generator (the same inputs
at every call, so a check never passes once and fails the next time), compares the result with an
independent reference, and either prints a short success message or raises
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np
from scipy import stats
from scipy.special import logsumexp, xlog1py, xlogy

from ._core import (
    call_reader_function,
    check_rng,
    check_close,
    check_probabilities,
    check_shape,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_run_em", "check_bernoulli_e_step", "check_bernoulli_m_step"]

_RTOL, _ATOL = 1e-6, 1e-8


def _as_tuple(result, n_items, what):
    if not isinstance(result, (tuple, list)) or len(result) != n_items:
        got = type(result).__name__
        if isinstance(result, (tuple, list)):
            got += f" of length {len(result)}"
        fail(f"Your function should return {n_items} things, `return {what}`, but it returned "
             f"{got}.")
    return result


# ---------------------------------------------------------------------------------------------
# check_run_em
# ---------------------------------------------------------------------------------------------

def _full_log_joint(X, weights, means, covariances):
    """(N, K) array of log pi_k + log N(x_n | mu_k, Sigma_k), via SciPy."""
    return np.log(weights) + np.stack(
        [stats.multivariate_normal(m, c).logpdf(X).reshape(len(X))
         for m, c in zip(means, covariances)], axis=1)


def _full_m_step(X, resp):
    Nk = resp.sum(axis=0)
    means = resp.T @ X / Nk[:, None]
    covariances = np.stack([(resp[:, k] * (X - m).T) @ (X - m) / Nk[k] for k, m in enumerate(means)])
    return Nk / len(X), means, covariances


def _reference_em(X, weights, means, covariances, tol, max_iter, *, rule="per_sample",
                  after_m_step=False, stale=False):
    """EM as GaussianMixture runs it, or with one of the typical mistakes built in.

    ``rule`` is the stopping rule: "per_sample" (right), "total" (change of the total
    log-likelihood), "relative" (change relative to the log-likelihood) or "never". With
    ``after_m_step`` the log-likelihood is evaluated after each M-step instead of at each E-step;
    with ``stale`` the parameters before the last M-step are returned.
    """
    n_samples = len(X)
    params = (weights, means, covariances)
    log_liks, previous, converged = [], -np.inf, False
    for _ in range(max_iter):
        before = params
        log_joint = _full_log_joint(X, *params)
        log_px = logsumexp(log_joint, axis=1)
        params = _full_m_step(X, np.exp(log_joint - log_px[:, None]))
        if after_m_step:
            current = np.sum(logsumexp(_full_log_joint(X, *params), axis=1)) / n_samples
        else:
            current = np.sum(log_px) / n_samples
        log_liks.append(current)
        change = current - previous
        stop = {"per_sample": abs(change) < tol, "total": abs(change) * n_samples < tol,
                "relative": abs(change) < tol * abs(current), "never": False}[rule]
        if stop:
            converged = True
            break
        previous = current
    if stale:
        params = before
    return (*params, np.array(log_liks), converged)


def _run_em_problem(rng, tol, max_iter):
    """Overlapping data and a plain start (equal weights, data points as means, unit covariances)."""
    n_components = int(rng.integers(2, 4))
    n_features = int(rng.integers(2, 4))
    weights, means, covariances = random_mixture(rng, n_components, n_features, "full")
    X = sample_mixture(rng, weights, means / 2, covariances, "full", int(rng.integers(150, 250)))[0]
    start = (np.full(n_components, 1 / n_components),
             X[rng.choice(len(X), size=n_components, replace=False)],
             np.tile(np.eye(n_features), (n_components, 1, 1)))
    return X, start, tol, max_iter


_RUN_EM_MISTAKES = [
    ({"rule": "total"},
     "Your run stops later than it should: it looks as if you compared the change of the TOTAL "
     "log-likelihood l(theta) with tol. The rule uses the log-likelihood per sample, l(theta) / N, "
     "so that the same tol means the same thing for 100 points and for a million."),
    ({"rule": "relative"},
     "Your run stops earlier than it should: it looks as if you compared the RELATIVE change "
     "|change / l| with tol. The rule compares the change of l(theta) / N itself with tol."),
    ({"rule": "never"},
     "Your run did all max_iter iterations although the log-likelihood per sample stopped "
     "changing by more than tol long before: is the stopping test inside the loop, and does it "
     "`break`?"),
    ({"after_m_step": True},
     "You evaluate the log-likelihood after each M-step. The rule of the chapter (and of "
     "GaussianMixture) takes l(theta) / N from each iteration's E-step, where the log-sum-exp "
     "already computes it, so no extra pass over the data is needed: each iteration does an "
     "E-step (recording l / N of the current parameters), then an M-step, then the test."),
    ({"stale": True},
     "You return the parameters from BEFORE the last M-step. The loop should end with the M-step "
     "done: E-step (record l / N), M-step, then test the change and stop."),
]


def check_run_em(func):
    """Check a reader's EM loop ``func(X, weights, means, covariances, tol, max_iter)``.

    Parameters
    ----------
    func : callable
        ``func(X, weights, means, covariances, tol, max_iter)`` runs EM for a full-covariance
        mixture (no regularisation) from the given start and returns
        ``(weights, means, covariances, log_likelihoods, converged)``. Each iteration does an
        E-step, which also gives the log-likelihood per sample :math:`\\ell(\\theta)/N` of the
        current parameters (appended to ``log_likelihoods``), then an M-step; the loop stops
        after the first iteration whose :math:`\\ell/N` differs from the previous iteration's by
        less than ``tol`` (``converged`` is then True), or after ``max_iter`` iterations
        (``converged`` False). These are the conventions of :class:`gmmlib.GaussianMixture`:
        ``log_likelihoods`` equals its ``lower_bounds_``.

    Raises
    ------
    SelfCheckError
        If the result has the wrong form or values; the message recognises a stopping rule on
        the total or on the relative log-likelihood, a loop that never stops early, the
        log-likelihood evaluated after the M-step, stale parameters and a wrong ``converged``.

    Introduced in {ref}`ch-deriving-em`, Exercise ``ch04_ex2``.
    """
    rng = check_rng("check_run_em")
    problems = [_run_em_problem(rng, 1e-3, 300), _run_em_problem(rng, 1e-5, 300),
                _run_em_problem(rng, 1e-9, 6)]
    for X, start, tol, max_iter in problems:
        result = call_reader_function(func, X, *start, tol, max_iter)
        weights, means, covariances, log_liks, converged = _as_tuple(
            result, 5, "weights, means, covariances, log_likelihoods, converged")
        ref = _reference_em(X, *start, tol, max_iter)
        n_iter = len(ref[3])
        log_liks = np.asarray(log_liks, dtype=float).ravel()
        if len(log_liks) == 0:
            fail("Your list of log-likelihoods is empty: append l(theta) / N of every iteration.")
        got = [check_shape("the weights", weights, ref[0].shape),
               check_shape("the means", means, ref[1].shape),
               check_shape("the covariances", covariances, ref[2].shape)]
        same_params = all(matches(g, r) for g, r in zip(got, ref[:3]))
        same_curve = matches(log_liks, ref[3])
        if same_params and same_curve:
            if bool(converged) != ref[4]:
                fail(f"Your run is right, but it says converged={converged!r}: with tol={tol:g} "
                     f"and max_iter={max_iter} it should be {ref[4]} ("
                     + ("the change fell below tol)." if ref[4] else
                        "max_iter ran out before the change fell below tol)."))
            continue
        if len(log_liks) == n_iter + 1 and matches(log_liks[:-1], ref[3]):
            fail("Your list of log-likelihoods has one entry too many: record l(theta) / N once "
                 "per iteration, in its E-step (one entry per M-step done).")
        if matches(log_liks, ref[3] * len(X)):
            fail("Your log-likelihoods are totals; record l(theta) / N, the mean per sample, as "
                 "GaussianMixture's lower_bounds_ does (and as the stopping rule uses).")
        if len(log_liks) == 1 and n_iter > 1:
            fail("Your loop stopped after the first iteration. At the first iteration there is "
                 "no previous log-likelihood: start from -infinity (`previous = -np.inf`), so "
                 "that the first change is infinite and never passes the test.")
        for variant, message in _RUN_EM_MISTAKES:
            wrong = _reference_em(X, *start, tol, max_iter, **variant)
            differs = len(wrong[3]) != n_iter or not all(
                matches(w, r) for w, r in zip(wrong[:3], ref[:3]))
            if differs and matches(log_liks, wrong[3]) and all(
                    matches(g, w) for g, w in zip(got, wrong[:3])):
                fail(message)
        if len(log_liks) != n_iter:
            fail(f"Your run did {len(log_liks)} iterations (entries in log_likelihoods), but with "
                 f"tol={tol:g} and max_iter={max_iter} it should stop after {n_iter}. Stop after "
                 "the first iteration whose l(theta) / N differs from the previous one by less "
                 "than tol.")
        check_close("the log-likelihoods per iteration", log_liks, ref[3])
        for name, g, r in zip(("weights", "means", "covariances"), got, ref[:3]):
            check_close(f"the final {name}", g, r)
    passed("your EM loop stops where GaussianMixture's does, with the same parameters and "
           "log-likelihoods, on 3 problems (one where max_iter runs out first).")


# ---------------------------------------------------------------------------------------------
# Bernoulli mixtures
# ---------------------------------------------------------------------------------------------

def _bernoulli_log_joint(X, weights, probs):
    """(N, K) array of log pi_k + sum_d [x_d log mu_kd + (1 - x_d) log(1 - mu_kd)]."""
    return np.log(weights) + xlogy(X[:, None, :], probs).sum(axis=2) \
        + xlog1py(1 - X[:, None, :], -probs).sum(axis=2)


def _bernoulli_problem(rng, n_features, zero_column=False):
    """Binary data from a random Bernoulli mixture, with its weights and probabilities.

    With ``zero_column`` the first feature is 0 in every point and has probability exactly 0 in
    every component, as the always-white border pixels of the digits do after an M-step.
    """
    n_components = int(rng.integers(2, 5))
    n_samples = int(rng.integers(20, 60))
    weights = rng.permutation(np.linspace(1.0, 3.0, n_components))
    weights /= weights.sum()
    probs = rng.uniform(0.1, 0.9, size=(n_components, n_features))
    z = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.random((n_samples, n_features)) < probs[z]).astype(float)
    if zero_column:
        X[:, 0] = 0.0
        probs[:, 0] = 0.0
    return X, weights, probs


def _bernoulli_mistakes(X, weights, probs):
    """(wrong responsibilities, message) for the typical mistakes."""
    log_joint = _bernoulli_log_joint(X, weights, probs)
    log_lik = log_joint - np.log(weights)
    swapped = np.log(weights) + xlogy(1 - X[:, None, :], probs).sum(axis=2) \
        + xlog1py(X[:, None, :], -probs).sum(axis=2)
    joint = np.exp(log_joint)

    def normalised(a):
        return np.exp(a - logsumexp(a, axis=1, keepdims=True))

    return [
        (log_joint - logsumexp(log_joint, axis=1, keepdims=True),
         "You returned the log-responsibilities log(gamma_nk): apply np.exp to your result."),
        (joint, "Your responsibilities are not normalised: divide each row by its sum over k."),
        (normalised(log_lik),
         "You forgot the weights: gamma_nk is proportional to pi_k p(x_n | mu_k), not to "
         "p(x_n | mu_k) alone."),
        (normalised(swapped),
         "x and 1 - x are swapped: a pixel that is 1 contributes log mu_kd, a pixel that is 0 "
         "contributes log(1 - mu_kd)."),
        (joint / joint.sum(axis=0, keepdims=True),
         "You normalised over the wrong axis: each ROW (one point, all components) must sum to "
         "1."),
    ]


def check_bernoulli_e_step(func):
    """Check a reader's Bernoulli-mixture E-step ``func(X, weights, probs) -> resp``.

    Parameters
    ----------
    func : callable
        ``func(X, weights, probs)`` with binary ``X`` of shape (N, D), ``weights`` of shape (K,)
        and ``probs`` of shape (K, D), the probability :math:`\\mu_{kd}` that feature :math:`d`
        is 1 in component :math:`k`. It must return the responsibilities, shape (N, K),

        .. math:: \\gamma_{nk} \\propto \\pi_k \\prod_d \\mu_{kd}^{x_{nd}} (1 - \\mu_{kd})^{1 - x_{nd}},

        each row summing to 1.

    Raises
    ------
    SelfCheckError
        If the shape or the values are wrong; the message recognises missing normalisation or
        weights, swapped :math:`x` and :math:`1 - x`, log-responsibilities, the wrong axis,
        underflow in many dimensions (use the log domain) and ``0 * log 0 = nan`` where a
        probability is exactly 0 (use :func:`scipy.special.xlogy`).

    Notes
    -----
    The last two inputs have 2,000 features, where every product
    :math:`\\prod_d \\mu_{kd}^{x_{nd}} (1 - \\mu_{kd})^{1 - x_{nd}}` underflows to 0, and a
    feature that is 0 in every point with probability exactly 0 in every component.

    Introduced in {ref}`ch-deriving-em`, Exercise ``ch04_ex3``.
    """
    rng = check_rng("check_bernoulli_e_step")
    problems = [_bernoulli_problem(rng, int(rng.integers(3, 9))) for _ in range(3)]
    problems += [_bernoulli_problem(rng, 2000), _bernoulli_problem(rng, 6, zero_column=True)]
    for trial, (X, weights, probs) in enumerate(problems):
        log_joint = _bernoulli_log_joint(X, weights, probs)
        expected = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
        with np.errstate(all="ignore"):
            resp = call_reader_function(func, X, weights, probs)
        if isinstance(resp, tuple):
            fail(f"Your function returned a tuple of {len(resp)} items; it should return only the "
                 "responsibilities, one array of shape (N, K).")
        resp = check_shape("the responsibilities", resp, expected.shape)
        if not np.all(np.isfinite(resp)):
            if trial == 3:
                fail("With 2,000 features your responsibilities are not finite: the product of "
                     "2,000 probabilities underflows to 0, and 0 / 0 = nan. Work with logs: "
                     "a_nk = log pi_k + sum_d [x_nd log mu_kd + (1 - x_nd) log(1 - mu_kd)], then "
                     "the log-sum-exp trick (scipy.special.logsumexp).")
            if trial == 4:
                fail("Where a probability mu_kd is exactly 0 and the pixel is 0, your code computes "
                     "0 * log(0) = 0 * (-inf) = nan. That term should be 0 (mu^0 = 1): use "
                     "scipy.special.xlogy(x, mu) and xlog1py(1 - x, -mu), which define 0 log 0 = 0. "
                     "After an M-step on the digits such probabilities are common: a border pixel "
                     "that is white in every image gets mu_kd = 0.")
            fail("Your responsibilities contain NaN or infinite values: compute them in the log "
                 "domain with the log-sum-exp trick.")
        with np.errstate(all="ignore"):  # some wrong versions underflow to 0 / 0
            mistakes = _bernoulli_mistakes(X, weights, probs)
        for wrong, message in mistakes:
            if not matches(wrong, expected) and matches(resp, wrong):
                fail(message)
        check_probabilities("the responsibilities", resp, axis=1)
        check_close("the responsibilities", resp, expected, rtol=_RTOL, atol=_ATOL)
    passed("your Bernoulli E-step matches Bayes' rule on 5 random mixtures, and it stays finite "
           "with 2,000 features and with probabilities of exactly 0.")


def check_bernoulli_m_step(func):
    """Check a reader's Bernoulli-mixture M-step ``func(X, resp) -> (weights, probs)``.

    Parameters
    ----------
    func : callable
        ``func(X, resp)`` with binary ``X`` of shape (N, D) and responsibilities ``resp`` of shape
        (N, K); it must return ``(weights, probs)`` of shapes (K,) and (K, D), the maximisers of
        the expected complete-data log-likelihood: :math:`\\pi_k = N_k / N` and
        :math:`\\mu_{kd} = \\frac{1}{N_k} \\sum_n \\gamma_{nk} x_{nd}`, with
        :math:`N_k = \\sum_n \\gamma_{nk}`.

    Raises
    ------
    SelfCheckError
        If the result has the wrong form or values: weights that are counts, probabilities
        divided by :math:`N` or not divided at all, responsibilities not used as weights, ...

    Introduced in {ref}`ch-deriving-em`, Exercise ``ch04_ex3``.
    """
    rng = check_rng("check_bernoulli_m_step")
    for _ in range(4):
        X, _, _ = _bernoulli_problem(rng, int(rng.integers(3, 9)))
        resp = rng.dirichlet(np.full(int(rng.integers(2, 5)), 0.7), size=len(X))
        n_samples, n_components = resp.shape
        weights, probs = _as_tuple(call_reader_function(func, X, resp), 2, "weights, probs")
        Nk = resp.sum(axis=0)
        ref_probs = resp.T @ X / Nk[:, None]
        weights = check_shape("the weights", weights, (n_components,))
        if matches(weights, Nk):
            fail("Your weights are the effective counts N_k; divide by N: pi_k = N_k / N.")
        check_close("the weights", weights, Nk / n_samples)
        probs = check_shape("the probabilities mu", probs, ref_probs.shape)
        if matches(probs, resp.T @ X / n_samples):
            fail("Your probabilities are divided by N; divide component k's weighted count of "
                 "ones by its own N_k = sum_n gamma_nk.")
        if matches(probs, resp.T @ X):
            fail("Your probabilities are the weighted counts sum_n gamma_nk x_nd: divide by N_k.")
        if matches(probs, np.broadcast_to(X.mean(axis=0), probs.shape)):
            fail("Every component got the overall fraction of ones: weight each point by its "
                 "responsibility, mu_kd = (1/N_k) sum_n gamma_nk x_nd.")
        check_close("the probabilities mu", probs, ref_probs)
    passed("your Bernoulli M-step matches pi_k = N_k / N and mu_k = (1/N_k) sum_n gamma_nk x_n "
           "on 4 random problems.")
