"""Self-checks for chapter 11, {ref}`ch-generating-digits` ("Generating new handwritten digits").

- :func:`check_nearest_neighbour_distance` -- the Euclidean distance from each sample to its
  nearest training image (leaving out the point itself when the samples *are* the training
  images), exact also for samples that are copies of training images.
- :func:`check_pixel_log_likelihood` -- the log-density in pixel space of a mixture fitted to
  whitened PCA coordinates: the mixture's log-density, the Jacobian of the whitening, and a
  Gaussian for what PCA left out.

Each check calls the reader's function on random inputs from a seeded generator, compares the
result with a reference computed by SciPy, scikit-learn or :mod:`gmmlib`, and either prints a
short success message or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain words what
looks wrong.
"""

import numpy as np

from ._core import (
    call_reader_function,
    check_close,
    check_rng,
    check_shape,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_nearest_neighbour_distance", "check_pixel_log_likelihood"]


def _name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _pairwise_distances(A, B):
    from scipy.spatial.distance import cdist

    return cdist(A, B)


def _close(a, b, rtol=1e-6, atol=1e-4):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(all="ignore"):
        return bool(
            a.shape == b.shape
            and np.all(np.isfinite(a))
            and np.allclose(a, b, rtol=rtol, atol=atol)
        )


def check_nearest_neighbour_distance(func):
    """Check a reader's ``func(samples, train, exclude_self=False) -> distances``.

    For each row :math:`s_i` of ``samples`` (shape (M, D)) the function returns
    :math:`\\min_n \\lVert s_i - x_n \\rVert`, the Euclidean distance (not squared) to the nearest
    row :math:`x_n` of ``train`` (shape (N, D)); the result has shape (M,). With
    ``exclude_self=True`` the samples are the training points themselves (``samples[i]`` is
    ``train[i]``) and the minimum runs over :math:`n \\neq i`: every point would otherwise find
    itself at distance 0. Some samples are exact copies of training points, so their distance
    is 0, the case a memorisation test is looking for. Distances must be right to 1e-4 (a
    ten-thousandth of a grey level).

    Parameters
    ----------
    func : callable
        ``func(samples, train, exclude_self=False)``.

    Raises
    ------
    SelfCheckError
        If the distances are wrong; the message recognises squared distances, a minimum over the
        wrong axis (one distance per training point), a point matched with itself when
        ``exclude_self=True``, the distance to the farthest instead of the nearest point, and
        NaN from the square root of a slightly negative squared distance (the expansion
        :math:`\\lVert a\\rVert^2 - 2a^\\top b + \\lVert b\\rVert^2` rounds below zero for copies).

    Notes
    -----
    Introduced in {ref}`ch-generating-digits`, Exercise ``ch11_ex3``.

    Examples
    --------
    >>> from scipy.spatial.distance import cdist
    >>> from gmmlib.checks import check_nearest_neighbour_distance
    >>> def nearest_neighbour_distance(samples, train, exclude_self=False):
    ...     distances = cdist(samples, train)
    ...     if exclude_self:
    ...         np.fill_diagonal(distances, np.inf)
    ...     return distances.min(axis=1)
    >>> check_nearest_neighbour_distance(nearest_neighbour_distance)
    Correct! your distances are right for new samples, for copies of training points and for the training points themselves (without self-matches).
    """
    name = _name(func)
    rng = check_rng("check_nearest_neighbour_distance")
    for _ in range(3):
        n_features = int(rng.integers(8, 65))
        n_train = int(rng.integers(30, 80))
        n_samples = n_train + int(rng.integers(5, 25))  # never square: a wrong axis shows
        # Grey levels like the digits' (0 to 16), where squares of large numbers cancel.
        train = rng.uniform(0.0, 16.0, size=(n_train, n_features)).round(2)
        samples = rng.uniform(0.0, 16.0, size=(n_samples, n_features)).round(2)
        copies = rng.choice(n_samples, size=5, replace=False)
        samples[copies] = train[rng.choice(n_train, size=5, replace=False)]
        distances = _pairwise_distances(samples, train)
        expected = distances.min(axis=1)

        got = call_reader_function(func, samples, train)
        got_arr = np.asarray(got, dtype=float) if np.ndim(got) else got
        if np.shape(got_arr) == (n_train,):
            fail(
                f"`{name}(samples, train)` returned {n_train} distances, one per TRAINING point, "
                f"but there are {n_samples} samples and the check expects one distance per "
                "sample: take the minimum over the training points (`axis=1` of a "
                "(samples x train) distance matrix), not over the samples."
            )
        got_arr = check_shape(f"the result of `{name}(samples, train)`", got_arr, (n_samples,))
        if np.any(np.isnan(got_arr[copies])) and _close(
            np.delete(got_arr, copies), np.delete(expected, copies)
        ):
            fail(
                f"`{name}` returns NaN for samples that are exact copies of a training point, "
                "whose distance is 0. Expanding |a - b|^2 = |a|^2 - 2 a.b + |b|^2 is fast but "
                "can round to a tiny negative number when a = b, and its square root is NaN: "
                "clip at zero first, `np.sqrt(np.maximum(squared, 0))`."
            )
        if _close(got_arr, distances.max(axis=1)):
            fail(
                f"`{name}` returned the distance to the FARTHEST training point; use the minimum."
            )
        check_close(f"the nearest-neighbour distances from `{name}(samples, train)`", got_arr,
                    expected, rtol=1e-6, atol=1e-4)

        # The samples are the training points: each point must not be matched with itself.
        self_distances = _pairwise_distances(train, train)
        np.fill_diagonal(self_distances, np.inf)
        expected_self = self_distances.min(axis=1)
        got_self = call_reader_function(func, train, train, True)
        got_self = check_shape(
            f"the result of `{name}(train, train, exclude_self=True)`", got_self, (n_train,)
        )
        if np.allclose(got_self, 0.0, atol=1e-4):
            fail(
                f"`{name}(train, train, exclude_self=True)` returned 0 for every point: each "
                "training point found ITSELF as its nearest neighbour. With `exclude_self=True`, "
                "leave out the pair (i, i), e.g. set the diagonal of the distance matrix to "
                "infinity with `np.fill_diagonal(distances, np.inf)` before taking the minimum."
            )
        check_close(
            f"the nearest-neighbour distances from `{name}(train, train, exclude_self=True)`",
            got_self,
            expected_self,
            rtol=1e-6,
            atol=1e-4,
        )
    passed(
        "your distances are right for new samples, for copies of training points and for the "
        "training points themselves (without self-matches)."
    )


# --- the log-density in pixel space -----------------------------------------------------------


def _pixel_problem(rng):
    """Correlated data in D dimensions, a whitening PCA that keeps q < D directions, and a small
    mixture fitted to the whitened coordinates."""
    from sklearn.decomposition import PCA

    from .. import GaussianMixture

    n_features = int(rng.integers(6, 13))
    n_kept = int(rng.integers(2, n_features - 2))
    params = random_mixture(rng, int(rng.integers(2, 4)), n_features, "full")
    mixing = rng.normal(size=(n_features, n_features)) * rng.uniform(0.3, 3.0, n_features)
    X = sample_mixture(rng, *params, covariance_type="full", n_samples=300)[0] @ mixing
    X_new = sample_mixture(rng, *params, covariance_type="full", n_samples=40)[0] @ mixing
    pca = PCA(n_kept, whiten=True, random_state=0).fit(X)
    model = GaussianMixture(int(rng.integers(1, 4)), random_state=0).fit(pca.transform(X))
    return model, pca, X_new


def _pixel_terms(model, pca, X):
    """The three parts of log p(x): mixture, Jacobian of the whitening, left-out directions."""
    Z = pca.transform(X)
    n_features, n_kept = pca.components_.shape[1], pca.n_components_
    residual = np.sum((X - pca.inverse_transform(Z)) ** 2, axis=1)
    mixture = model.score_samples(Z)
    jacobian = -0.5 * np.sum(np.log(pca.explained_variance_))
    n_left = n_features - n_kept
    left_out = -0.5 * n_left * np.log(2 * np.pi * pca.noise_variance_) - residual / (
        2 * pca.noise_variance_
    )
    return mixture, jacobian, left_out, residual


def check_pixel_log_likelihood(func):
    """Check a reader's ``func(model, pca, X) -> log_density``: a mixture's log-density in pixels.

    ``pca`` is a fitted ``PCA(q, whiten=True)`` with eigenvalues :math:`\\lambda_j`
    (``pca.explained_variance_``) and ``model`` a mixture fitted to the whitened coordinates
    :math:`z = \\Lambda^{-1/2} V^\\top (x - \\bar x)`. In the :math:`D - q` directions PCA left out,
    the data are modelled by independent Gaussians of variance :math:`\\sigma^2` =
    ``pca.noise_variance_`` (the mean of the left-out eigenvalues). Then, with
    :math:`r = \\lVert x - \\hat x\\rVert` the distance of :math:`x` from its reconstruction,

    .. math::

        \\log p(x) = \\log p_Z(z) - \\tfrac12 \\sum_{j=1}^{q} \\log \\lambda_j
        - \\tfrac{D-q}{2} \\log(2\\pi\\sigma^2) - \\frac{r^2}{2\\sigma^2} .

    The function must return :math:`\\log p(x)` for every row of ``X``, shape (N,).

    Parameters
    ----------
    func : callable
        ``func(model, pca, X)`` with a fitted mixture, a fitted whitening PCA and data of shape
        (N, D) in the original units.

    Raises
    ------
    SelfCheckError
        If the values are wrong; the message recognises a missing or sign-flipped Jacobian, the
        Jacobian with :math:`\\lambda_j` instead of :math:`\\sqrt{\\lambda_j}`, a missing term for
        the left-out directions, a normalising constant over :math:`D` instead of :math:`D - q`
        dimensions, and the density instead of its log.

    Notes
    -----
    Introduced in {ref}`ch-generating-digits`, Exercise ``ch11_ex4``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_pixel_log_likelihood
    >>> def pixel_log_likelihood(model, pca, X):
    ...     Z = pca.transform(X)
    ...     left = pca.components_.shape[1] - pca.n_components_
    ...     residual = np.sum((X - pca.inverse_transform(Z)) ** 2, axis=1)
    ...     s2 = pca.noise_variance_
    ...     return (model.score_samples(Z) - 0.5 * np.sum(np.log(pca.explained_variance_))
    ...             - 0.5 * left * np.log(2 * np.pi * s2) - residual / (2 * s2))
    >>> check_pixel_log_likelihood(pixel_log_likelihood)
    Correct! your log-densities in pixel space are right on 3 random data sets.
    """
    name = _name(func)
    rng = check_rng("check_pixel_log_likelihood")
    for _ in range(3):
        model, pca, X = _pixel_problem(rng)
        mixture, jacobian, left_out, residual = _pixel_terms(model, pca, X)
        expected = mixture + jacobian + left_out
        got = call_reader_function(func, model, pca, X)
        if np.ndim(got) == 0:
            fail(f"`{name}` returned one number; it should return log p(x) for EVERY row of X, "
                 f"shape ({len(X)},).")
        got = check_shape(f"the result of `{name}`", got, expected.shape)
        if matches(got, expected, rtol=1e-8, atol=1e-8):
            continue
        n_features, n_kept = pca.components_.shape[1], pca.n_components_
        wrong_constant = -0.5 * n_features * np.log(2 * np.pi * pca.noise_variance_) - residual / (
            2 * pca.noise_variance_)
        for value, message in [
            (mixture, "it is the mixture's log-density of the whitened coordinates alone. In "
             "pixel space add the Jacobian of the whitening and a density for the directions "
             "PCA left out."),
            (mixture + left_out, "the Jacobian of the whitening is missing: z divides the PCA "
             "coordinates by sqrt(lambda_j), so log p(x) gains -1/2 sum_j log lambda_j."),
            (mixture - jacobian + left_out, "the Jacobian has the wrong sign: whitening divides by "
             "sqrt(lambda_j), so the density in x is p_Z(z) / prod_j sqrt(lambda_j), i.e. "
             "-1/2 sum_j log lambda_j."),
            (mixture + 2 * jacobian + left_out, "the Jacobian uses lambda_j instead of its square "
             "root: whitening divides each coordinate by the standard deviation sqrt(lambda_j), "
             "so the term is -1/2 sum_j log lambda_j."),
            (mixture + jacobian, "the term for the directions PCA left out is missing: x also has "
             "a part outside the kept directions, the residual x - pca.inverse_transform(z), "
             "with D - q independent Gaussian coordinates of variance pca.noise_variance_."),
            (mixture + jacobian + wrong_constant, f"the normalising constant of the left-out "
             f"directions counts D = {n_features} dimensions; only D - q = "
             f"{n_features - n_kept} were left out."),
            (np.exp(expected), "it is the density, not its logarithm."),
        ]:
            if matches(got, value, rtol=1e-8, atol=1e-8):
                fail(f"`{name}` is not right: {message}")
        check_close(f"the log-densities from `{name}`", got, expected, rtol=1e-8, atol=1e-8)
    passed("your log-densities in pixel space are right on 3 random data sets.")
