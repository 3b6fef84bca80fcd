"""The self-checks of chapter 11 (generating digits) accept right answers and explain typical
wrong ones."""

import doctest

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import gmmlib.checks.digits
from gmmlib.checks import (
    SelfCheckError,
    check_nearest_neighbour_distance,
    check_pixel_log_likelihood,
)


def test_doctests():
    failures, _ = doctest.testmod(gmmlib.checks.digits)
    assert failures == 0


# --- nearest-neighbour distance ------------------------------------------------------------------


def nearest_neighbour_distance(samples, train, exclude_self=False):
    distances = cdist(samples, train)
    if exclude_self:
        np.fill_diagonal(distances, np.inf)
    return distances.min(axis=1)


def nearest_neighbour_distance_numpy(samples, train, exclude_self=False):
    squared = (
        np.sum(samples**2, axis=1)[:, None] - 2 * samples @ train.T + np.sum(train**2, axis=1)
    )
    if exclude_self:
        squared[np.arange(len(samples)), np.arange(len(samples))] = np.inf
    return np.sqrt(np.maximum(squared.min(axis=1), 0))


def nearest_neighbour_distance_sklearn(samples, train, exclude_self=False):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=2 if exclude_self else 1).fit(train)
    distances, _ = nn.kneighbors(samples)
    return distances[:, -1]


@pytest.mark.parametrize(
    "func",
    [nearest_neighbour_distance, nearest_neighbour_distance_numpy,
     nearest_neighbour_distance_sklearn],
    ids=["cdist", "numpy", "sklearn"],
)
def test_nearest_accepts_correct(func, capsys):
    check_nearest_neighbour_distance(func)
    assert capsys.readouterr().out.startswith("Correct!")


def test_nearest_rejects_squared():
    def squared(samples, train, exclude_self=False):
        return nearest_neighbour_distance(samples, train, exclude_self) ** 2

    with pytest.raises(SelfCheckError, match="look squared: is a square root missing"):
        check_nearest_neighbour_distance(squared)


def test_nearest_rejects_self_matches():
    def ignores_exclude_self(samples, train, exclude_self=False):
        return cdist(samples, train).min(axis=1)

    with pytest.raises(SelfCheckError, match="found ITSELF as its nearest neighbour"):
        check_nearest_neighbour_distance(ignores_exclude_self)


def test_nearest_rejects_wrong_axis():
    def wrong_axis(samples, train, exclude_self=False):
        distances = cdist(samples, train)
        if exclude_self:
            np.fill_diagonal(distances, np.inf)
        return distances.min(axis=0)

    with pytest.raises(SelfCheckError, match="one per TRAINING point"):
        check_nearest_neighbour_distance(wrong_axis)


def test_nearest_explains_nan_for_copies():
    def expanded_without_clipping(samples, train, exclude_self=False):
        squared = (np.sum(samples**2, axis=1)[:, None] - 2 * samples @ train.T
                   + np.sum(train**2, axis=1))
        if exclude_self:
            np.fill_diagonal(squared, np.inf)
        with np.errstate(invalid="ignore"):
            return np.sqrt(squared.min(axis=1))

    with pytest.raises(SelfCheckError, match="clip at zero first"):
        check_nearest_neighbour_distance(expanded_without_clipping)


def test_nearest_rejects_farthest_and_unfinished():
    def farthest(samples, train, exclude_self=False):
        return cdist(samples, train).max(axis=1)

    def template(samples, train, exclude_self=False):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="FARTHEST"):
        check_nearest_neighbour_distance(farthest)
    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_nearest_neighbour_distance(template)


# --- log-density in pixel space -------------------------------------------------------------


def _parts(model, pca, X):
    Z = pca.transform(X)
    n_left = pca.components_.shape[1] - pca.n_components_
    residual = np.sum((X - pca.inverse_transform(Z)) ** 2, axis=1)
    s2 = pca.noise_variance_
    jacobian = -0.5 * np.sum(np.log(pca.explained_variance_))
    left_out = -0.5 * n_left * np.log(2 * np.pi * s2) - residual / (2 * s2)
    return model.score_samples(Z), jacobian, left_out


def pixel_log_likelihood(model, pca, X):
    mixture, jacobian, left_out = _parts(model, pca, X)
    return mixture + jacobian + left_out


def pixel_log_likelihood_by_rotation(model, pca, X):
    """Rotate into the full eigenbasis: whitened kept coordinates, left-out ones as they are."""
    from scipy.linalg import null_space
    from scipy.stats import norm

    centred = X - pca.mean_
    z = centred @ pca.components_.T / np.sqrt(pca.explained_variance_)
    rest = centred @ null_space(pca.components_)
    return (model.score_samples(z) - 0.5 * np.sum(np.log(pca.explained_variance_))
            + norm(0, np.sqrt(pca.noise_variance_)).logpdf(rest).sum(axis=1))


@pytest.mark.parametrize("func", [pixel_log_likelihood, pixel_log_likelihood_by_rotation])
def test_pixel_accepts_correct(func, capsys):
    check_pixel_log_likelihood(func)
    assert capsys.readouterr().out.startswith("Correct!")


def _variant(combine):
    def pixel_log_likelihood(model, pca, X):
        return combine(*_parts(model, pca, X), model, pca, X)

    return pixel_log_likelihood


@pytest.mark.parametrize(
    "combine, message",
    [
        (lambda m, j, r, *_: m, "whitened coordinates alone"),
        (lambda m, j, r, *_: m + r, "Jacobian of the whitening is missing"),
        (lambda m, j, r, *_: m - j + r, "wrong sign"),
        (lambda m, j, r, *_: m + 2 * j + r, "instead of its square root"),
        (lambda m, j, r, *_: m + j, "left out is missing"),
        (lambda m, j, r, model, pca, X: m + j + r
         - 0.5 * pca.n_components_ * np.log(2 * np.pi * pca.noise_variance_), "counts D ="),
        (lambda m, j, r, *_: np.exp(m + j + r), "not its logarithm"),
        (lambda m, j, r, *_: float(np.mean(m + j + r)), "one number"),
        (lambda m, j, r, *_: m + j + r + 1.0, "are not right"),
    ],
    ids=["mixture-only", "no-jacobian", "jacobian-sign", "jacobian-lambda", "no-left-out",
         "constant-over-D", "density", "mean", "offset"],
)
def test_pixel_rejects_typical_mistakes(combine, message):
    with pytest.raises(SelfCheckError, match=message):
        check_pixel_log_likelihood(_variant(combine))
