"""Self-checks for chapter 6, {ref}`ch-covariance-types` ("Covariance types").

- :func:`check_m_step` -- the M-step for all four covariance types, ``"full"``, ``"tied"``,
  ``"diag"`` and ``"spherical"``, returning covariances in the shapes of
  :class:`gmmlib.GaussianMixture`'s ``covariances_``.
- :func:`check_e_step` -- the E-step for all four types: responsibilities computed stably, with
  the log-sum-exp trick, from covariances in those shapes.

Each calls the reader's function on random inputs drawn from a seeded generator (the same inputs
at every call, so a check never passes once and fails the next time), for every covariance type,
compares the result with an independent NumPy/SciPy reference, and either prints a short success
message or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import inspect

import numpy as np
from scipy import stats
from scipy.special import logsumexp

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

__all__ = ["check_m_step", "check_e_step"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_RTOL, _ATOL = 1e-6, 1e-8


def _takes_covariance_type(func, n_args):
    """Fail with advice unless ``func`` accepts ``n_args`` positional arguments."""
    try:
        inspect.signature(func).bind(*range(n_args))
    except TypeError:
        fail(f"`{getattr(func, '__name__', 'your function')}` should take {n_args} arguments, the "
             "last one `covariance_type` (\"full\", \"tied\", \"diag\" or \"spherical\"), so the "
             "check can try every type.")
    except ValueError:  # no signature to inspect (some built-ins): just try calling it
        pass


def _full_matrices(covariances, covariance_type, n_components, n_features):
    """The K covariance matrices, (K, D, D), from covariances in GaussianMixture's shapes."""
    covariances = np.asarray(covariances, dtype=float)
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in covariances])
    return covariances[:, None, None] * np.eye(n_features)


# ---------------------------------------------------------------------------------------------
# check_m_step
# ---------------------------------------------------------------------------------------------

def _scatter(X, resp, centres):
    """S_k = sum_n gamma_nk (x_n - c_k)(x_n - c_k)^T for centres c_k of shape (K, D)."""
    return np.stack([(resp[:, k] * (X - c).T) @ (X - c) for k, c in enumerate(centres)])


def _constrain(per_component, Nk, covariance_type):
    """Full per-component covariances (K, D, D) reduced to ``covariance_type``'s form."""
    if covariance_type == "full":
        return per_component
    if covariance_type == "tied":
        return np.tensordot(Nk / Nk.sum(), per_component, axes=1)
    variances = np.diagonal(per_component, axis1=1, axis2=2)
    return variances if covariance_type == "diag" else variances.mean(axis=1)


def _m_step_mistakes(X, resp, means, covariance_type):
    """(wrong covariances, message) for the typical mistakes of one covariance type."""
    Nk = resp.sum(axis=0)
    N, D = X.shape
    scatter = _scatter(X, resp, means)
    right_full = scatter / Nk[:, None, None]
    right = _constrain(right_full, Nk, covariance_type)
    overall = _scatter(X, resp, np.broadcast_to(X.mean(axis=0), means.shape)) / Nk[:, None, None]
    mistakes = [
        (_constrain(scatter, Nk, covariance_type) if covariance_type != "tied" else scatter.sum(0),
         "Your covariances are not divided by the effective counts: you returned weighted sums "
         "of squares. Divide component k's by N_k = sum_n gamma_nk"
         + (" (for 'tied', the pooled sum by N = sum_k N_k)." if covariance_type == "tied" else ".")),
        (_constrain(overall, Nk, covariance_type),
         "Your covariances are centred on the overall mean of X: centre component k's on its "
         "own NEW mean mu_k (the one this M-step just computed)."),
        (_constrain(_scatter(X, resp, np.zeros_like(means)) / Nk[:, None, None], Nk,
                    covariance_type),
         "Your covariances are not centred: use (x_n - mu_k), not x_n."),
    ]
    if covariance_type != "tied":
        mistakes.append((_constrain(scatter / N, Nk, covariance_type),
                         "Your covariances are divided by N, the number of points; divide "
                         "component k's by its own effective count N_k = sum_n gamma_nk."))
    if covariance_type in ("diag", "spherical"):
        mistakes.append((np.sqrt(right), "You returned standard deviations: covariances_ holds "
                         "variances (squares), so drop the square root."))
    if covariance_type == "spherical":
        mistakes.append((right * D,
                         "Your spherical variances are D times too large: sigma_k^2 is the MEAN of "
                         "the D per-feature variances, sum_n gamma_nk ||x_n - mu_k||^2 / (D N_k)."))
    if covariance_type == "tied":
        mistakes += [
            (right_full.mean(axis=0),
             "You averaged the K full covariances with equal weights. Weight each by its share "
             "of the points, N_k / N: Sigma = (1/N) sum_k sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T."),
            (right_full.sum(axis=0),
             "You added up the K full covariances. Average them, weighting each by N_k / N."),
        ]
    return mistakes


