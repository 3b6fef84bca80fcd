"""Self-checks for chapter 3, {ref}`ch-mixture-model` ("The mixture model").

- :func:`check_sample_mixture` -- ancestral sampling from a Gaussian mixture: choose a component
  with probability :math:`\\pi_k`, then draw from :math:`\\mathcal N(\\mu_k, \\Sigma_k)`.
- :func:`check_responsibilities` -- the responsibilities :math:`\\gamma_{nk}` by Bayes' rule.

Both call the reader's function on random mixtures (several numbers of components, dimensions
and sample sizes), compare the result with an independent reference computed with
NumPy/SciPy, and either print a short success message or raise
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from ._core import call_reader_function, check_rng, fail, passed, self_check

__all__ = ["check_sample_mixture", "check_responsibilities"]

# Statistical tolerance of check_sample_mixture, in standard errors. With about 100 statistics
# per call, a correct sampler fails by chance with probability below 1e-6.
_N_SIGMA = 6.0


def _random_weights(rng, n_components):
    """Clearly non-uniform weights (proportional to 1, ..., 3 in a random order)."""
    weights = rng.permutation(np.linspace(1.0, 3.0, n_components))
    weights = weights * rng.uniform(0.95, 1.05, size=n_components)
    return weights / weights.sum()


def _random_covariance(rng, n_features, low, high):
    """A random rotation of a diagonal matrix whose eigenvalues lie in [low, high]."""
    q, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    eigenvalues = rng.uniform(low, high, size=n_features)
    covariance = (q * eigenvalues) @ q.T
    return (covariance + covariance.T) / 2


def _random_mixture(rng, n_components, n_features, spread, low, high):
    weights = _random_weights(rng, n_components)
    means = rng.normal(scale=spread, size=(n_components, n_features))
    covariances = np.stack([_random_covariance(rng, n_features, low, high)
                            for _ in range(n_components)])
    return weights, means, covariances


# ---------------------------------------------------------------------------------------------
# Ancestral sampling
# ---------------------------------------------------------------------------------------------

def _as_samples(result, n_samples, n_features, n_components):
    """Split the reader's result into X (n_samples, n_features) and z (n_samples,) or fail."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("Your function should return two things, the points and the component each point "
             "came from: `return X, z`, with X of shape (n_samples, D) and z of shape "
             f"(n_samples,). It returned {type(result).__name__} instead.")
    X, z = result
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        fail("The first thing your function returns, X, should be a NumPy array of numbers.")
    if X.shape != (n_samples, n_features):
        hint = ""
        if X.shape == (n_features, n_samples):
            hint = " It looks transposed: put one sample per row (use `.T`)."
        elif X.shape == (n_samples,) and n_features == 1:
            hint = " Keep X two-dimensional even when D = 1 (one column)."
        fail(f"X has shape {X.shape}, but asked for n_samples={n_samples} points in D={n_features} "
             f"dimensions it should have shape ({n_samples}, {n_features}).{hint}")
    if not np.all(np.isfinite(X)):
        fail("X contains NaN or infinite values: every sample should be a finite number.")
    z = np.asarray(z)
    if z.ndim == 0:
        fail("z is a single number, but it should hold one component label per point, shape "
             f"({n_samples},). It looks like you chose one component for the whole sample: "
             "choose a component for each point separately, e.g. "
             "`rng.choice(K, size=n_samples, p=weights)`.")
    if z.shape != (n_samples,):
        fail(f"z has shape {z.shape}, but it should hold one component label per point: shape "
             f"({n_samples},).")
    if not np.issubdtype(z.dtype, np.number) or not np.all(np.isfinite(z)) \
            or not np.array_equal(z, np.round(z)):
        fail("z should hold whole-number component labels 0, 1, ..., K-1.")
    z = z.astype(int)
    if z.min() < 0 or z.max() >= n_components:
        fail(f"z should hold component labels between 0 and K-1 = {n_components - 1}, but it holds "
             f"values from {z.min()} to {z.max()}.")
    return X, z


def _covariance_matches(S, target, n_k):
    """Is the sample covariance S within sampling error of the covariance `target`?"""
    variances = np.diag(target)
    standard_error = np.sqrt((np.outer(variances, variances) + target**2) / n_k)
    return bool(np.all(np.abs(S - target) <= _N_SIGMA * standard_error))


