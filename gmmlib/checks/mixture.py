"""Self-checks for chapter 3, {ref}`ch-mixture-model` ("The mixture model").

- :func:`check_boundary_points` -- where the two responsibilities of a 1-D two-component mixture
  are equal: the roots of a quadratic, zero, one or two of them.
- :func:`check_mixture_moments` -- the mean and the covariance of a Gaussian mixture, by the laws
  of total expectation and total variance.

Both call the reader's function on a fixed set of seeded random problems (including the special
cases: equal variances, a component that never wins), compare the result with a reference, and
either print a short success message or raise :class:`~gmmlib.checks.SelfCheckError` saying in
plain words what looks wrong.
"""

import numpy as np

from ._core import call_reader_function, check_rng, fail, passed, self_check

__all__ = ["check_boundary_points", "check_mixture_moments"]


# ---------------------------------------------------------------------------------------------
# Where gamma_1(x) = gamma_2(x) in one dimension
# ---------------------------------------------------------------------------------------------

def _quadratic(weights, means, sds):
    """Coefficients (a, b, c) of a x^2 + b x + c = log(pi_1 N_1(x)) - log(pi_2 N_2(x))."""
    (w1, w2), (m1, m2), (s1, s2) = weights, means, sds
    a = 1 / (2 * s2**2) - 1 / (2 * s1**2)
    b = m1 / s1**2 - m2 / s2**2
    c = m2**2 / (2 * s2**2) - m1**2 / (2 * s1**2) + np.log(w1 / w2) + np.log(s2 / s1)
    return a, b, c


def _roots(a, b, c):
    """Real roots of a x^2 + b x + c, sorted; the linear case when a == 0."""
    if a == 0:
        return np.array([]) if b == 0 else np.array([-c / b])
    discriminant = b**2 - 4 * a * c
    if discriminant < 0:
        return np.array([])
    root = np.sqrt(discriminant)
    # the two forms avoid cancellation between -b and the square root
    q = -0.5 * (b + np.copysign(root, b))
    return np.sort(np.array([q / a, c / q])) if q != 0 else np.array([0.0])


def boundary_reference(weights, means, sds):
    """The points where pi_1 N(x | mu_1, s_1^2) = pi_2 N(x | mu_2, s_2^2), sorted."""
    return _roots(*_quadratic(weights, means, sds))


# (weights, means, sds, what the case shows)
_BOUNDARY_CASES = [
    ((0.5, 0.5), (-2.0, 2.0), (1.0, 1.0), "equal weights and widths"),
    ((0.8, 0.2), (-2.0, 2.0), (1.0, 1.0), "unequal weights, equal widths"),
    ((0.5, 0.5), (-2.0, 2.0), (0.5, 1.5), "unequal widths: two crossings"),
    ((0.3, 0.7), (1.0, -0.5), (2.0, 0.7), "unequal widths and weights"),
    ((0.02, 0.98), (0.0, 0.5), (0.5, 2.0), "a narrow, light component that never wins"),
]


def _boundary_cases(rng):
    """The fixed cases above, then random ones with two crossings."""
    yield from _BOUNDARY_CASES
    for _ in range(3):
        while True:
            weights = rng.dirichlet([4.0, 4.0])
            means = rng.normal(scale=2.0, size=2)
            sds = rng.uniform(0.4, 2.5, size=2)
            if len(boundary_reference(weights, means, sds)) == 2 and abs(sds[0] - sds[1]) > 0.3:
                break
        yield tuple(weights), tuple(means), tuple(sds), "random"


def _as_points(result):
    try:
        points = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        fail(f"your function should return an array of points x, but it returned a "
             f"{type(result).__name__}.")
    if points.ndim == 0:
        points = points.reshape(1)
    if points.ndim != 1:
        fail(f"your function should return a 1-D array of 0, 1 or 2 points, but it returned an "
             f"array of shape {points.shape}.")
    return points


@self_check
def check_boundary_points(func):
    """Check a reader's ``boundary_points(weights, means, sds)``.

    The function returns the points :math:`x` where the two components of a 1-D mixture are
    equally responsible, :math:`\\pi_1 \\mathcal N(x \\mid \\mu_1, \\sigma_1^2) = \\pi_2
    \\mathcal N(x \\mid \\mu_2, \\sigma_2^2)`, as a sorted 1-D array: two points when the widths
    differ (or none, when one component never wins), one when they are equal.

    Parameters
    ----------
    func : callable
        ``func(weights, means, sds) -> array`` with three sequences of length 2: the weights
        :math:`\\pi_k`, the means :math:`\\mu_k` and the standard deviations :math:`\\sigma_k`.

    Raises
    ------
    SelfCheckError
        If a case comes out wrong; the message names the case and the likely mistake (the
        weights or the normalising constants left out, one root instead of two, the equal-width
        case, an unsorted result).

    Introduced in {ref}`ch-mixture-model`, Exercise ``ch03_ex2``.
    """
    rng = check_rng("check_boundary_points")
    n_cases = 0
    for weights, means, sds, what in _boundary_cases(rng):
        expected = boundary_reference(weights, means, sds)
        got = _as_points(call_reader_function(func, list(weights), list(means), list(sds)))
        n_cases += 1
        case = (f" (case: {what}; weights {weights[0]:.3g}, {weights[1]:.3g}, means "
                f"{means[0]:.3g}, {means[1]:.3g}, sds {sds[0]:.3g}, {sds[1]:.3g})")
        if got.shape == expected.shape and np.allclose(got, expected, rtol=1e-7, atol=1e-9):
            continue
        if not np.all(np.isfinite(got)):
            fail("your function returned NaN or infinite values. With equal standard deviations "
                 "the x^2 terms cancel and the equation is linear: solve b x + c = 0 instead of "
                 "using the quadratic formula." + case)
        if got.shape == expected.shape and np.allclose(np.sort(got), expected):
            fail("the points are right but not sorted: return them in increasing order." + case)
        without_weights = boundary_reference((0.5, 0.5), means, sds)
        if got.shape == without_weights.shape and np.allclose(got, without_weights):
            fail("your points ignore the weights: the boundary is where pi_1 N_1(x) = pi_2 N_2(x), "
                 "so log(pi_1 / pi_2) belongs in the constant term." + case)
        a, b, c = _quadratic(weights, means, sds)
        without_scale = _roots(a, b, c - np.log(sds[1] / sds[0]))
        if got.shape == without_scale.shape and np.allclose(got, without_scale):
            fail("your points leave out the normalising constants 1 / (sqrt(2 pi) sigma_k): "
                 "with unequal widths they do not cancel, and log(sigma_2 / sigma_1) belongs in "
                 "the constant term." + case)
        if len(expected) == 2 and len(got) == 1 and np.any(np.isclose(got[0], expected)):
            fail("your function found one crossing, but with unequal widths there are two: the "
                 "wider component wins again far out on the other side. Return both roots of the "
                 "quadratic." + case)
        if len(expected) == 0 and len(got) > 0:
            fail("here one component is never the more responsible one (the quadratic has no "
                 "real root), so the answer is an empty array; you returned "
                 f"{np.round(got, 4).tolist()}." + case)
        fail(f"the points are not right: you returned {np.round(got, 6).tolist()}, the "
             f"responsibilities are equal at {np.round(expected, 6).tolist()}." + case)
    passed(f"your boundary points are right in all {n_cases} cases, with none, one and two "
           "crossings.")