def _m_step_problem(rng, covariance_type):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(2, 5))
    weights, means, covariances = random_mixture(rng, n_components, n_features, covariance_type)
    X = sample_mixture(rng, weights, means, covariances, covariance_type,
                       int(rng.integers(30, 80)))[0]
    resp = rng.dirichlet(np.full(n_components, 0.7), size=len(X))
    return X, resp


_SHAPE_ADVICE = {
    "full": "one D x D matrix per component",
    "tied": "ONE D x D matrix shared by all components",
    "diag": "one row of D variances per component",
    "spherical": "one variance per component",
}


def _check_m_step_covariances(covariances, X, resp, means, covariance_type):
    n_components, n_features = resp.shape[1], X.shape[1]
    shape = {"full": (n_components, n_features, n_features), "tied": (n_features, n_features),
             "diag": (n_components, n_features), "spherical": (n_components,)}[covariance_type]
    try:
        got = np.asarray(covariances, dtype=float)
    except (TypeError, ValueError):
        fail(f"The covariances should be a numeric array of shape {shape}, but they cannot be "
             f"turned into one (they are a {type(covariances).__name__}).")
    if np.shape(got) != shape:
        fail(f"For covariance_type={covariance_type!r} the covariances should have shape {shape}, "
             f"{_SHAPE_ADVICE[covariance_type]}, as GaussianMixture's covariances_; yours have "
             f"shape {np.shape(got)}.")
    Nk = resp.sum(axis=0)
    expected = _constrain(_scatter(X, resp, means) / Nk[:, None, None], Nk, covariance_type)
    if matches(got, expected, rtol=_RTOL, atol=_ATOL):
        return
    for wrong, message in _m_step_mistakes(X, resp, means, covariance_type):
        if not matches(wrong, expected) and matches(got, wrong):
            fail(f"covariance_type={covariance_type!r}: {message}")
    check_close(f"the {covariance_type!r} covariances", got, expected, rtol=_RTOL, atol=_ATOL)


def check_m_step(func):
    """Check a reader's M-step ``func(X, resp, covariance_type) -> (weights, means, covariances)``.

    Parameters
    ----------
    func : callable
        ``func(X, resp, covariance_type)`` with ``X`` of shape (N, D), responsibilities ``resp``
        of shape (N, K) and ``covariance_type`` one of ``"full"``, ``"tied"``, ``"diag"``,
        ``"spherical"``. It returns ``(weights, means, covariances)``: :math:`\\pi_k = N_k / N`,
        :math:`\\mu_k = \\frac{1}{N_k} \\sum_n \\gamma_{nk} x_n` and the covariances that
        maximise the expected complete-data log-likelihood under the constraint, in the shapes of
        ``GaussianMixture.covariances_``: (K, D, D) :math:`\\Sigma_k`, (D, D) for the shared
        :math:`\\Sigma = \\sum_k \\frac{N_k}{N} \\Sigma_k`, (K, D) for the diagonals of the
        :math:`\\Sigma_k`, and (K,) for :math:`\\sigma_k^2 = \\operatorname{tr}(\\Sigma_k) / D`,
        where :math:`\\Sigma_k = \\frac{1}{N_k}\\sum_n \\gamma_{nk}(x_n - \\mu_k)(x_n - \\mu_k)^\\top`
        (no regularisation).

    Raises
    ------
    SelfCheckError
        If the result has the wrong form or values: weights not normalised, means or covariances
        divided by the wrong count, covariances centred on the wrong mean, standard deviations
        instead of variances, a spherical variance not divided by :math:`D`, a tied covariance
        averaged with equal weights, covariances of another type's shape, ...

    Introduced in {ref}`ch-covariance-types`, Exercise ``ch06_ex3``.
    """
    _takes_covariance_type(func, 3)
    rng = check_rng("check_m_step")
    for covariance_type in COVARIANCE_TYPES:
        for _ in range(2):
            X, resp = _m_step_problem(rng, covariance_type)
            (n_samples, n_features), n_components = X.shape, resp.shape[1]
            result = call_reader_function(func, X, resp, covariance_type)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                fail("Your function should return three things, `return weights, means, "
                     f"covariances`, but it returned {type(result).__name__}"
                     + (f" of length {len(result)}." if isinstance(result, (tuple, list)) else "."))
            weights, means, covariances = result
            Nk = resp.sum(axis=0)
            ref_means = resp.T @ X / Nk[:, None]

            weights = check_shape("the weights", weights, (n_components,))
            if matches(weights, Nk):
                fail("Your weights are the effective counts N_k = sum_n gamma_nk; they add up to "
                     "N, not 1. Divide by N: pi_k = N_k / N.")
            check_close("the weights", weights, Nk / n_samples)

            means = check_shape("the means", means, (n_components, n_features))
            if matches(means, resp.T @ X / n_samples):
                fail("Your means are divided by N, the number of points; divide component k's "
                     "weighted sum by its own effective count N_k = sum_n gamma_nk instead.")
            if matches(means, np.broadcast_to(X.mean(axis=0), means.shape)):
                fail("Every component got the plain mean of X: weight each point by its "
                     "responsibility, mu_k = (1/N_k) sum_n gamma_nk x_n.")
            check_close("the means", means, ref_means)
            _check_m_step_covariances(covariances, X, resp, ref_means, covariance_type)
    passed("your M-step matches the closed-form updates for all four covariance types, on 2 "
           "random problems each (2 to 4 dimensions, 2 to 4 components).")


