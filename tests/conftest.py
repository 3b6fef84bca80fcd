"""Shared fixtures for the gmmlib test suite.

The central piece is :class:`RandomData`, modelled on the ``RandomData`` helper of
scikit-learn's ``sklearn/mixture/tests/test_gaussian_mixture.py``: a mixture with known
("true") weights, means, covariances and precisions for every covariance type, and one data
set drawn from it per covariance type, so tests can compare fitted parameters with the truth.

Fixtures
--------
``covariance_type``
    Parametrised over the four covariance types; a test that requests it runs four times.
``random_data``
    A session-wide ``RandomData(np.random.RandomState(0))`` (200 samples, 2 components,
    2 features, well-separated means). Treat it as read-only.
``make_random_data``
    A factory: ``make_random_data(seed=0, n_samples=200, n_components=2, n_features=2,
    scale=50, dtype=np.float64)`` returns a fresh ``RandomData``.
``single_blas_thread``
    Module-scoped: BLAS/OpenMP held to one thread; opt in with
    ``pytestmark = pytest.mark.usefixtures("single_blas_thread")``.
"""

import numpy as np
import pytest
from scipy import linalg
from sklearn.datasets import make_spd_matrix

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def generate_data(n_samples, n_features, weights, means, covariances, covariance_type, *,
                  dtype=np.float64, seed=0):
    """Draw ``round(w_k * n_samples)`` points from each component of a known mixture.

    Parameters
    ----------
    n_samples : int
        Total number of points (up to rounding of ``weights * n_samples``).
    n_features : int
        Dimension :math:`D`.
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : dict
        Covariances in scikit-learn's shapes, keyed by covariance type: ``"full"`` (K, D, D),
        ``"tied"`` (D, D), ``"diag"`` (K, D), ``"spherical"`` (K,).
    covariance_type : {"full", "tied", "diag", "spherical"}
        Which entry of ``covariances`` to draw with.
    dtype : numpy dtype, default=np.float64
    seed : int, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, D)
        Points of component 0 first, then component 1, ...
    """
    rng = np.random.RandomState(seed)
    blocks = []
    for k, (w, m) in enumerate(zip(weights, means)):
        if covariance_type == "spherical":
            cov = covariances["spherical"][k] * np.eye(n_features)
        elif covariance_type == "diag":
            cov = np.diag(covariances["diag"][k])
        elif covariance_type == "tied":
            cov = covariances["tied"]
        else:
            cov = covariances["full"][k]
        blocks.append(rng.multivariate_normal(m, cov, int(np.round(w * n_samples))).astype(dtype))
    return np.vstack(blocks)


class RandomData:
    """A Gaussian mixture with known parameters and samples drawn from it.

    Attributes
    ----------
    n_samples, n_components, n_features : int
    weights : ndarray of shape (K,)
        True mixing weights (positive, sum to 1).
    means : ndarray of shape (K, D)
        True means, uniform in ``[0, scale)``.
    covariances : dict
        True covariances for each covariance type, in scikit-learn's shapes:
        ``"full"`` (K, D, D), ``"tied"`` (D, D), ``"diag"`` (K, D), ``"spherical"`` (K,).
    precisions : dict
        The inverses of ``covariances``, same keys and shapes.
    X : dict
        ``X[covariance_type]`` is an ndarray of shape (n_samples, D) drawn with that
        covariance type's true covariances.
    Y : ndarray of shape (n_samples,)
        True component of each row of every ``X[...]``.
    """

    def __init__(self, rng, n_samples=200, n_components=2, n_features=2, scale=50,
                 dtype=np.float64):
        self.n_samples = n_samples
        self.n_components = n_components
        self.n_features = n_features

        weights = rng.rand(n_components)
        self.weights = (weights / weights.sum()).astype(dtype)
        self.means = (rng.rand(n_components, n_features) * scale).astype(dtype)
        self.covariances = {
            "spherical": (0.5 + rng.rand(n_components)).astype(dtype),
            "diag": ((0.5 + rng.rand(n_components, n_features)) ** 2).astype(dtype),
            "tied": make_spd_matrix(n_features, random_state=rng).astype(dtype),
            "full": np.array(
                [make_spd_matrix(n_features, random_state=rng).astype(dtype) * 0.5
                 for _ in range(n_components)]
            ),
        }
        self.precisions = {
            "spherical": 1.0 / self.covariances["spherical"],
            "diag": 1.0 / self.covariances["diag"],
            "tied": linalg.inv(self.covariances["tied"]),
            "full": np.array([linalg.inv(c) for c in self.covariances["full"]]),
        }
        self.X = {
            ct: generate_data(n_samples, n_features, self.weights, self.means,
                              self.covariances, ct, dtype=dtype)
            for ct in COVARIANCE_TYPES
        }
        self.Y = np.hstack(
            [np.full(int(np.round(w * n_samples)), k, dtype=int)
             for k, w in enumerate(self.weights)]
        )


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request):
    """Each of the four covariance types in turn."""
    return request.param


@pytest.fixture(scope="session")
def random_data():
    """A read-only ``RandomData`` (seed 0, 200 samples, K=2, D=2), shared by the session."""
    return RandomData(np.random.RandomState(0))


@pytest.fixture(scope="session")
def make_random_data():
    """Factory for fresh ``RandomData`` objects with any size, seed and dtype."""

    def make(seed=0, n_samples=200, n_components=2, n_features=2, scale=50,
             dtype=np.float64):
        return RandomData(np.random.RandomState(seed), n_samples=n_samples,
                          n_components=n_components, n_features=n_features,
                          scale=scale, dtype=dtype)

    return make


@pytest.fixture(scope="module")
def single_blas_thread():
    """Hold BLAS/OpenMP to one thread for a module.

    The suite runs with ``-n 2`` on two cores: two workers each starting two BLAS/OpenMP
    threads oversubscribe the machine, and on the tiny data of unit tests the threads' spin
    waits then cost far more than the arithmetic (a 40-point fit went from ~10 ms to ~0.5 s).
    Opt in with ``pytestmark = pytest.mark.usefixtures("single_blas_thread")``.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
