"""Self-checks for chapter 3, {ref}`ch-mixture-model` ("The mixture model").

- :func:`check_boundary_points` -- where the two responsibilities of a 1-D two-component mixture
  are equal: the roots of a quadratic, zero, one or two of them.
- :func:`check_mixture_moments` -- the mean and the covariance of a Gaussian mixture, by the laws
  of total expectation and total variance.
- :func:`check_sample_mixture` -- ancestral sampling for the four covariance types: choose a
  component with probability :math:`\\pi_k`, then draw from its Gaussian.

All call the reader's function on a fixed set of seeded random problems (including the special
cases: equal variances, a component that never wins), compare the result with a reference, and
either print a short success message or raise :class:`~gmmlib.checks.SelfCheckError` saying in
plain words what looks wrong.
"""

import numpy as np

from ._core import call_reader_function, check_rng, fail, passed, self_check

__all__ = ["check_boundary_points", "check_mixture_moments", "check_sample_mixture"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


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


# ---------------------------------------------------------------------------------------------
# Ancestral sampling, four covariance types
# ---------------------------------------------------------------------------------------------

# Statistical tolerance of check_sample_mixture, in standard errors. With a few hundred statistics
# per call, a correct sampler fails by chance with probability below 1e-6; the inputs are
# seeded, so a given sampler gets the same verdict every time.
_N_SIGMA = 6.0


def _full_covariances(covariances, covariance_type, n_components, n_features):
    """The (K, D, D) matrices that scikit-learn's shapes for ``covariance_type`` stand for."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(v) for v in covariances])
    return covariances[:, None, None] * np.eye(n_features)


def _stored_covariances(full, covariance_type):
    """Full (K, D, D) matrices in the shape scikit-learn stores for ``covariance_type``."""
    if covariance_type == "full":
        return full
    if covariance_type == "tied":
        return full[0]
    if covariance_type == "diag":
        return np.diagonal(full, axis1=1, axis2=2).copy()
    return full[:, 0, 0].copy()


def _random_sampling_problem(rng, covariance_type):
    n_components, n_features = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    weights = rng.permutation(np.linspace(1.0, 3.0, n_components))
    weights /= weights.sum()
    means = rng.normal(scale=4.0, size=(n_components, n_features))
    # Variances far from 1, so that Sigma, Sigma squared and the identity are far apart; full
    # and tied matrices are elongated and tilted, so that L L^T and L^T L differ too.
    if covariance_type in ("full", "tied"):
        full = []
        for _ in range(n_components if covariance_type == "full" else 1):
            q, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
            eigenvalues = rng.permutation(np.r_[rng.uniform(0.3, 0.6),
                                                rng.uniform(4.0, 6.0, size=n_features - 1)])
            full.append((q * eigenvalues) @ q.T)
        full = np.array(full * (n_components if covariance_type == "tied" else 1))
        full = (full + np.swapaxes(full, 1, 2)) / 2
    elif covariance_type == "diag":
        full = np.stack([np.diag(rng.uniform(2.0, 5.0, size=n_features))
                         for _ in range(n_components)])
    else:
        full = rng.uniform(2.0, 5.0, size=n_components)[:, None, None] * np.eye(n_features)
    return weights, means, _stored_covariances(full, covariance_type), full


def _as_samples(result, n_samples, n_features, n_components):
    """Split the reader's result into X (n_samples, n_features) and z (n_samples,) or fail."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("your function should return two things, the points and the component each point "
             "came from: `return X, z`, with X of shape (n_samples, D) and z of shape "
             f"(n_samples,). It returned {type(result).__name__} instead.")
    X, z = result
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        fail("the first thing your function returns, X, should be a NumPy array of numbers.")
    if X.shape != (n_samples, n_features):
        hint = " It looks transposed: put one sample per row." if X.shape == (n_features, n_samples) else ""
        fail(f"X has shape {X.shape}, but for n_samples={n_samples} points in D={n_features} "
             f"dimensions it should have shape ({n_samples}, {n_features}).{hint}")
    if not np.all(np.isfinite(X)):
        fail("X contains NaN or infinite values: every sample should be a finite number.")
    z = np.asarray(z)
    if z.shape != (n_samples,):
        fail(f"z has shape {z.shape}, but it should hold one component label per point: shape "
             f"({n_samples},). Choose a component for each point: "
             "`rng.choice(K, size=n_samples, p=weights)`.")
    if not np.issubdtype(z.dtype, np.number) or not np.array_equal(z, np.round(z)):
        fail("z should hold whole-number component labels 0, 1, ..., K-1.")
    z = z.astype(int)
    if z.min() < 0 or z.max() >= n_components:
        fail(f"z should hold component labels between 0 and K-1 = {n_components - 1}, but it holds "
             f"values from {z.min()} to {z.max()}.")
    return X, z


