"""Self-checks for chapter 1, {ref}`ch-one-gaussian` ("One Gaussian").

- :func:`check_log_pdf` -- the log-density of a multivariate Gaussian, computed via Cholesky.
- :func:`check_mahalanobis` -- the Mahalanobis distance of each row of ``X`` from a mean.
- :func:`check_fit_spherical` -- the maximum-likelihood mean and single variance of a Gaussian
  with covariance :math:`\\sigma^2 I`.
- :func:`check_ellipse_coverage` -- the fraction of the data inside a Mahalanobis ellipse of the
  Gaussian fitted to them.

All call the reader's function on random inputs (several dimensions, sample sizes, means and
covariances), compare it with an independent reference computed with SciPy, and
either print a short success message or raise :class:`~gmmlib.checks.SelfCheckError` saying in
plain words what looks wrong.
"""

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist

from ._core import as_number, call_reader_function, check_rng, fail, passed, self_check

__all__ = ["check_log_pdf", "check_mahalanobis", "check_fit_spherical", "check_ellipse_coverage"]

_N_TRIALS = 6


def _random_problem(rng, n_features):
    """A random mean, a random non-diagonal covariance and points around the mean.

    The covariance's eigenvalues are spread over [0.2, 6] and its log-determinant is kept away
    from zero, so that typical mistakes (a missing 1/2 on the log-determinant, the covariance
    used instead of its inverse) change the answer visibly.
    """
    while True:
        q, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
        eigenvalues = rng.uniform(0.2, 6.0, size=n_features)
        covariance = (q * eigenvalues) @ q.T
        covariance = (covariance + covariance.T) / 2
        log_det = np.linalg.slogdet(covariance)[1]
        far_from_identity = n_features == 1 or np.ptp(eigenvalues) > 1.0
        if abs(log_det) > 0.5 and far_from_identity and abs(eigenvalues - 1).min() > 0.1:
            break
    mean = rng.normal(scale=3.0, size=n_features)
    n_samples = int(rng.integers(8, 40))
    X = mean + rng.normal(scale=2.0, size=(n_samples, n_features))
    return X, mean, covariance


def _as_vector(result, n_samples, what):
    """Turn the reader's result into a float array of shape (n_samples,) or fail in plain words."""
    try:
        result = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        fail(f"Your function should return a NumPy array of {n_samples} numbers ({what}, one per "
             f"row of X), but it returned {type(result).__name__}, which is not an array of numbers.")
    if result.ndim == 0:
        fail(f"Your function returned a single number, but it should return one {what[:-1]} per "
             f"row of X: an array of shape ({n_samples},). Did you sum over the rows?")
    if result.shape != (n_samples,):
        hint = ""
        if result.size == n_samples:
            hint = (" It has the right number of entries: flatten it (e.g. `.ravel()` or sum "
                    "over the feature axis with `axis=1`, not `axis=0`) to a 1-D array.")
        elif result.ndim == 2 and n_samples in result.shape:
            hint = (" It looks like you kept an N x N (or N x D) array: sum over the features "
                    "only, row by row, e.g. with `np.sum(Z**2, axis=...)`.")
        fail(f"Your function returned an array of shape {result.shape}, but X had {n_samples} "
             f"rows, so the result should have shape ({n_samples},): one {what[:-1]} per row.{hint}")
    if not np.all(np.isfinite(result)):
        fail(f"Your function returned NaN or infinite values, but every {what[:-1]} here is a "
             f"finite number. Check for a logarithm of a negative number or a division by zero.")
    return result


def _close(a, b):
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-8))


def _call(func, X, mean, covariance):
    # call_reader_function passes copies of the arrays, so in-place edits cannot spoil the reference
    return call_reader_function(func, X, mean, covariance)