# ---------------------------------------------------------------------------------------------
# check_e_step
# ---------------------------------------------------------------------------------------------

def _random_weights(rng, n_components):
    """Clearly unequal weights (proportional to 1, ..., 4 in a random order), so that
    responsibilities computed without them differ visibly from the right ones."""
    weights = rng.permutation(np.linspace(1.0, 4.0, n_components))
    return weights / weights.sum()


def _log_joint(X, weights, means, matrices):
    """(N, K) array of log pi_k + log N(x_n | mu_k, Sigma_k), via SciPy, from (K, D, D) matrices."""
    return np.log(weights) + np.stack(
        [stats.multivariate_normal(m, c).logpdf(X).reshape(len(X))
         for m, c in zip(means, matrices)], axis=1)


def _normalised(log_joint):
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def _far_point(rng, means):
    """A point at least 80 units from every mean: with variances at most 2, every component's
    log-density there is below -1600, so exp() of it underflows to exactly 0."""
    direction = rng.standard_normal(means.shape[1])
    direction /= np.linalg.norm(direction)
    return (np.abs(means).max() * np.sqrt(means.shape[1]) + 80.0) * direction


def _e_step_problem(rng, covariance_type, far):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(1, 5))
    n_samples = int(rng.integers(15, 60))
    while True:  # components that overlap enough for the weights to matter
        _, means, covariances = random_mixture(rng, n_components, n_features, covariance_type)
        means = means / 2
        weights = _random_weights(rng, n_components)
        X = sample_mixture(rng, weights, means, covariances, covariance_type, n_samples)[0]
        matrices = _full_matrices(covariances, covariance_type, n_components, n_features)
        log_joint = _log_joint(X, weights, means, matrices)
        if not matches(_normalised(log_joint - np.log(weights)), _normalised(log_joint)):
            break
    far_rows = np.zeros(n_samples, dtype=bool)
    if far:
        row = int(rng.integers(n_samples))
        X[row] = _far_point(rng, means)
        far_rows[row] = True
    return X, weights, means, covariances, far_rows


def _e_step_mistakes(X, weights, means, covariances, covariance_type):
    """(wrong responsibilities, message) for the typical mistakes."""
    K, D = means.shape
    matrices = _full_matrices(covariances, covariance_type, K, D)
    log_joint = _log_joint(X, weights, means, matrices)
    log_dens = log_joint - np.log(weights)
    joint = np.exp(log_joint)
    mistakes = [
        (log_joint - logsumexp(log_joint, axis=1, keepdims=True),
         "You returned the log-responsibilities log(gamma_nk): apply np.exp to your result (the "
         "rows of gamma then sum to 1)."),
        (joint, "Your responsibilities are not normalised: you returned pi_k N(x_n | mu_k, "
                "Sigma_k). Divide each row by its sum over the components k (that sum is p(x_n))."),
        (_normalised(log_dens),
         "You forgot the weights: Bayes' rule needs the prior too, gamma_nk is proportional to "
         "pi_k N(x_n | mu_k, Sigma_k)."),
        (joint / joint.sum(axis=0, keepdims=True),
         "You normalised over the wrong axis: your columns sum to 1. Each ROW (one point, all "
         "components) must sum to 1: divide by the sum over k (`axis=1, keepdims=True`)."),
    ]
    if covariance_type in ("diag", "spherical"):
        mistakes.append((
            _normalised(_log_joint(X, weights, means, matrices**2)),
            f"For {covariance_type!r} your code treats the numbers in `covariances` as standard "
            "deviations; they are variances sigma^2 (as in GaussianMixture's covariances_)."))
    if covariance_type == "spherical" and D > 1:
        quad = np.stack([np.sum((X - m) ** 2, axis=1) / v for m, v in zip(means, covariances)], 1)
        once = np.log(weights) - 0.5 * (D * np.log(2 * np.pi) + np.log(covariances) + quad)
        mistakes.append((
            _normalised(once),
            "For 'spherical' your log-determinant is log(sigma_k^2); the determinant of "
            "sigma_k^2 I in D dimensions is sigma_k^(2D), so its log is D log(sigma_k^2)."))
    return mistakes


