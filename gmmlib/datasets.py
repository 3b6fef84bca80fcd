"""The data sets the chapters use.

Nothing is downloaded: the sets are generated, shipped with scikit-learn, or shipped with
``gmmlib`` itself (in ``gmmlib/data/``, whose README gives each file's source and licence):

- :func:`make_stretched_blobs` -- three long, tilted, parallel blobs of unequal spread, where
  k-means fails and a full-covariance Gaussian mixture succeeds.
- :func:`make_two_moons` -- two interleaving half circles: clusters that are not Gaussian.
- :func:`load_digit_images` -- the 1,797 handwritten 8 x 8 digits of scikit-learn.
- :func:`load_old_faithful` -- 272 eruptions of the Old Faithful geyser: real data with two modes.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["make_stretched_blobs", "make_two_moons", "load_digit_images", "load_old_faithful"]

#: Centres of the three blobs of :func:`make_stretched_blobs`, before the stretch.
BLOB_CENTERS = np.array([[-1.0, -5.0], [1.0, 0.0], [0.0, 5.0]])

#: Standard deviations of the three blobs of :func:`make_stretched_blobs`, before the stretch.
BLOB_STDS = (1.5, 0.5, 1.0)

_TILT = np.radians(30.0)

#: Linear map applied by :func:`make_stretched_blobs` to each point (as a row, ``x @ STRETCH``):
#: shrink the second coordinate to 0.3 of its size, then turn by 30 degrees. Its singular values
#: are 1 and 0.3, so every round blob becomes an ellipse 3.3 times longer than wide.
STRETCH = np.diag([1.0, 0.3]) @ np.array(
    [[np.cos(_TILT), np.sin(_TILT)], [-np.sin(_TILT), np.cos(_TILT)]]
)


def make_stretched_blobs(n_samples=400, random_state=0, standardize=True):
    """Three long, tilted, parallel blobs of unequal spread: where k-means fails.

    Draws ``make_blobs(n_samples, centers=BLOB_CENTERS, cluster_std=[1.5, 0.5, 1.0],
    random_state=...)``: round blobs stacked along the second axis. Each point is then multiplied
    by :data:`STRETCH`, which squeezes the second axis to 0.3 of its length and turns the plane by
    30 degrees, and by default each coordinate is standardised. The result is three parallel,
    tilted ellipses, each about 3.3 times longer than wide, lying side by side closer together
    than they are long. k-means, which draws round clusters of one size, cuts across them; a
    Gaussian mixture with full covariances follows them (the package's tests check this on
    several seeds). An earlier version multiplied by ``[[0.8, -0.6], [0.6, 0.8]]``, the matrix
    some tutorials give for this purpose: that matrix is a rotation, so its blobs stayed round and
    k-means did not fail on them. Introduced in {ref}`ch-kmeans`.

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
    >>> import numpy as np
    >>> from gmmlib.datasets import STRETCH, make_stretched_blobs
    >>> X, y = make_stretched_blobs()
    >>> X.shape, y.shape
    ((400, 2), (400,))
    >>> X.mean(axis=0).round(12) + 0.0, X.std(axis=0).round(12)
    (array([0., 0.]), array([1., 1.]))
    >>> np.linalg.svd(STRETCH, compute_uv=False).round(12)  # a stretch, not a rotation
    array([1. , 0.3])
    """
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples=n_samples,
        centers=BLOB_CENTERS,
        cluster_std=list(BLOB_STDS),
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


def load_old_faithful():
    """Eruptions of the Old Faithful geyser: 272 durations and waiting times, in minutes.

    The classic data set of R's ``datasets::faithful`` (Härdle 1991; see also Azzalini and
    Bowman 1990), shipped with ``gmmlib`` as ``gmmlib/data/old_faithful.csv``, so nothing is
    downloaded. Each row is one eruption of the geyser in Yellowstone National Park: how long it
    lasted and how long the visitors then waited for the next one. Both columns have two modes
    (short eruptions followed by short waits, long ones by long waits), which one Gaussian cannot
    describe and a mixture of two can. The durations were timed in seconds and are heavily
    rounded (multiples of 5 seconds are unusually frequent), so the data have many ties.
    Introduced in {ref}`ch-one-gaussian`.

    Returns
    -------
    pandas.DataFrame of shape (272, 2)
        Columns ``"eruptions"`` (duration of the eruption, minutes) and ``"waiting"`` (time to
        the next eruption, minutes), both float, in the order of R's data set.
        ``.to_numpy()`` gives the data matrix :math:`X` with :math:`N = 272`, :math:`D = 2`.

    Examples
    --------
    >>> from gmmlib.datasets import load_old_faithful
    >>> faithful = load_old_faithful()
    >>> faithful.shape, list(faithful.columns)
    ((272, 2), ['eruptions', 'waiting'])
    >>> faithful.mean().round(3).tolist()
    [3.488, 70.897]
    """
    import pandas as pd

    with (resources.files("gmmlib") / "data" / "old_faithful.csv").open("r") as handle:
        return pd.read_csv(handle, dtype=float)


def _seed(random_state):
    """Turn a numpy Generator into an int seed; pass ints, RandomState and None through."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return random_state