# ---------------------------------------------------------------------------------------------
# Mean and covariance of a mixture
# ---------------------------------------------------------------------------------------------

def _random_covariance(rng, n_features):
    q, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    covariance = (q * rng.uniform(0.3, 3.0, size=n_features)) @ q.T
    return (covariance + covariance.T) / 2


def moments_reference(weights, means, covariances):
    """Mean (D,) and covariance (D, D) of the mixture, by total expectation and variance."""
    mean = weights @ means
    second_moment = np.einsum("k,kij->ij", weights, covariances) + np.einsum(
        "k,ki,kj->ij", weights, means, means
    )
    return mean, second_moment - np.outer(mean, mean)


@self_check
def check_mixture_moments(func):
    """Check a reader's ``mixture_moments(weights, means, covariances)``.

    The expected result is the mean :math:`\\sum_k \\pi_k \\mu_k` and the covariance
    :math:`\\sum_k \\pi_k \\big(\\Sigma_k + (\\mu_k - \\mu)(\\mu_k - \\mu)^\\top\\big)` of the
    mixture, computed here from the second moment.

    Parameters
    ----------
    func : callable
        ``func(weights (K,), means (K, D), covariances (K, D, D)) -> (mean (D,), covariance (D, D))``.

    Raises
    ------
    SelfCheckError
        If the mean or the covariance is wrong; the message names the likely mistake (an
        unweighted average, only the within-component part, the second moment without
        subtracting :math:`\\mu\\mu^\\top`).

    Introduced in {ref}`ch-mixture-model`, Exercise ``ch03_ex3``.
    """
    rng = check_rng("check_mixture_moments")
    n_trials = 4
    for trial in range(n_trials):
        n_components, n_features = int(rng.integers(2, 5)), int(rng.integers(1, 4)) + (trial > 0)
        weights = rng.dirichlet(np.full(n_components, 2.0))
        means = rng.normal(scale=3.0, size=(n_components, n_features))
        covariances = np.stack([_random_covariance(rng, n_features) for _ in range(n_components)])
        result = call_reader_function(func, weights, means, covariances)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail("your function should return two things, `mean, covariance`.")
        mean, covariance = (np.asarray(r, dtype=float) for r in result)
        expected_mean, expected_cov = moments_reference(weights, means, covariances)
        if mean.shape != (n_features,) or covariance.shape != (n_features, n_features):
            fail(f"the mean should have shape ({n_features},) and the covariance shape "
                 f"({n_features}, {n_features}); yours have shapes {mean.shape} and "
                 f"{covariance.shape}.")
        if not np.allclose(mean, expected_mean, rtol=1e-7, atol=1e-9):
            if np.allclose(mean, means.mean(axis=0)):
                fail("your mean is the plain average of the component means: weight each by "
                     "its pi_k, mean = sum_k pi_k mu_k.")
            fail("the mean is not right: it is sum_k pi_k mu_k (law of total expectation).")
        if np.allclose(covariance, expected_cov, rtol=1e-7, atol=1e-9):
            continue
        within = np.einsum("k,kij->ij", weights, covariances)
        if np.allclose(covariance, within):
            fail("your covariance is only the weighted average of the component covariances. "
                 "The spread of the component means adds to it: "
                 "+ sum_k pi_k (mu_k - mu)(mu_k - mu)^T (law of total variance).")
        if np.allclose(covariance, expected_cov + np.outer(expected_mean, expected_mean)):
            fail("you returned the second moment E[x x^T]; subtract mu mu^T to get the "
                 "covariance.")
        unweighted = np.mean(covariances, axis=0) + np.cov(means.T, bias=True).reshape(
            n_features, n_features)
        if np.allclose(covariance, unweighted):
            fail("your covariance averages the components without their weights pi_k.")
        fail("the covariance is not right: it is sum_k pi_k Sigma_k + sum_k pi_k (mu_k - mu)"
             "(mu_k - mu)^T.")
    passed(f"your mixture mean and covariance are right on {n_trials} random mixtures.")
