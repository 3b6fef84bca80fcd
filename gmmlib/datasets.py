"""The data sets the chapters use.

All of them are generated or shipped with scikit-learn, so nothing is downloaded:

- :func:`make_stretched_blobs` -- three rotated, unequally spread blobs, where k-means fails and
  a Gaussian mixture succeeds.
- :func:`make_two_moons` -- two interleaving half circles: clusters that are not Gaussian.
- :func:`load_digit_images` -- the 1,797 handwritten 8 x 8 digits of scikit-learn.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_stretched_blobs", "make_two_moons", "load_digit_images"]

#: Rotation applied by :func:`make_stretched_blobs` (a rotation by about 36.9 degrees).
STRETCH = np.array([[0.8, -0.6], [0.6, 0.8]])


def make_stretched_blobs(n_samples=400, random_state=0, standardize=True):
    """Three overlapping blobs of different spreads, rotated and standardised.

    Draws ``make_blobs(n_samples, centers=3, cluster_std=[1.5, 0.5, 1.0], random_state=...)``,
    multiplies the points by ``[[0.8, -0.6], [0.6, 0.8]]`` (:data:`STRETCH`) and, by default,
    standardises each coordinate to mean 0 and variance 1. That matrix is a pure rotation, so
    the blobs stay round until the standardisation stretches them along the axes: the set is
    hard because the blobs overlap and differ in spread, and k-means and a full-covariance
    mixture do about equally well on it (chapters {ref}`ch-kmeans` and
    {ref}`ch-covariance-types` show this, and use more elongated data to show where k-means
    fails). Introduced in {ref}`ch-kmeans`.

    Parameters
    ----------
    n_samples : int, default=400
        Number of points :math:`N`, split as evenly as possible between the three blobs.
    random_state : int, numpy.random.Generator, RandomState or None, default=0
        Seed of the draw (passed to :func:`sklearn.datasets.make_blobs`; a Generator is turned
        into a seed with ``integers``).
    standardize : bool, default=True
        Shift and scale each column to mean 0 and standard deviation 1 (dividing by :math:`N`).

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points :math:`x_n`.
    y : ndarray of shape (n_samples,)
        The blob (0, 1 or 2) each point was drawn from.

    Examples
    --------
    >>> from gmmlib.datasets import make_stretched_blobs
    >>> X, y = make_stretched_blobs()
    >>> X.shape, y.shape
    ((400, 2), (400,))
    >>> X.mean(axis=0).round(12) + 0.0, X.std(axis=0).round(12)
    (array([0., 0.]), array([1., 1.]))
    """
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=n_samples,
        centers=3,
        cluster_std=[1.5, 0.5, 1.0],
        random_state=_seed(random_state),
    )
    X = X @ STRETCH
    if standardize:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y


def make_two_moons(n_samples=200, noise=0.05, random_state=0):
    """Two interleaving half circles: two clusters that no single Gaussian describes.

    A thin wrapper around :func:`sklearn.datasets.make_moons` with the book's defaults. A mixture
    with many components can still model their *density*. Introduced in
    {ref}`ch-density-estimation`.

    Parameters
    ----------
    n_samples : int, default=200
        Number of points :math:`N`, split evenly between the two moons.
    noise : float, default=0.05
        Standard deviation of the Gaussian noise added to the points.
    random_state : int, numpy.random.Generator, RandomState or None, default=0
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points :math:`x_n`.
    y : ndarray of shape (n_samples,)
        The moon (0 or 1) of each point.

    Examples
    --------
    >>> from gmmlib.datasets import make_two_moons
    >>> X, y = make_two_moons(n_samples=100, noise=0.1, random_state=1)
    >>> X.shape, sorted(set(y.tolist()))
    ((100, 2), [0, 1])
    """
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n_samples, noise=noise, random_state=_seed(random_state))


def load_digit_images():
    """The 1,797 handwritten digits of scikit-learn, as images and as a data matrix.

    Each digit is an 8 x 8 image with grey levels from 0 (white) to 16 (black). The data ship with
    scikit-learn, so nothing is downloaded. Introduced in {ref}`ch-generating-digits`.

    Returns
    -------
    images : ndarray of shape (1797, 8, 8), float
        The images.
    X : ndarray of shape (1797, 64), float
        The same images flattened row by row: one data point :math:`x_n` per row, :math:`D = 64`.
    y : ndarray of shape (1797,), int
        The digit (0 to 9) shown in each image.

    Examples
    --------
    >>> from gmmlib.datasets import load_digit_images
    >>> images, X, y = load_digit_images()
    >>> images.shape, X.shape, y.shape
    ((1797, 8, 8), (1797, 64), (1797,))
    >>> float(X.max()), bool((images.reshape(len(images), -1) == X).all())
    (16.0, True)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.asarray(digits.data, dtype=float)
    images = X.reshape(-1, 8, 8).copy()
    return images, X, np.asarray(digits.target)


def _seed(random_state):
    """Turn a numpy Generator into an int seed; pass ints, RandomState and None through."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return random_state