def check_e_step(func):
    """Check a reader's E-step ``func(X, weights, means, covariances, covariance_type) -> resp``.

    Parameters
    ----------
    func : callable
        ``func(X, weights, means, covariances, covariance_type)`` with ``X`` of shape (N, D),
        ``weights`` of shape (K,), ``means`` of shape (K, D), and ``covariances`` in the shape of
        ``GaussianMixture.covariances_`` for ``covariance_type``: (K, D, D) for ``"full"``,
        (D, D) for ``"tied"``, (K, D) for ``"diag"``, (K,) for ``"spherical"``. It must return
        the responsibilities :math:`\\gamma_{nk} = p(z_n = k \\mid x_n, \\theta)`, shape (N, K),
        every row summing to 1.

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape or values: not normalised, normalised over the wrong
        axis, the weights forgotten, log-responsibilities returned, variances taken for standard
        deviations, a spherical log-determinant without its factor :math:`D`, or NaN for a point
        far from every component (use the log-sum-exp trick).

    Notes
    -----
    For every type, the second input contains one point far from every component, where every
    density :math:`\\pi_k \\mathcal N(x_n \\mid \\mu_k, \\Sigma_k)` underflows to 0 in floating
    point. An E-step that exponentiates before normalising returns 0 / 0 = NaN there.

    Introduced in {ref}`ch-covariance-types`, Exercise ``ch06_ex4``.
    """
    _takes_covariance_type(func, 5)
    rng = check_rng("check_e_step")
    for covariance_type in COVARIANCE_TYPES:
        for far in (False, True):
            X, weights, means, covariances, far_rows = _e_step_problem(rng, covariance_type, far)
            n_samples, n_components = X.shape[0], len(weights)
            with np.errstate(all="ignore"):
                resp = call_reader_function(func, X, weights, means, covariances, covariance_type)
            if isinstance(resp, tuple):
                fail(f"Your function returned a tuple of {len(resp)} items; it should return only "
                     f"the responsibilities, one array of shape ({n_samples}, {n_components}).")
            resp = check_shape("the responsibilities", resp, (n_samples, n_components))
            matrices = _full_matrices(covariances, covariance_type, n_components, X.shape[1])
            expected = _normalised(_log_joint(X, weights, means, matrices))
            ok_rows = np.all(np.isclose(resp, expected, rtol=_RTOL, atol=_ATOL), axis=1)
            if far and not ok_rows[far_rows].all() and ok_rows[~far_rows].all():
                shown = np.array2string(resp[far_rows][0], precision=3)
                fail("Your E-step is right for ordinary points, but for a point far from every "
                     f"component it returned {shown} instead of responsibilities that sum to 1. "
                     "There every pi_k N(x_n | mu_k, Sigma_k) underflows to 0 in floating point, "
                     "so normalising gives 0 / 0 = nan. Use the log-sum-exp trick: compute the "
                     "log-densities, subtract their maximum over k (or use "
                     "scipy.special.logsumexp) and only then exponentiate.")
            if ok_rows.all():
                continue
            with np.errstate(all="ignore"):  # some wrong versions underflow to 0 / 0
                mistakes = _e_step_mistakes(X, weights, means, covariances, covariance_type)
            for wrong, message in mistakes:
                if not matches(wrong, expected) and matches(resp, wrong):
                    fail(message)
            if not np.all(np.isfinite(resp)):
                fail("Your responsibilities contain NaN or infinite values. Compute them from "
                     "log-densities with the log-sum-exp trick (scipy.special.logsumexp) so that "
                     "nothing overflows or underflows.")
            check_probabilities("the responsibilities", resp, axis=1)
            check_close(f"the responsibilities (covariance_type={covariance_type!r})", resp,
                        expected, rtol=_RTOL, atol=_ATOL)
    passed("your E-step matches Bayes' rule for all four covariance types (1 to 4 dimensions, 2 "
           "to 4 components), and it stays finite for a point far from every component.")