def _check_one_sample(func, rng):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(1, 4))
    n_samples = int(rng.integers(15_000, 25_001))
    # Eigenvalues in [2, 5], so that Sigma, Sigma @ Sigma and the identity are far apart.
    weights, means, covariances = _random_mixture(rng, n_components, n_features,
                                                  spread=4.0, low=2.0, high=5.0)
    reader_rng = np.random.default_rng(rng.integers(2**32))
    result = call_reader_function(func, weights, means, covariances, n_samples, reader_rng)
    X, z = _as_samples(result, n_samples, n_features, n_components)

    counts = np.bincount(z, minlength=n_components)
    if np.count_nonzero(counts) == 1:
        fail(f"Every point came from one component (component {int(z[0])}), but the mixture has "
             f"{n_components} components with weights {np.round(weights, 3).tolist()}. Choose a "
             "component for each point separately: `z = rng.choice(K, size=n_samples, "
             "p=weights)`.")
    frequencies = counts / n_samples
    standard_error = np.sqrt(weights * (1 - weights) / n_samples)
    if np.any(np.abs(frequencies - weights) > _N_SIGMA * standard_error):
        uniform = np.full(n_components, 1 / n_components)
        uniform_error = np.sqrt(uniform * (1 - uniform) / n_samples)
        if np.all(np.abs(frequencies - uniform) <= _N_SIGMA * uniform_error):
            fail(f"The components were chosen uniformly (each about 1/{n_components} of the "
                 f"time), ignoring the weights {np.round(weights, 3).tolist()}. Choose component k "
                 "with probability pi_k: `rng.choice(K, size=n_samples, p=weights)`.")
        k = int(np.argmax(np.abs(frequencies - weights) / standard_error))
        fail(f"Component {k} was chosen for {frequencies[k]:.1%} of the points, but its weight is "
             f"{weights[k]:.1%}; with {n_samples} samples that is far more than sampling error. "
             "Component k should be chosen with probability pi_k = weights[k].")

    for k in range(n_components):
        Xk = X[z == k]
        n_k = len(Xk)
        mean_k = Xk.mean(axis=0)
        mean_error = np.sqrt(np.diag(covariances[k]) / n_k)
        if np.any(np.abs(mean_k - means[k]) > _N_SIGMA * mean_error):
            fail(f"The points labelled z = {k} have mean {np.round(mean_k, 2).tolist()}, but "
                 f"component {k} has mean {np.round(means[k], 2).tolist()}. Draw the points "
                 "labelled k from component k: add `means[z]` (the chosen component's mean) to "
                 "each point, and return the labels you actually used.")
        S = np.cov(Xk, rowvar=False, bias=True).reshape(n_features, n_features)
        Sigma = covariances[k]
        if _covariance_matches(S, Sigma, n_k):
            continue
        L = np.linalg.cholesky(Sigma)
        if _covariance_matches(S, Sigma @ Sigma, n_k):
            fail(f"The points of component {k} have covariance close to Sigma @ Sigma instead of "
                 "Sigma: it looks like you multiplied the standard-normal draws by the "
                 "covariance matrix itself. Multiply by its Cholesky factor L instead "
                 "(Sigma = L L^T, `L = np.linalg.cholesky(Sigma)`).")
        if n_features > 1 and _covariance_matches(S, L.T @ L, n_k):
            fail(f"The points of component {k} have covariance L^T L instead of L L^T = Sigma: "
                 "with one sample per row, multiply the standard-normal draws by L transposed, "
                 "`eps @ L.T` (or `(L @ eps.T).T`), not `eps @ L`.")
        if _covariance_matches(S, np.eye(n_features), n_k):
            fail(f"The points of component {k} have identity covariance: it looks like you added "
                 "the mean to standard-normal draws without multiplying them by the Cholesky "
                 "factor L of Sigma.")
        fail(f"The points of component {k} have sample covariance "
             f"{np.round(S, 2).tolist()}, but component {k} has covariance "
             f"{np.round(Sigma, 2).tolist()}; the difference is larger than sampling error. "
             "Draw each point as mu_k + L_k eps with eps standard normal and L_k the Cholesky "
             "factor of Sigma_k.")


@self_check
def check_sample_mixture(func, n_trials=3):
    """Check a reader's ancestral sampler ``func(weights, means, covariances, n_samples, rng)``.

    Introduced in {ref}`ch-mixture-model`. ``func`` must return ``(X, z)``: the samples, shape
    ``(n_samples, D)``, and the component each one was drawn from, shape ``(n_samples,)``. The
    check draws ``n_trials`` random mixtures (2-4 components in 1-3 dimensions, 15,000 to
    25,000 samples each) and tests, within sampling error, that component ``k`` is chosen with
    frequency ``weights[k]`` and that the points labelled ``k`` have mean ``means[k]`` and
    covariance ``covariances[k]``.

    Parameters
    ----------
    func : callable
        ``func(weights (K,), means (K, D), covariances (K, D, D), n_samples, rng) -> (X, z)``,
        where ``rng`` is a :class:`numpy.random.Generator` the function should draw from.
    n_trials : int, default=3
        Number of random mixtures to test on.

    Raises
    ------
    SelfCheckError
        Saying in plain words what is wrong.
    """
    rng = check_rng("check_sample_mixture")
    for _ in range(n_trials):
        _check_one_sample(func, rng)
    passed("your sampler chooses each component with probability pi_k and draws the points of "
           "component k with mean mu_k and covariance Sigma_k (tested on "
           f"{n_trials} random mixtures, within sampling error).")


# ---------------------------------------------------------------------------------------------
# Responsibilities
# ---------------------------------------------------------------------------------------------

