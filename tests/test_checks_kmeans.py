"""The self-checks of chapter 2 (k-means) accept right answers and explain typical wrong ones."""

import numpy as np
import pytest

from gmmlib.checks import (
    SelfCheckError,
    check_assign_clusters,
    check_kmeans_plus_plus,
    check_update_centres,
)


def _distances(X, centres):
    return ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)


# --- the assignment step -------------------------------------------------------------------


def assign_right(X, centres):
    return np.argmin(_distances(X, centres), axis=1)


def assign_right_as_list(X, centres):
    return [int(k) for k in np.argmin(np.linalg.norm(X[:, None] - centres[None], axis=2), axis=1)]


def assign_argmax(X, centres):
    return np.argmax(_distances(X, centres), axis=1)


def assign_returns_distances(X, centres):
    return _distances(X, centres)


def assign_returns_min_distance(X, centres):
    return _distances(X, centres).min(axis=1)


def assign_wrong_axis(X, centres):
    return np.argmin(_distances(X, centres), axis=0)


def assign_sum_over_wrong_axis(X, centres):
    # sums the squared differences over the points instead of the features
    diff = (X[:, None, :] - centres[None, :, :]) ** 2
    return np.argmin(diff.sum(axis=0), axis=1)


def assign_not_implemented(X, centres):
    raise NotImplementedError


@pytest.mark.parametrize("func", [assign_right, assign_right_as_list])
def test_assign_accepts_right_answers(func, capsys):
    check_assign_clusters(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, message",
    [
        (assign_argmax, r"FARTHEST centre: use `argmin`"),
        (assign_returns_distances, r"looks like the distances themselves"),
        (assign_returns_min_distance, r"distances to the nearest centre: return its index"),
        (assign_wrong_axis, r"wrong axis"),
        (assign_not_implemented, r"not implemented yet"),
    ],
)
def test_assign_rejects_wrong_answers(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_assign_clusters(func)


def test_assign_rejects_sum_over_wrong_axis():
    with pytest.raises(SelfCheckError):
        check_assign_clusters(assign_sum_over_wrong_axis)


def test_assign_rejects_some_wrong_labels():
    def off_by_one(X, centres):
        labels = assign_right(X, centres)
        labels[0] = (labels[0] + 1) % centres.shape[0]
        return labels

    with pytest.raises(SelfCheckError, match=r"1 of \d+ points get the wrong label"):
        check_assign_clusters(off_by_one)


# --- the update step -----------------------------------------------------------------------


def update_right(X, labels, n_clusters):
    return np.array([X[labels == k].mean(axis=0) for k in range(n_clusters)])


def update_right_one_hot(X, labels, n_clusters):
    one_hot = np.eye(n_clusters)[labels]
    return (one_hot.T @ X) / one_hot.sum(axis=0)[:, None]


def update_sums(X, labels, n_clusters):
    return np.array([X[labels == k].sum(axis=0) for k in range(n_clusters)])


def update_transposed(X, labels, n_clusters):
    return update_right(X, labels, n_clusters).T


def update_mean_over_all_axes(X, labels, n_clusters):
    return np.array([X[labels == k].mean() for k in range(n_clusters)])


def update_wrong_axis(X, labels, n_clusters):
    return np.array([X[labels == k].mean(axis=1) for k in range(n_clusters)])


def update_global_mean(X, labels, n_clusters):
    return np.tile(X.mean(axis=0), (n_clusters, 1))


@pytest.mark.parametrize("func", [update_right, update_right_one_hot])
def test_update_accepts_right_answers(func, capsys):
    check_update_centres(func)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, message",
    [
        (update_sums, r"SUMS of the points of each cluster, not their means"),
        (update_transposed, r"transposed"),
        (update_mean_over_all_axes, r"one number per cluster instead of one vector"),
        (update_wrong_axis, r"stopped with an error.*instead of over the points"),
        (update_global_mean, r"mean of ALL the points"),
    ],
)
def test_update_rejects_wrong_answers(func, message):
    with pytest.raises(SelfCheckError, match=message):
        check_update_centres(func)


def test_update_rejects_counts_on_the_wrong_axis(monkeypatch):
    # K == D is the only case where dividing by the counts along the wrong axis broadcasts silently
    import gmmlib.checks.kmeans as kmeans_checks

    def square_problem(rng):
        labels = rng.permutation(np.repeat(np.arange(3), [2, 4, 7]))
        return 3.0 * rng.standard_normal((labels.size, 3)) + 2.0, labels, 3

    monkeypatch.setattr(kmeans_checks, "_random_labelled_points", square_problem)

    def update_counts_wrong_axis(X, labels, n_clusters):
        one_hot = np.eye(n_clusters)[labels]
        return (one_hot.T @ X) / one_hot.sum(axis=0)

    with pytest.raises(SelfCheckError, match=r"along the wrong axis"):
        check_update_centres(update_counts_wrong_axis)
    with pytest.raises(SelfCheckError, match=r"transposed"):
        check_update_centres(update_transposed)


# --- check_kmeans_plus_plus ------------------------------------------------------------------


def kmeans_plus_plus(X, n_clusters, rng, power=2, towards="nearest", draw=True):
    chosen = [int(rng.integers(len(X)))]
    for _ in range(n_clusters - 1):
        sq_dist = ((X[:, None, :] - X[chosen][None, :, :]) ** 2).sum(axis=2)
        distance = {"nearest": sq_dist.min(axis=1), "last": sq_dist[:, -1],
                    "all": sq_dist.sum(axis=1)}[towards] ** (power / 2)
        chosen.append(int(rng.choice(len(X), p=distance / distance.sum()) if draw
                          else distance.argmax()))
    return X[chosen]


def test_check_kmeans_plus_plus_accepts_correct(capsys):
    check_kmeans_plus_plus(kmeans_plus_plus)
    assert capsys.readouterr().out.startswith("Correct!")


@pytest.mark.parametrize(
    "func, match",
    [
        (lambda X, K, rng: kmeans_plus_plus(X, K, rng, power=1), r"proportional to the distance"),
        (lambda X, K, rng: kmeans_plus_plus(X, K, rng, towards="last"), r"NEAREST centre"),
        (lambda X, K, rng: kmeans_plus_plus(X, K, rng, towards="all"), r"NEAREST centre"),
        (lambda X, K, rng: kmeans_plus_plus(X, K, rng, draw=False), r"farthest"),
        (lambda X, K, rng: X[rng.choice(len(X), size=K, replace=False)], r"uniformly among"),
        (lambda X, K, rng: X[:K], r"always the same data point"),
        (lambda X, K, rng: kmeans_plus_plus(X, K, rng) + 0.1, r"one of the data points"),
        (lambda X, K, rng: kmeans_plus_plus(X, K, rng)[0], r"shape"),
    ],
)
def test_check_kmeans_plus_plus_rejects_wrong(func, match):
    with pytest.raises(SelfCheckError, match=match):
        check_kmeans_plus_plus(func)
