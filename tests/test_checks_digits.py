"""The self-checks of chapter 10 (generating digits) accept right answers and explain typical
wrong ones."""

import doctest

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import gmmlib.checks.digits
from gmmlib.checks import SelfCheckError, check_nearest_neighbour_distance, check_sample_digits


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


def test_nearest_rejects_farthest_and_unfinished():
    def farthest(samples, train, exclude_self=False):
        return cdist(samples, train).max(axis=1)

    def template(samples, train, exclude_self=False):
        raise NotImplementedError

    with pytest.raises(SelfCheckError, match="FARTHEST"):
        check_nearest_neighbour_distance(farthest)
    with pytest.raises(SelfCheckError, match="not implemented yet"):
        check_nearest_neighbour_distance(template)


# --- sampling digits -----------------------------------------------------------------------------


def sample_digits(model, pca, n, random_state):
    Z_new, _ = model.sample(n, random_state=random_state)
    pixels = np.clip(pca.inverse_transform(Z_new), 0, 16)
    return pixels.reshape(n, 8, 8)


def test_sample_digits_accepts_correct(capsys):
    check_sample_digits(sample_digits)
    assert capsys.readouterr().out.startswith("Correct!")


def test_sample_digits_rejects_forgotten_inverse_transform():
    def no_inverse_transform(model, pca, n, random_state):
        Z_new, _ = model.sample(n, random_state=random_state)
        return np.clip(Z_new, 0, 16).reshape(n, 8, 8)

    def no_inverse_transform_flat(model, pca, n, random_state):
        Z_new, _ = model.sample(n, random_state=random_state)
        return np.clip(Z_new, 0, 16)

    for func in (no_inverse_transform, no_inverse_transform_flat):
        with pytest.raises(SelfCheckError, match="PCA coordinates.*inverse_transform"):
            check_sample_digits(func)


def test_sample_digits_rejects_wrong_reshape_order():
    def column_major(model, pca, n, random_state):
        Z_new, _ = model.sample(n, random_state=random_state)
        return np.clip(pca.inverse_transform(Z_new), 0, 16).reshape(n, 8, 8, order="F")

    def flat(model, pca, n, random_state):
        Z_new, _ = model.sample(n, random_state=random_state)
        return np.clip(pca.inverse_transform(Z_new), 0, 16)

    with pytest.raises(SelfCheckError, match="transposed images"):
        check_sample_digits(column_major)
    with pytest.raises(SelfCheckError, match="flat images"):
        check_sample_digits(flat)


def test_sample_digits_rejects_no_clipping():
    def no_clip(model, pca, n, random_state):
        Z_new, _ = model.sample(n, random_state=random_state)
        return pca.inverse_transform(Z_new).reshape(n, 8, 8)

    with pytest.raises(SelfCheckError, match="between 0 and 16, so clip them"):
        check_sample_digits(no_clip)


def test_sample_digits_rejects_ignored_random_state():
    def uses_model_seed(model, pca, n, random_state):
        Z_new, _ = model.sample(n)
        return np.clip(pca.inverse_transform(Z_new), 0, 16).reshape(n, 8, 8)

    rng = np.random.default_rng(0)

    def fresh_seed(model, pca, n, random_state):
        Z_new, _ = model.sample(n, random_state=int(rng.integers(2**31)))
        return np.clip(pca.inverse_transform(Z_new), 0, 16).reshape(n, 8, 8)

    with pytest.raises(SelfCheckError, match="ignores its `random_state` argument"):
        check_sample_digits(uses_model_seed)
    with pytest.raises(SelfCheckError, match="different digits for the same `random_state`"):
        check_sample_digits(fresh_seed)