@self_check
def check_log_pdf(func):
    """Check a reader's multivariate Gaussian log-density.

    Parameters
    ----------
    func : callable
        ``func(X, mean, covariance)`` with ``X`` of shape (N, D), ``mean`` of shape (D,) and
        ``covariance`` of shape (D, D); it must return the N log-densities
        :math:`\\log \\mathcal{N}(x_n \\mid \\mu, \\Sigma)` as an array of shape (N,).

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape or the wrong values; the message says what looks wrong.

    Introduced in {ref}`ch-one-gaussian`, Exercise ``ch01_ex2``.
    """
    rng = check_rng("check_log_pdf")
    dims = [1, 2, 3, int(rng.integers(4, 7)), 2, int(rng.integers(1, 5))]
    for n_features in dims[:_N_TRIALS]:
        X, mean, covariance = _random_problem(rng, n_features)
        n_samples = X.shape[0]
        result = _as_vector(_call(func, X, mean, covariance), n_samples, "log-densities")
        reference = stats.multivariate_normal(mean, covariance).logpdf(X).reshape(n_samples)
        if _close(result, reference):
            continue

        log_det = np.linalg.slogdet(covariance)[1]
        diff = X - mean
        maha2 = np.einsum("nd,nd->n", diff @ np.linalg.inv(covariance), diff)
        quad_cov = np.einsum("nd,nd->n", diff @ covariance, diff)
        log_2pi = n_features * np.log(2 * np.pi)
        dims_note = f" (this test case had D = {n_features} features)"

        if _close(result, np.exp(reference)):
            fail("Your function returned the density p(x), not its logarithm log p(x). Return "
                 "the log-density directly: -0.5 * (D log(2 pi) + log det(Sigma) + squared "
                 "Mahalanobis distance). Never take np.exp and then np.log: the exp underflows "
                 "to 0 far from the mean.")
        if np.all(result > 0) and _close(np.log(result), reference):
            fail("Your function returned the density p(x), not its logarithm log p(x).")
        if _close(result, reference - 0.5 * log_det) or _close(result, reference + 0.5 * log_det):
            fail("The log-determinant term is off: the normalising term of the log-density is "
                 "-1/2 log det(Sigma). It looks like you forgot the 1/2 (or its sign). With a "
                 "Cholesky factor L, log det(Sigma) = 2 * sum(log(diag(L))), so the term is "
                 "-sum(log(diag(L))).")
        if _close(result, reference + 0.25 * log_det) or _close(result, reference - 0.75 * log_det):
            fail("The log-determinant term is off by a factor of 2: with Sigma = L L^T, "
                 "log det(Sigma) = 2 * sum(log(diag(L))), not sum(log(diag(L))).")
        if _close(result, reference - 0.5 * maha2) or _close(result, reference + 0.5 * maha2):
            fail("The quadratic term is off: it should be -1/2 (x - mu)^T Sigma^{-1} (x - mu). "
                 "Check the factor 1/2 and the sign of the squared Mahalanobis distance.")
        if _close(result, reference + 0.5 * maha2 - 0.5 * quad_cov):
            fail("It looks like you used the covariance Sigma in the quadratic form where its "
                 "inverse belongs: the exponent is -1/2 (x - mu)^T Sigma^{-1} (x - mu). With "
                 "Cholesky, solve L z = x - mu (scipy.linalg.solve_triangular) and use z^T z.")
        if _close(result, reference + 0.5 * maha2 - 0.5 * np.sum(diff**2, axis=1)):
            fail("The quadratic term ignores the covariance: you used the squared Euclidean "
                 "distance |x - mu|^2 instead of (x - mu)^T Sigma^{-1} (x - mu)." + dims_note)
        for scale in (0.5, 1.0, 2.0):
            if _close(result, reference - scale * log_2pi) or _close(result, reference + scale * log_2pi):
                fail("The constant term is off: the log-density contains -D/2 log(2 pi), where D "
                     "is the number of features (columns of X)." + dims_note)
        for d_wrong in range(1, 8):
            if d_wrong != n_features and _close(result, reference + 0.5 * (n_features - d_wrong) * np.log(2 * np.pi)):
                fail("The constant term uses the wrong dimension: it should be -D/2 log(2 pi) "
                     "with D = X.shape[1], the number of features." + dims_note)
        offset = result - reference
        if np.ptp(offset) < 1e-6 * max(1.0, np.abs(reference).max()):
            fail(f"Your log-densities are all off by the same constant ({offset[0]:+.4g}), so the "
                 "part that depends on x is right but the normalising constant "
                 "-1/2 (D log(2 pi) + log det(Sigma)) is not." + dims_note)
        worst = int(np.argmax(np.abs(offset)))
        fail(f"Your log-densities do not match scipy.stats.multivariate_normal(mean, covariance)"
             f".logpdf(X): for one point you returned {result[worst]:.6g}, the reference is "
             f"{reference[worst]:.6g}." + dims_note)
    passed("your log-density agrees with scipy.stats.multivariate_normal on "
           f"{_N_TRIALS} random problems (dimensions 1 to 6).")


