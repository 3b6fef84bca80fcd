"""Tests for gmmlib.datasets."""

import doctest

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs, make_moons

import gmmlib.datasets
from gmmlib.datasets import STRETCH, load_digit_images, make_stretched_blobs, make_two_moons


def test_stretched_blobs_recipe():
    X, y = make_stretched_blobs(n_samples=400, random_state=0, standardize=False)
    raw, raw_y = make_blobs(n_samples=400, centers=3, cluster_std=[1.5, 0.5, 1.0], random_state=0)
    np.testing.assert_allclose(X, raw @ np.array([[0.8, -0.6], [0.6, 0.8]]))
    np.testing.assert_array_equal(y, raw_y)
    np.testing.assert_allclose(STRETCH @ STRETCH.T, np.eye(2), atol=1e-15)  # a rotation


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
    spreads = [np.sqrt(np.linalg.eigvalsh(np.cov(X[y == k].T)).mean()) for k in range(3)]
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


def test_doctests_run():
    result = doctest.testmod(gmmlib.datasets)
    assert result.failed == 0 and result.attempted > 0
