"""Self-checks for chapter 6, {ref}`ch-covariance-types` ("Covariance types").

- :func:`check_n_free_parameters` -- the number of free parameters of a Gaussian mixture for the
  four covariance types ``"full"``, ``"tied"``, ``"diag"`` and ``"spherical"``.
- :func:`check_diag_covariances` -- the M-step for diagonal covariances: one variance per
  feature and component, :math:`\\sigma^2_{kd} = \\frac{1}{N_k}\\sum_n \\gamma_{nk}(x_{nd} -
  \\mu_{kd})^2`.
- :func:`check_tied_covariance` -- the M-step for a tied covariance: one matrix shared by all
  components, :math:`\\Sigma = \\frac{1}{N}\\sum_k\\sum_n \\gamma_{nk}(x_n - \\mu_k)(x_n -
  \\mu_k)^\\top`.

Each calls the reader's function on fresh random inputs (new sizes every time), compares the
result with a reference, and either prints a short success message or raises
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import itertools
import numbers

import numpy as np

from ..model_selection import n_parameters
from ._core import (
    call_reader_function,
    check_close,
    check_shape,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_n_free_parameters", "check_diag_covariances", "check_tied_covariance"]

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_RTOL, _ATOL = 1e-6, 1e-8

# ---------------------------------------------------------------------------------------------
# check_n_free_parameters
# ---------------------------------------------------------------------------------------------

_MISTAKES = {
    "all_weights": "you counted K free weights, but the weights sum to 1, so only K - 1 of them "
                   "are free (the last one is 1 minus the others)",
    "no_weights": "the K - 1 free mixture weights are missing from your count",
    "no_means": "the K * D mean coordinates are missing from your count",
    "one_mean": "you counted one mean vector (D numbers), but every component has its own: K * D",
    "squared": "you counted all D^2 entries of a covariance matrix, but a covariance matrix is "
               "symmetric (Sigma_de = Sigma_ed), so only the D(D+1)/2 entries on and below the "
               "diagonal are free",
    "full_shared": "for 'full' you counted one covariance matrix, but each of the K components "
                   "has its own: K * D(D+1)/2",
    "tied_per_component": "for 'tied' you counted one covariance matrix per component, but a "
                          "tied model has ONE matrix shared by all K components: D(D+1)/2 in "
                          "total, whatever K is",
    "diag_as_full": "for 'diag' you counted a full symmetric matrix, D(D+1)/2, per component, but "
                    "a diagonal covariance has only its D variances",
    "diag_shared": "for 'diag' you counted D variances in total, but each of the K components has "
                   "its own D variances: K * D",
    "spherical_per_feature": "for 'spherical' you counted D variances per component (that is the "
                             "'diag' count), but a spherical covariance sigma_k^2 I has a single "
                             "variance per component",
    "spherical_shared": "for 'spherical' you counted one variance in total, but each of the K "
                        "components has its own sigma_k^2: K",
}


def _covariance_options(covariance_type, K, D):
    """(count, mistakes) for the right covariance count and its typical wrong versions."""
    sym = [(D * (D + 1) // 2, ()), (D * D, ("squared",))]
    if covariance_type == "full":
        per, copies = sym, [(K, ()), (1, ("full_shared",))]
    elif covariance_type == "tied":
        per, copies = sym, [(1, ()), (K, ("tied_per_component",))]
    elif covariance_type == "diag":
        per = [(D, ()), (D * (D + 1) // 2, ("diag_as_full",))]
        copies = [(K, ()), (1, ("diag_shared",))]
    else:
        per = [(1, ()), (D, ("spherical_per_feature",))]
        copies = [(K, ()), (1, ("spherical_shared",))]
    return [(p * c, m1 + m2) for (p, m1), (c, m2) in itertools.product(per, copies)]


def _candidate_counts(covariance_type, K, D):
    """Every combination of a weights, a means and a covariance count, with its mistakes."""
    weights = [(K - 1, ()), (K, ("all_weights",)), (0, ("no_weights",))]
    means = [(K * D, ()), (0, ("no_means",)), (D, ("one_mean",))]
    for (w, m1), (m, m2), (c, m3) in itertools.product(
            weights, means, _covariance_options(covariance_type, K, D)):
        yield w + m + c, m1 + m2 + m3


def _explain(covariance_type, cases, answers):
    """The simplest set of typical mistakes that reproduces every wrong answer, or None."""
    matches = None
    for (K, D), answer in zip(cases, answers):
        here = {mistakes for count, mistakes in _candidate_counts(covariance_type, K, D)
                if count == answer}
        matches = here if matches is None else matches & here
    matches = [m for m in (matches or ()) if m]
    return min(matches, key=len) if matches else None


def _as_count(result, covariance_type, K, D):
    if isinstance(result, np.ndarray) and result.ndim == 0:
        result = result.item()
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        fail(f"n_free_parameters({K}, {D}, {covariance_type!r}) returned {result!r} (a "
             f"{type(result).__name__}); it should return one whole number, the count.")
    if not float(result).is_integer():
        fail(f"n_free_parameters({K}, {D}, {covariance_type!r}) returned {result!r}, which is "
             "not a whole number; a count of parameters always is. (D(D+1)/2 is a whole number "
             "for every D: check the brackets.)")
    return int(result)


def check_n_free_parameters(func):
    """Check a reader's ``func(n_components, n_features, covariance_type) -> int``.

    The right count is :math:`(K - 1) + KD` plus :math:`KD(D+1)/2` (``"full"``),
    :math:`D(D+1)/2` (``"tied"``), :math:`KD` (``"diag"``) or :math:`K` (``"spherical"``), as
    in :func:`gmmlib.model_selection.n_parameters`.

    Parameters
    ----------
    func : callable
        ``func(n_components, n_features, covariance_type)`` with two positive ints and one of
        ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``; it must return an int.

    Raises
    ------
    SelfCheckError
        If a count is wrong. The message names the typical mistake when it recognises one:
        counting K weights instead of K - 1, D^2 instead of D(D+1)/2 covariance entries, a tied
        covariance counted once per component, a forgotten part, ...

    Introduced in {ref}`ch-covariance-types`, Exercise ``ch06_ex2``.
    """
    rng = np.random.default_rng()
    cases = [(int(rng.integers(2, 8)), int(rng.integers(2, 10))) for _ in range(3)] + [(3, 4)]
    for covariance_type in _COVARIANCE_TYPES:
        answers, wrong = [], []
        for K, D in cases:
            answer = _as_count(call_reader_function(func, K, D, covariance_type),
                               covariance_type, K, D)
            answers.append(answer)
            right = n_parameters(K, D, covariance_type)
            if answer != right:
                wrong.append((K, D, answer, right))
        if not wrong:
            continue
        K, D, answer, right = wrong[0]
        example = (f"For covariance_type={covariance_type!r}, K={K} components and D={D} "
                   f"features you return {answer}, but the right count is {right}.")
        mistakes = _explain(covariance_type, cases, answers)
        if mistakes:
            fail(example + " It looks as if " + "; and ".join(_MISTAKES[m] for m in mistakes) + ".")
        fail(example + " Count the three parts separately: the free weights, the mean "
             "coordinates, and the free entries of the covariance matrices of this type.")
    for covariance_type in _COVARIANCE_TYPES:
        answer = _as_count(call_reader_function(func, 1, 1, covariance_type), covariance_type, 1, 1)
        if answer != 2:
            fail(f"For one component in one dimension (K=1, D=1, {covariance_type!r}) you return "
                 f"{answer}, but a single 1-D Gaussian has exactly 2 free parameters: its mean and "
                 "its variance (its one weight is fixed at 1).")
    passed("your counts match gmmlib.model_selection.n_parameters for all four covariance types "
           f"on {len(cases)} random (K, D) pairs, and for K = D = 1.")


# ---------------------------------------------------------------------------------------------
# check_diag_covariances and check_tied_covariance
# ---------------------------------------------------------------------------------------------


def _m_step_problem(rng, covariance_type):
    """Data, soft responsibilities and the M-step means (weighted averages) of a fresh problem."""
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.choice([d for d in range(2, 6) if d != n_components]))  # shapes differ
    n_samples = int(rng.integers(30, 90))
    weights, means, covariances = random_mixture(rng, n_components, n_features, covariance_type)
    X = sample_mixture(rng, weights, means, covariances, covariance_type, n_samples)[0]
    X = X + 2.0  # keep the overall mean away from 0, so "not centred" and "wrong mean" differ
    resp = rng.dirichlet(np.full(n_components, 0.7), size=n_samples)
    Nk = resp.sum(axis=0)
    new_means = resp.T @ X / Nk[:, None]
    return X, resp, Nk, new_means


def _weighted_squares(X, resp, centres):
    """(K, D) array: sum_n gamma_nk (x_nd - c_kd)^2."""
    return np.stack([resp[:, k] @ (X - c) ** 2 for k, c in enumerate(centres)])


def _scatters(X, resp, centres):
    """(K, D, D) array: sum_n gamma_nk (x_n - c_k)(x_n - c_k)^T."""
    return np.stack([(resp[:, k] * (X - c).T) @ (X - c) for k, c in enumerate(centres)])


def _wrong_centres(X, means):
    """Typical wrong centres: the overall mean, zero, another component's mean."""
    yield "overall", np.broadcast_to(X.mean(axis=0), means.shape)
    yield "zero", np.zeros_like(means)
    for shift in range(1, len(means)):
        yield "other", np.roll(means, shift, axis=0)