@self_check
def check_mahalanobis(func):
    """Check a reader's Mahalanobis distance.

    Parameters
    ----------
    func : callable
        ``func(X, mean, covariance)`` with ``X`` of shape (N, D), ``mean`` of shape (D,) and
        ``covariance`` of shape (D, D); it must return the N distances
        :math:`\\sqrt{(x_n - \\mu)^\\top \\Sigma^{-1} (x_n - \\mu)}` (not squared) as an array
        of shape (N,), like :func:`gmmlib.gaussian.mahalanobis`.

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape or the wrong values; the message says what looks wrong.

    Introduced in {ref}`ch-one-gaussian`, Exercise ``ch01_ex4``.
    """
    rng = check_rng("check_mahalanobis")
    dims = [1, 2, 3, int(rng.integers(4, 7)), 2, int(rng.integers(1, 5))]
    for n_features in dims[:_N_TRIALS]:
        X, mean, covariance = _random_problem(rng, n_features)
        n_samples = X.shape[0]
        result = _as_vector(_call(func, X, mean, covariance), n_samples, "distances")
        precision = np.linalg.inv(covariance)
        reference = cdist(X, mean[None, :], metric="mahalanobis", VI=precision).ravel()
        if _close(result, reference):
            continue

        diff = X - mean
        dims_note = f" (this test case had D = {n_features} features)"
        if np.any(result < 0):
            fail("Your function returned negative distances; a distance is never negative.")
        if _close(result, reference**2):
            fail("Your function returned the SQUARED Mahalanobis distance. Take the square root: "
                 "the distance is sqrt((x - mu)^T Sigma^{-1} (x - mu)).")
        quad_cov = np.einsum("nd,nd->n", diff @ covariance, diff)
        if _close(result, np.sqrt(quad_cov)) or _close(result, quad_cov):
            fail("It looks like you used the covariance Sigma where its inverse belongs: the "
                 "distance is sqrt((x - mu)^T Sigma^{-1} (x - mu)). With a Cholesky factor L "
                 "(Sigma = L L^T), solve L z = x - mu and return the length of z.")
        euclid = np.sqrt(np.sum(diff**2, axis=1))
        if _close(result, euclid) or _close(result, euclid**2):
            fail("Your function returned the Euclidean distance |x - mu|: it ignores the "
                 "covariance. Whiten first: solve L z = x - mu with the Cholesky factor L of "
                 "Sigma, then return the length of z.")
        chol = np.linalg.cholesky(covariance)
        wrong_chol = np.sqrt(np.sum((diff @ np.linalg.inv(chol)) ** 2, axis=1))
        if _close(result, wrong_chol):
            fail("Close, but the triangular solve is transposed: with Sigma = L L^T and the "
                 "points as rows of X, you need z_n = L^{-1} (x_n - mu), i.e. "
                 "solve_triangular(L, (X - mean).T, lower=True), whose columns are the z_n.")
        worst = int(np.argmax(np.abs(result - reference)))
        fail(f"Your distances do not match the reference: for one point you returned "
             f"{result[worst]:.6g}, the Mahalanobis distance is {reference[worst]:.6g}."
             + dims_note)
    passed(f"your Mahalanobis distances are right on {_N_TRIALS} random problems "
           "(dimensions 1 to 6).")


