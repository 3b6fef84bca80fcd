"""gmmlib.relabel: renumbering clusters and components to agree with known classes."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmmlib import GaussianMixture
from gmmlib.relabel import align_components, match_labels

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _three_groups(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    y = np.repeat([0, 1, 2], 40)
    return centres[y] + rng.standard_normal((120, 2)), y


def test_match_labels_undoes_a_permutation_and_keeps_the_partition():
    y = np.repeat([0, 1, 2, 3], 5)
    labels = np.array([3, 0, 2, 1])[y]
    assert np.array_equal(match_labels(y, labels), y)
    noisy = labels.copy()
    noisy[0] = 0  # one point in the wrong cluster: the matching still follows the majority
    matched = match_labels(y, noisy)
    assert np.sum(matched != y) == 1
    # same partition: points together before are together after
    assert np.array_equal(matched[:, None] == matched[None, :], noisy[:, None] == noisy[None, :])


def test_match_labels_with_more_clusters_than_classes_and_string_classes():
    reference = np.array(["b", "b", "a", "a", "a", "b"])
    labels = np.array([2, 2, 0, 1, 1, 2])
    matched = match_labels(reference, labels)
    assert list(matched) == [1, 1, 2, 0, 0, 1]  # "a" -> cluster 1, "b" -> cluster 2, then cluster 0


def test_match_labels_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        match_labels([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="between 0"):
        match_labels([0, 1], [-1, 0])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("estimator", [GaussianMixture, SkGaussianMixture])
def test_align_components_permutes_without_changing_the_model(covariance_type, estimator):
    X, y = _three_groups()
    model = estimator(3, covariance_type=covariance_type, random_state=1).fit(X)
    before = model.predict(X).copy(), model.means_.copy()
    aligned = align_components(model, X, y)
    assert np.array_equal(aligned.predict(X), match_labels(y, model.predict(X)))
    assert np.array_equal(aligned.predict(X), y)
    np.testing.assert_allclose(aligned.score_samples(X), model.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(np.sort(aligned.predict_proba(X), axis=1),
                               np.sort(model.predict_proba(X), axis=1), rtol=1e-12)
    assert np.array_equal(model.predict(X), before[0]) and np.array_equal(model.means_, before[1])
    for k in range(3):  # component k sits on class k
        np.testing.assert_allclose(aligned.means_[k], X[y == k].mean(axis=0), atol=0.5)