_CENTRE_MESSAGES = {
    "overall": "are centred on the overall mean of X. Centre component k's on its own mean mu_k "
               "(the `means` argument): (x_nd - mu_kd)^2",
    "zero": "are not centred: you used x_nd^2. Subtract the component's mean first: "
            "(x_nd - mu_kd)^2",
    "other": "are centred on another component's mean (check the index k): use row k of "
             "`means` for component k",
}


def check_diag_covariances(func):
    """Check a reader's diagonal M-step ``func(X, resp, means) -> variances`` of shape (K, D).

    The right answer is :math:`\\sigma^2_{kd} = \\frac{1}{N_k}\\sum_n \\gamma_{nk}
    (x_{nd} - \\mu_{kd})^2` with :math:`N_k = \\sum_n \\gamma_{nk}` and no regularisation: the
    diagonal of the full M-step covariance, as in ``gmmlib.em.m_step(X, resp, "diag")``.

    Parameters
    ----------
    func : callable
        ``func(X, resp, means)`` with ``X`` of shape (N, D), responsibilities ``resp`` of shape
        (N, K) and the M-step means ``means`` of shape (K, D); it must return an array of shape
        (K, D).

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape (e.g. full (K, D, D) matrices) or values: not divided by
        N_k, divided by N, centred on the wrong mean, unweighted, ...

    Introduced in {ref}`ch-covariance-types`, Exercise ``ch06_ex3``.
    """
    rng = np.random.default_rng()
    n_trials = 4
    for _ in range(n_trials):
        X, resp, Nk, means = _m_step_problem(rng, "diag")
        (n_samples, n_features), n_components = X.shape, resp.shape[1]
        got = call_reader_function(func, X, resp, means)
        shape = np.shape(got)
        if shape == (n_components, n_features, n_features):
            fail(f"Your result has shape {shape}: full covariance matrices. The diagonal type "
                 "stores only the variances, one per component and feature: shape "
                 f"(K, D) = ({n_components}, {n_features}). Keep the diagonal of each matrix, "
                 "or better, never compute the off-diagonal entries.")
        if shape in ((n_features,), (n_features, n_features)):
            fail(f"Your result has shape {shape}: one set of variances for all components. Each "
                 f"component k needs its own D variances: shape (K, D) = ({n_components}, "
                 f"{n_features}).")
        got = check_shape("the variances", got, (n_components, n_features))
        squares = _weighted_squares(X, resp, means)
        expected = squares / Nk[:, None]
        if matches(got, expected):
            continue
        if matches(got, squares):
            fail("Your variances are not divided by N_k: you returned the weighted sums "
                 "sum_n gamma_nk (x_nd - mu_kd)^2. Divide row k by N_k = sum_n gamma_nk.")
        if matches(got, squares / n_samples):
            fail("Your variances are divided by N, the number of points; divide row k by the "
                 "component's own effective count N_k = sum_n gamma_nk instead.")
        if matches(got, squares / (Nk - 1)[:, None]):
            fail("Your variances are divided by N_k - 1; the maximum-likelihood M-step divides "
                 "by N_k.")
        for name, centres in _wrong_centres(X, means):
            if matches(got, _weighted_squares(X, resp, centres) / Nk[:, None]):
                fail("Your variances " + _CENTRE_MESSAGES[name] + ".")
        unweighted = np.stack([((X - m) ** 2).mean(axis=0) for m in means])
        if matches(got, unweighted):
            fail("Your variances ignore the responsibilities: every point counts fully for every "
                 "component. Weight point n's squared deviation by gamma_nk and divide by N_k.")
        check_close("the variances", got, expected, rtol=_RTOL, atol=_ATOL)
    passed(f"your diagonal M-step matches sum_n gamma_nk (x_nd - mu_kd)^2 / N_k on {n_trials} "
           "random problems (2 to 5 dimensions, 2 to 4 components).")