def _covariance_matches(S, target, n_k):
    """Is the sample covariance S within sampling error of the covariance ``target``?"""
    variances = np.diag(target)
    standard_error = np.sqrt((np.outer(variances, variances) + target**2) / n_k)
    return bool(np.all(np.abs(S - target) <= _N_SIGMA * standard_error))


def _check_one_sample(func, rng, covariance_type):
    weights, means, covariances, full = _random_sampling_problem(rng, covariance_type)
    K, D = means.shape
    N = int(rng.integers(15_000, 25_001))
    reader_rng = np.random.default_rng(rng.integers(2**32))
    result = call_reader_function(func, weights, means, covariances, covariance_type, N,
                                  reader_rng)
    X, z = _as_samples(result, N, D, K)
    where = f' (covariance_type="{covariance_type}")'

    frequencies = np.bincount(z, minlength=K) / N
    standard_error = np.sqrt(weights * (1 - weights) / N)
    if np.any(np.abs(frequencies - weights) > _N_SIGMA * standard_error):
        uniform = np.full(K, 1 / K)
        if np.all(np.abs(frequencies - uniform) <= _N_SIGMA * np.sqrt(uniform * (1 - uniform) / N)):
            fail(f"the components were chosen uniformly, ignoring the weights "
                 f"{np.round(weights, 3).tolist()}. Choose component k with probability pi_k: "
                 "`rng.choice(K, size=n_samples, p=weights)`." + where)
        k = int(np.argmax(np.abs(frequencies - weights) / standard_error))
        fail(f"component {k} was chosen for {frequencies[k]:.1%} of the points, but its weight is "
             f"{weights[k]:.1%}: far more than sampling error." + where)

    for k in range(K):
        Xk = X[z == k]
        n_k = len(Xk)
        Sigma = full[k]
        if np.any(np.abs(Xk.mean(axis=0) - means[k]) > _N_SIGMA * np.sqrt(np.diag(Sigma) / n_k)):
            fail(f"the points labelled z = {k} do not have mean mu_{k}: add the chosen component's "
                 "mean, `means[z]`, to every point, and return the labels you used." + where)
        S = np.cov(Xk, rowvar=False, bias=True)
        if _covariance_matches(S, Sigma, n_k):
            continue
        if _covariance_matches(S, Sigma @ Sigma, n_k):
            if covariance_type in ("diag", "spherical"):
                fail(f"the points of component {k} have the SQUARED variances: for "
                     f'"{covariance_type}" the stored numbers are variances, so multiply the '
                     "standard-normal draws by their square roots." + where)
            fail(f"the points of component {k} have covariance Sigma @ Sigma: multiply the "
                 "standard-normal draws by the Cholesky factor L of Sigma, not by Sigma." + where)
        L = np.linalg.cholesky(Sigma)
        if _covariance_matches(S, L.T @ L, n_k):
            fail(f"the points of component {k} have covariance L^T L instead of L L^T: with one "
                 "sample per row, multiply by L transposed, `eps @ L.T`." + where)
        if _covariance_matches(S, np.eye(D), n_k):
            fail(f"the points of component {k} have identity covariance: the standard-normal "
                 "draws were not scaled at all." + where)
        fail(f"the points of component {k} have sample covariance {np.round(S, 2).tolist()}, but "
             f"the component's covariance is {np.round(Sigma, 2).tolist()}." + where)


@self_check
def check_sample_mixture(func):
    """Check a reader's ancestral sampler for the four covariance types.

    ``func(weights, means, covariances, covariance_type, n_samples, rng)`` must return
    ``(X, z)``: the samples, shape ``(n_samples, D)``, and the component each was drawn from,
    shape ``(n_samples,)``, drawing from the generator ``rng``. ``covariances`` has scikit-learn's
    shape for ``covariance_type``: (K, D, D) for ``"full"``, (D, D) for ``"tied"``, (K, D) for
    ``"diag"`` and (K,) for ``"spherical"``. For each type the check draws a random mixture (2-4
    components in 2-3 dimensions, 15,000 to 25,000 samples) and tests, within sampling error,
    that component ``k`` is chosen with frequency ``weights[k]`` and that its points have the
    right mean and covariance.

    Parameters
    ----------
    func : callable
        The reader's sampler.

    Raises
    ------
    SelfCheckError
        Saying in plain words what is wrong (the weights ignored, variances used as standard
        deviations, the covariance instead of its Cholesky factor, a transposed factor, ...).

    Introduced in {ref}`ch-mixture-model`, Exercise ``ch03_ex5``.
    """
    rng = check_rng("check_sample_mixture")
    for covariance_type in COVARIANCE_TYPES:
        _check_one_sample(func, rng, covariance_type)
    passed("your sampler chooses each component with probability pi_k and draws its points with "
           "the right mean and covariance, for all four covariance types (within sampling error).")