def _spherical_data(rng):
    """Points whose features have clearly different means (so centring matters)."""
    n_samples, n_features = int(rng.integers(12, 40)), int(rng.integers(2, 6))
    centre = rng.uniform(-6.0, 6.0, size=n_features)
    centre[0] = centre[1] + 4.0  # at least two features far apart
    return centre + rng.uniform(0.5, 2.0) * rng.standard_normal((n_samples, n_features))


@self_check
def check_fit_spherical(func):
    """Check a reader's maximum-likelihood fit of a Gaussian with covariance :math:`\\sigma^2 I`.

    Parameters
    ----------
    func : callable
        ``func(X) -> (mean, variance)`` for ``X`` of shape (N, D): the mean of shape (D,) and the
        single variance :math:`\\hat\\sigma^2 = \\frac{1}{ND} \\sum_n \\lVert x_n - \\hat\\mu
        \\rVert^2` (a number).

    Raises
    ------
    SelfCheckError
        If the mean or the variance is wrong; the message names the likely mistake (dividing by
        N instead of ND, by N - 1, one variance per feature, a standard deviation, centring on
        the mean of all entries).

    Introduced in {ref}`ch-one-gaussian`, Exercise ``ch01_ex1``.
    """
    rng = check_rng("check_fit_spherical")
    n_trials = 4
    for _ in range(n_trials):
        X = _spherical_data(rng)
        N, D = X.shape
        result = call_reader_function(func, X)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail("your function should return two things, `mean, variance`: the mean vector and "
                 "the single variance sigma^2.")
        mean, variance = result
        mean = np.asarray(mean, dtype=float)
        expected_mean = X.mean(axis=0)
        if mean.shape != (D,):
            fail(f"the mean should have shape ({D},), one entry per feature, but it has "
                 f"shape {mean.shape}. Average over the points: `X.mean(axis=0)`.")
        if not _close(mean, expected_mean):
            fail("the mean is not right: the maximum-likelihood mean is the average of the points, "
                 "`X.mean(axis=0)`, whatever the covariance model.")
        variance = np.asarray(variance, dtype=float)
        squares = np.sum((X - expected_mean) ** 2)
        expected = squares / (N * D)
        if variance.shape == (D,):
            fail("you returned one variance per feature: that is the diagonal model. The "
                 "spherical model has a single sigma^2 shared by all D features, the average of "
                 "those D variances.")
        if variance.shape != ():
            fail(f"the variance should be a single number, but it has shape {variance.shape}.")
        variance = float(variance)
        if _close(variance, expected):
            continue
        if _close(variance, squares / N):
            fail("your variance is D times too large: you divided the sum of squared distances "
                 "by N. Each point contributes D squared coordinates, so divide by N * D.")
        if _close(variance, squares / ((N - 1) * D)):
            fail("you divided by (N - 1) D: that is the unbiased estimate, not the maximum-"
                 "likelihood one, which divides by N D.")
        if _close(variance, np.sqrt(expected)):
            fail("you returned the standard deviation sigma; the function should return the "
                 "variance sigma^2.")
        if _close(variance, np.var(X)):
            fail("you centred every entry on the mean of ALL entries (`np.var(X)`), but each "
                 "feature has its own mean: subtract the mean vector `X.mean(axis=0)` from the "
                 "rows first.")
        fail(f"the variance is not right: you returned {variance:.6g}, the maximum-likelihood "
             f"value is {expected:.6g} (the mean squared distance to the mean, per coordinate).")
    passed(f"your spherical fit matches the maximum-likelihood formulas on {n_trials} random data "
           "sets.")