def _log_weighted_densities(X, weights, means, covariances):
    """log pi_k + log N(x_n | mu_k, Sigma_k), shape (N, K), computed with SciPy."""
    return np.column_stack([
        np.log(weights[k]) + stats.multivariate_normal(means[k], covariances[k]).logpdf(X)
        for k in range(len(weights))
    ]).reshape(len(X), len(weights))


def _normalise_rows(log_values):
    return np.exp(log_values - logsumexp(log_values, axis=1, keepdims=True))


def _close(a, b):
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-8))


def _check_one_responsibilities(func, rng):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(1, 4))
    n_samples = int(rng.integers(20, 61))
    # Means close together relative to the spread, so that responsibilities are not all 0 or 1
    # and the weights visibly matter.
    weights, means, covariances = _random_mixture(rng, n_components, n_features,
                                                  spread=1.0, low=0.5, high=2.0)
    z = rng.choice(n_components, size=n_samples, p=weights)
    X = np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in z])

    result = call_reader_function(func, X, weights, means, covariances)
    try:
        gamma = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        fail("Your function should return a NumPy array of numbers, shape (N, K), but it returned "
             f"{type(result).__name__}.")
    shape = (n_samples, n_components)
    if gamma.shape != shape:
        hint = ""
        if gamma.shape == shape[::-1]:
            hint = " It looks transposed: put one row per data point and one column per component."
        fail(f"Your function returned an array of shape {gamma.shape}, but for N = {n_samples} "
             f"points and K = {n_components} components it should have shape {shape}: one row "
             f"per point, one column per component.{hint}")
    if not np.all(np.isfinite(gamma)):
        fail("Your function returned NaN or infinite values. Responsibilities are probabilities "
             "between 0 and 1; check for a division by zero.")
    if np.any(gamma < -1e-12):
        fail("Some responsibilities are negative, but they are probabilities between 0 and 1.")

    log_weighted = _log_weighted_densities(X, weights, means, covariances)
    expected = _normalise_rows(log_weighted)
    if _close(gamma, expected):
        return
    row_sums = gamma.sum(axis=1)
    if not np.allclose(row_sums, 1.0, rtol=1e-6):
        if _close(gamma, np.exp(log_weighted)):
            fail("The rows of your result do not sum to 1: you returned pi_k N(x_n | mu_k, "
                 "Sigma_k) without dividing by its sum over the components, p(x_n). Divide each "
                 "row by its sum (`axis=1, keepdims=True`).")
        column_sums = gamma.sum(axis=0)
        if np.allclose(column_sums, 1.0, rtol=1e-6):
            fail("You normalised over the wrong axis: each column of your result sums to 1, but "
                 "the responsibilities of one data point (one row) should sum to 1. Divide by "
                 "the sum over the components, `axis=1` (with `keepdims=True`), not over the "
                 "data points.")
        fail("The rows of your result do not sum to 1, but the responsibilities of each data "
             "point are probabilities over the K components and must sum to 1.")
    uniform = np.full(n_components, 1 / n_components)
    if _close(gamma, _normalise_rows(_log_weighted_densities(X, uniform, means, covariances))):
        fail("Your responsibilities ignore the mixing weights: they equal the normalised "
             "densities N(x_n | mu_k, Sigma_k). Multiply each component's density by its weight "
             "pi_k before normalising (Bayes' rule: the prior times the likelihood).")
    n, k = np.unravel_index(np.argmax(np.abs(gamma - expected)), shape)
    fail(f"Your rows sum to 1, but the values differ from Bayes' rule: for data point {n} and "
         f"component {k} you returned {gamma[n, k]:.4f}, the expected value is "
         f"{expected[n, k]:.4f}. Check the Gaussian density (full covariance, its determinant "
         "and inverse) and that column k uses component k's weight, mean and covariance.")


@self_check
def check_responsibilities(func, n_trials=5):
    """Check a reader's ``func(X, weights, means, covariances)`` returning responsibilities.

    Introduced in {ref}`ch-mixture-model`. The expected result is the (N, K) array
    :math:`\\gamma_{nk} = \\pi_k \\mathcal N(x_n \\mid \\mu_k, \\Sigma_k) / \\sum_j \\pi_j
    \\mathcal N(x_n \\mid \\mu_j, \\Sigma_j)`, computed here with SciPy on ``n_trials``
    random mixtures (2-4 overlapping components in 1-3 dimensions, 20 to 60 points).

    Parameters
    ----------
    func : callable
        ``func(X (N, D), weights (K,), means (K, D), covariances (K, D, D)) -> (N, K)``.
    n_trials : int, default=5
        Number of random problems to test on.

    Raises
    ------
    SelfCheckError
        Saying in plain words what is wrong.
    """
    rng = check_rng("check_responsibilities")
    for _ in range(n_trials):
        _check_one_responsibilities(func, rng)
    passed("your responsibilities match Bayes' rule, pi_k N(x_n | mu_k, Sigma_k) / p(x_n), "
           f"on {n_trials} random mixtures.")
