"""Tests for gmmlib.datasets."""

import doctest
import fnmatch
import tomllib
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

import gmmlib.datasets
from gmmlib import GaussianMixture
from gmmlib.datasets import (
    BLOB_CENTERS,
    STRETCH,
    load_digit_images,
    load_old_faithful,
    make_stretched_blobs,
    make_two_moons,
)

ROOT = Path(__file__).resolve().parents[1]


def test_stretched_blobs_recipe():
    X, y = make_stretched_blobs(n_samples=400, random_state=0, standardize=False)
    raw, raw_y = make_blobs(
        n_samples=400, centers=BLOB_CENTERS, cluster_std=[1.5, 0.5, 1.0], random_state=0
    )
    np.testing.assert_allclose(X, raw @ STRETCH)
    np.testing.assert_array_equal(y, raw_y)


def test_stretch_is_a_stretch_not_a_rotation():
    singular_values = np.linalg.svd(STRETCH, compute_uv=False)
    np.testing.assert_allclose(singular_values, [1.0, 0.3])
    assert not np.allclose(STRETCH @ STRETCH.T, np.eye(2), atol=0.1)
    # and each blob comes out elongated: its covariance's axes differ by the same factor
    X, y = make_stretched_blobs(n_samples=3000, standardize=False)
    for k in range(3):
        eigenvalues = np.linalg.eigvalsh(np.cov(X[y == k].T))
        assert np.sqrt(eigenvalues[1] / eigenvalues[0]) == pytest.approx(1 / 0.3, rel=0.1)


@pytest.mark.parametrize("seed", range(8))
def test_kmeans_fails_where_a_full_covariance_mixture_succeeds(seed):
    """The point of the set, on several draws: not an accident of one seed."""
    X, y = make_stretched_blobs(random_state=seed)
    kmeans = KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
    mixture = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
    ari_kmeans = adjusted_rand_score(y, kmeans.labels_)
    ari_mixture = adjusted_rand_score(y, mixture.predict(X))
    assert ari_kmeans < 0.75
    assert ari_mixture > 0.95
    assert ari_mixture - ari_kmeans > 0.25


def test_stretched_blobs_standardized():
    X, y = make_stretched_blobs()
    raw, _ = make_stretched_blobs(standardize=False)
    assert X.shape == (400, 2) and y.shape == (400,)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1)
    np.testing.assert_allclose(X, (raw - raw.mean(axis=0)) / raw.std(axis=0))
    assert np.bincount(y).tolist() == [134, 133, 133]


def test_stretched_blobs_blobs_differ_in_spread():
    X, y = make_stretched_blobs(n_samples=3000, standardize=False)
    # the map's singular values are 1 and 0.3: the long axis keeps the blob's spread
    spreads = [np.sqrt(np.linalg.eigvalsh(np.cov(X[y == k].T))[1]) for k in range(3)]
    np.testing.assert_allclose(spreads, [1.5, 0.5, 1.0], rtol=0.1)


def test_stretched_blobs_seeds():
    a, _ = make_stretched_blobs(random_state=3)
    b, _ = make_stretched_blobs(random_state=3)
    c, _ = make_stretched_blobs(random_state=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    g1, _ = make_stretched_blobs(random_state=np.random.default_rng(1))
    g2, _ = make_stretched_blobs(random_state=np.random.default_rng(1))
    np.testing.assert_array_equal(g1, g2)
    X, y = make_stretched_blobs(n_samples=50)
    assert X.shape == (50, 2) and y.shape == (50,)


def test_two_moons_matches_sklearn():
    X, y = make_two_moons()
    ref_X, ref_y = make_moons(n_samples=200, noise=0.05, random_state=0)
    np.testing.assert_array_equal(X, ref_X)
    np.testing.assert_array_equal(y, ref_y)
    X, y = make_two_moons(n_samples=51, noise=0.2, random_state=np.random.default_rng(0))
    assert X.shape == (51, 2) and set(y.tolist()) == {0, 1}


def test_digit_images():
    images, X, y = load_digit_images()
    assert images.shape == (1797, 8, 8) and X.shape == (1797, 64) and y.shape == (1797,)
    assert images.dtype == np.float64 and X.dtype == np.float64
    assert np.issubdtype(y.dtype, np.integer)
    digits = load_digits()
    np.testing.assert_array_equal(X, digits.data)
    np.testing.assert_array_equal(images, digits.images)
    np.testing.assert_array_equal(y, digits.target)
    assert X.min() == 0 and X.max() == 16
    images[0, 0, 0] = 99.0  # images and X do not share memory
    assert X[0, 0] == 0


def test_old_faithful_is_rs_faithful():
    faithful = load_old_faithful()
    assert faithful.shape == (272, 2)
    assert list(faithful.columns) == ["eruptions", "waiting"]
    assert all(dtype == np.float64 for dtype in faithful.dtypes)
    # R: summary(faithful); sd(faithful$eruptions); sd(faithful$waiting)
    assert faithful["eruptions"].mean() == pytest.approx(3.487783, abs=1e-6)
    assert faithful["waiting"].mean() == pytest.approx(70.897059, abs=1e-6)
    assert faithful["eruptions"].std() == pytest.approx(1.141371, abs=1e-6)
    assert faithful["waiting"].std() == pytest.approx(13.594974, abs=1e-6)
    assert faithful.min().tolist() == [1.6, 43.0] and faithful.max().tolist() == [5.1, 96.0]
    assert faithful.iloc[0].tolist() == [3.6, 79.0] and faithful.iloc[-1].tolist() == [4.467, 74.0]
    assert faithful["eruptions"].median() == 4.0 and faithful["waiting"].median() == 76.0


def test_old_faithful_returns_a_fresh_copy():
    first = load_old_faithful()
    first.iloc[0, 0] = -1.0
    assert load_old_faithful().iloc[0, 0] == 3.6


def test_shipped_data_are_installed_and_documented():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["gmmlib"]
    data_files = sorted(p.relative_to(ROOT / "gmmlib").as_posix()
                        for p in (ROOT / "gmmlib" / "data").iterdir())
    assert "data/old_faithful.csv" in data_files
    for name in data_files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
    readme = (ROOT / "gmmlib" / "data" / "README.md").read_text()
    for name in data_files:
        if name.endswith(".csv"):
            assert f"`{Path(name).name}`" in readme, f"{name}: source and licence missing"
    assert "Licence" in readme and "Härdle" in readme


def test_doctests_run():
    result = doctest.testmod(gmmlib.datasets)
    assert result.failed == 0 and result.attempted > 0