def check_tied_covariance(func):
    """Check a reader's tied M-step ``func(X, resp, means) -> covariance`` of shape (D, D).

    The right answer is :math:`\\Sigma = \\frac{1}{N}\\sum_k \\sum_n \\gamma_{nk}
    (x_n - \\mu_k)(x_n - \\mu_k)^\\top = \\sum_k \\frac{N_k}{N} \\Sigma_k^{\\text{full}}`, with no
    regularisation, as in ``gmmlib.em.m_step(X, resp, "tied")``.

    Parameters
    ----------
    func : callable
        ``func(X, resp, means)`` with ``X`` of shape (N, D), responsibilities ``resp`` of shape
        (N, K) and the M-step means ``means`` of shape (K, D); it must return one (D, D) matrix.

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape (e.g. one matrix per component) or values: an
        unweighted average of the components' covariances, their sum, divided by the wrong
        count, centred on the wrong mean, ...

    Introduced in {ref}`ch-covariance-types`, Exercise ``ch06_ex4``.
    """
    rng = np.random.default_rng()
    n_trials = 4
    for _ in range(n_trials):
        X, resp, Nk, means = _m_step_problem(rng, "tied")
        (n_samples, n_features), n_components = X.shape, resp.shape[1]
        got = call_reader_function(func, X, resp, means)
        if np.shape(got) == (n_components, n_features, n_features):
            fail(f"Your result has shape {np.shape(got)}: one matrix per component. A tied "
                 f"model has ONE covariance shared by all components: shape (D, D) = "
                 f"({n_features}, {n_features}). Pool the components' scatter matrices.")
        got = check_shape("the tied covariance", got, (n_features, n_features))
        scatters = _scatters(X, resp, means)
        expected = scatters.sum(axis=0) / n_samples
        if matches(got, expected):
            continue
        per_component = scatters / Nk[:, None, None]
        if matches(got, per_component.mean(axis=0)):
            fail("You averaged the components' covariances with equal weights 1/K. Weight "
                 "component k's by N_k / N (its share of the points): Sigma = (1/N) sum_k sum_n "
                 "gamma_nk (x_n - mu_k)(x_n - mu_k)^T.")
        if matches(got, per_component.sum(axis=0)):
            fail("You added up the components' covariances; their weighted AVERAGE is needed, "
                 "with weights N_k / N.")
        if matches(got, scatters.sum(axis=0)):
            fail("Your covariance is not divided by N: you returned the pooled scatter "
                 "sum_k sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T. Divide by N, the number of "
                 "points (the sum of all N_k).")
        if matches(got, scatters.sum(axis=0) / n_components):
            fail("You divided the pooled scatter by K, the number of components; divide by N, "
                 "the number of points (the sum of all N_k).")
        if matches(got, np.cov(X.T, bias=True)):
            fail("You returned the covariance of all of X around its overall mean. The tied "
                 "covariance measures the spread of each point around ITS component's mean mu_k, "
                 "weighted by gamma_nk.")
        for name, centres in _wrong_centres(X, means):
            if matches(got, _scatters(X, resp, centres).sum(axis=0) / n_samples):
                fail("Your scatter matrices " + _CENTRE_MESSAGES[name].replace("(x_nd - mu_kd)^2",
                     "(x_n - mu_k)(x_n - mu_k)^T").replace("x_nd^2", "x_n x_n^T") + ".")
        check_close("the tied covariance", got, expected, rtol=_RTOL, atol=_ATOL)
    passed(f"your tied M-step matches (1/N) sum_k sum_n gamma_nk (x_n - mu_k)(x_n - mu_k)^T on "
           f"{n_trials} random problems (2 to 5 dimensions, 2 to 4 components).")