def _ellipse_problem(rng, n_samples):
    """Correlated 2-D to 4-D points."""
    n_features = int(rng.integers(2, 5))
    mixing = rng.normal(size=(n_features, n_features)) + 2.0 * np.eye(n_features)
    return rng.normal(size=n_features) * 3 + rng.standard_normal((n_samples, n_features)) @ mixing


def _fitted_distances(X, ddof=0):
    mean = X.mean(axis=0)
    covariance = np.cov(X.T, ddof=ddof).reshape(X.shape[1], X.shape[1])
    return mean, covariance, cdist(X, mean[None, :], "mahalanobis", VI=np.linalg.inv(covariance)).ravel()


@self_check
def check_ellipse_coverage(func):
    """Check a reader's ``ellipse_coverage(X, n_std)``.

    The function fits one Gaussian to ``X`` by maximum likelihood and returns the fraction of the
    rows of ``X`` whose Mahalanobis distance from the fitted mean, under the fitted covariance,
    is at most ``n_std``. For Gaussian data in two dimensions that fraction should be close to
    :math:`1 - e^{-n_{std}^2/2}`.

    Parameters
    ----------
    func : callable
        ``func(X, n_std) -> float`` with ``X`` of shape (N, D), D >= 2.

    Raises
    ------
    SelfCheckError
        If a fraction is wrong; the message names the likely mistake (a count instead of a
        fraction, the squared distance compared with ``n_std``, the Euclidean distance, the
        N - 1 covariance, the true parameters instead of the fitted ones).

    Introduced in {ref}`ch-one-gaussian`, Exercise ``ch01_ex4``.
    """
    rng = check_rng("check_ellipse_coverage")
    trials = 0
    for n_std_choice in ("1", "2", "between two points", "3"):
        X = _ellipse_problem(rng, int(rng.integers(40, 120)))
        n_samples = X.shape[0]
        mean, covariance, distances = _fitted_distances(X)
        if n_std_choice == "between two points":
            # just below a data point, within the margin by which the N - 1 covariance shrinks
            # the distances, so that mistake changes the answer
            order = np.sort(distances)
            n_std = float(order[n_samples // 2] / (1 + 1 / (4 * n_samples)))
        else:
            n_std = float(n_std_choice)
        expected = float(np.mean(distances <= n_std))
        result = call_reader_function(func, X, n_std)
        got = as_number("ellipse_coverage(X, n_std)", result,
                        hint="Return the fraction of the points inside the ellipse.")
        trials += 1
        if abs(got - expected) < 1e-12:
            continue
        where = f" (D = {X.shape[1]}, N = {n_samples}, n_std = {n_std:.4g})"
        if abs(got - expected * n_samples) < 1e-9:
            fail("you returned the number of points inside the ellipse; return the fraction "
                 "(divide by N, or take the mean of the boolean array)." + where)
        if abs(got - np.mean(distances**2 <= n_std)) < 1e-12:
            fail("you compared the SQUARED Mahalanobis distance with n_std: compare the distance "
                 "itself (or its square with n_std**2)." + where)
        euclid = np.linalg.norm(X - mean, axis=1)
        if abs(got - np.mean(euclid <= n_std)) < 1e-12:
            fail("you used the Euclidean distance to the mean; the ellipse is a set of constant "
                 "Mahalanobis distance under the fitted covariance." + where)
        if abs(got - np.mean(_fitted_distances(X, ddof=1)[2] <= n_std)) < 1e-12:
            fail("you fitted the covariance with N - 1 in the denominator (`np.cov`'s default); "
                 "the maximum-likelihood covariance divides by N (`np.cov(X.T, bias=True)` or "
                 "`gmmlib.gaussian.fit_gaussian`)." + where)
        fail(f"the fraction is not right: you returned {got:.6g}, but {expected:.6g} of the points "
             "lie within Mahalanobis distance n_std of the Gaussian fitted to X by maximum "
             "likelihood." + where)
    passed(f"your coverage fractions are right on {trials} random data sets, including an n_std "
           "that tells the N and N - 1 covariances apart.")
