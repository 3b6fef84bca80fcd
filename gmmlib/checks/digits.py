"""Self-checks for chapter 10, {ref}`ch-generating-digits` ("Generating new handwritten digits").

- :func:`check_nearest_neighbour_distance` -- the Euclidean distance from each sample to its
  nearest training image (leaving out the point itself when the samples *are* the training
  images).
- :func:`check_sample_digits` -- draw new digits from a mixture fitted in PCA space and turn them
  back into 8 x 8 images with grey levels in [0, 16].

Each check calls the reader's function on fresh random inputs (a new draw every call), compares
the result with a reference computed by SciPy, scikit-learn or :mod:`gmmlib`, and either prints a
short success message or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain words what
looks wrong.
"""

import numpy as np

from ._core import call_reader_function, check_close, check_shape, fail, passed

__all__ = ["check_nearest_neighbour_distance", "check_sample_digits"]

#: Grey levels of the digits data run from 0 (white) to 16 (black).
MAX_GREY = 16.0


def _name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _pairwise_distances(A, B):
    from scipy.spatial.distance import cdist

    return cdist(A, B)


def _close(a, b, rtol=1e-6, atol=1e-8):
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
    itself at distance 0.

    Parameters
    ----------
    func : callable
        ``func(samples, train, exclude_self=False)``.

    Raises
    ------
    SelfCheckError
        If the distances are wrong; the message recognises squared distances, a minimum over the
        wrong axis (one distance per training point), a point matched with itself when
        ``exclude_self=True``, and the distance to the farthest instead of the nearest point.

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
    Correct! your distances match SciPy's, for new samples and for training points (without self-matches).
    """
    name = _name(func)
    rng = np.random.default_rng()
    for _ in range(3):
        n_features = int(rng.integers(2, 9))
        n_train = int(rng.integers(30, 80))
        n_samples = n_train + int(rng.integers(5, 25))  # never square: a wrong axis shows
        train = rng.normal(scale=rng.uniform(1, 5), size=(n_train, n_features))
        samples = rng.normal(scale=rng.uniform(1, 5), size=(n_samples, n_features))
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
        if _close(got_arr, distances.max(axis=1)):
            fail(
                f"`{name}` returned the distance to the FARTHEST training point; use the minimum."
            )
        check_close(f"the nearest-neighbour distances from `{name}(samples, train)`", got_arr,
                    expected)

        # The samples are the training points: each point must not be matched with itself.
        self_distances = _pairwise_distances(train, train)
        np.fill_diagonal(self_distances, np.inf)
        expected_self = self_distances.min(axis=1)
        got_self = call_reader_function(func, train, train, True)
        got_self = check_shape(
            f"the result of `{name}(train, train, exclude_self=True)`", got_self, (n_train,)
        )
        if np.allclose(got_self, 0.0):
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
        )
    passed(
        "your distances match SciPy's, for new samples and for training points (without "
        "self-matches)."
    )


def _digits_problem(rng):
    """A small PCA + mixture fitted to a random subset of the digits (a fraction of a second)."""
    from sklearn.decomposition import PCA

    from .. import GaussianMixture
    from ..engine import one_blas_thread as blas_single_thread
    from ..datasets import load_digit_images

    _, X, _ = load_digit_images()
    X = X[rng.choice(len(X), size=int(rng.integers(300, 600)), replace=False)]
    pca = PCA(n_components=int(rng.integers(5, 16)), whiten=bool(rng.integers(2)),
              random_state=int(rng.integers(2**31)))
    # Small matrices: a multi-threaded BLAS only adds waiting (0.5 s for this SVD when busy).
    with blas_single_thread():
        Z = pca.fit_transform(X)
    model = GaussianMixture(
        n_components=int(rng.integers(2, 6)),
        covariance_type=str(rng.choice(["full", "diag"])),
        random_state=int(rng.integers(2**31)),
    ).fit(Z)
    return model, pca


def _reference_digits(model, pca, n, random_state):
    Z_new, _ = model.sample(n, random_state=random_state)
    pixels = pca.inverse_transform(Z_new)
    return pixels, np.clip(pixels, 0.0, MAX_GREY).reshape(n, 8, 8)


def check_sample_digits(func):
    """Check a reader's ``func(model, pca, n, random_state) -> images``: new digits from a mixture.

    ``model`` is a Gaussian mixture fitted to PCA coordinates ``pca.transform(X)`` of the digits.
    The right answer draws ``model.sample(n, random_state=random_state)``, maps the draws back to
    the 64 pixels with ``pca.inverse_transform``, clips the grey levels to [0, 16] and reshapes
    row by row to ``(n, 8, 8)``.

    Parameters
    ----------
    func : callable
        ``func(model, pca, n, random_state)`` returning an array of shape (n, 8, 8).

    Raises
    ------
    SelfCheckError
        If the images are wrong; the message recognises a forgotten ``inverse_transform`` (PCA
        coordinates instead of pixels), flattened images, transposed images (column-by-column
        reshape), grey levels that were not clipped to [0, 16], and a ``random_state`` that was
        not passed to ``sample``.

    Examples
    --------
    >>> from gmmlib.checks import check_sample_digits
    >>> def sample_digits(model, pca, n, random_state):
    ...     Z_new, _ = model.sample(n, random_state=random_state)
    ...     pixels = np.clip(pca.inverse_transform(Z_new), 0, 16)
    ...     return pixels.reshape(n, 8, 8)
    >>> check_sample_digits(sample_digits)
    Correct! your digits are the model's samples mapped back to pixels, clipped to [0, 16] and shaped (n, 8, 8).
    """
    name = _name(func)
    rng = np.random.default_rng()
    for _ in range(2):
        model, pca = _digits_problem(rng)
        n = int(rng.integers(5, 40))
        seed = int(rng.integers(2**31))
        pixels, expected = _reference_digits(model, pca, n, seed)
        means_before = np.array(model.means_)
        n_pca = pca.n_components_
        try:
            got = call_reader_function(func, model, pca, n, seed)
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, ValueError) and f"size {n * n_pca} " in str(cause) + " ":
                fail(
                    f"`{name}` could not reshape its result to images: it has {n_pca} numbers per "
                    "sample, the PCA coordinates, not 64 pixels. Map the samples back to pixels "
                    "with `pca.inverse_transform` before clipping and reshaping."
                )
            raise
        if not np.array_equal(means_before, model.means_):
            fail(f"`{name}` changed the mixture's parameters: sample from the fitted model, do not "
                 "refit it.")
        got = np.asarray(got, dtype=float)
        if got.size == n * n_pca and n_pca != 64:
            fail(
                f"`{name}` returned {got.size // n} numbers per digit: these look like the PCA "
                f"coordinates of the samples ({n_pca} here), not pixels. Map them back to the 64 "
                "pixels with `pca.inverse_transform` before clipping and reshaping."
            )
        if got.shape == (n, 64):
            fail(
                f"`{name}` returned flat images of shape {got.shape}; reshape them to "
                f"({n}, 8, 8), one 8 x 8 image per sample."
            )
        got = check_shape(f"the images returned by `{name}`", got, (n, 8, 8))
        if _close(got, expected):
            continue
        if _close(got, expected.transpose(0, 2, 1)):
            fail(
                f"`{name}` returned transposed images (rows and columns swapped): the pixels are "
                "stored row by row, so reshape with NumPy's default order, "
                "`reshape(n, 8, 8)`, not `order='F'`."
            )
        if _close(got, pixels.reshape(n, 8, 8)):
            fail(
                f"the grey levels returned by `{name}` run from {got.min():.3g} to "
                f"{got.max():.3g}; real digits have grey levels between 0 and 16, so clip them: "
                "`np.clip(pixels, 0, 16)`. (A Gaussian has unbounded tails, so some sampled "
                "pixels fall outside that range.)"
            )
        if got.min() < -1e-9 or got.max() > MAX_GREY + 1e-9:
            fail(
                f"the grey levels returned by `{name}` run from {got.min():.3g} to "
                f"{got.max():.3g}; clip them to [0, 16] with `np.clip(pixels, 0, 16)`."
            )
        if _close(got, _reference_digits(model, pca, n, model.random_state)[1]):
            fail(
                f"`{name}` ignores its `random_state` argument: it draws with the model's own "
                "seed. Pass it on, `model.sample(n, random_state=random_state)`, so that the "
                "caller decides which digits are drawn."
            )
        again = np.asarray(call_reader_function(func, model, pca, n, seed), dtype=float)
        if again.shape != got.shape or not np.array_equal(again, got):
            fail(
                f"`{name}` returned different digits for the same `random_state`: pass it on, "
                "`model.sample(n, random_state=random_state)`, so that a seed always gives the "
                "same digits."
            )
        check_close(f"the images returned by `{name}`", got, expected)
    passed(
        "your digits are the model's samples mapped back to pixels, clipped to [0, 16] and shaped "
        "(n, 8, 8)."
    )
