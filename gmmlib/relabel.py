"""Give clusters and mixture components the numbers of known classes.

A clustering numbers its clusters arbitrarily (label switching, {ref}`ch-mixture-model`): the
same partition can come back as 0, 1, 2 from one fit and as 2, 0, 1 from the next. To compare
fits with each other, or to draw each true class in the same colour in every panel of a figure,
renumber them to agree with reference labels as far as possible:

- :func:`match_labels` -- renumber a vector of cluster labels.
- :func:`align_components` -- a copy of a fitted mixture with its components reordered, so that
  ``predict`` returns the renumbered labels and component ``k`` is drawn in colour ``k``.

Both choose the one-to-one assignment of clusters to classes that agrees on the most points
(the Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`). Introduced in
{ref}`ch-covariance-types`.
"""

import copy

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils.validation import check_is_fitted

__all__ = ["match_labels", "align_components"]


def _assignment(reference, labels, n_clusters):
    """order[j] = the cluster that gets number j; clusters beyond the classes keep the tail."""
    reference = np.asarray(reference)
    labels = np.asarray(labels)
    if reference.shape != labels.shape or reference.ndim != 1:
        raise ValueError(
            "reference and labels must be 1-D arrays of the same length; got shapes "
            f"{reference.shape} and {labels.shape}."
        )
    classes = np.unique(reference)
    if labels.size and (labels.min() < 0 or labels.max() >= n_clusters):
        raise ValueError(f"labels must lie between 0 and {n_clusters - 1}.")
    agreement = np.zeros((len(classes), n_clusters))
    np.add.at(agreement, (np.searchsorted(classes, reference), labels), 1)
    rows, cols = linear_sum_assignment(-agreement)
    order = list(cols[np.argsort(rows)])
    order += [k for k in range(n_clusters) if k not in order]
    return np.array(order)


def match_labels(reference, labels):
    """Renumber cluster labels so that they agree with reference labels on as many points as possible.

    Parameters
    ----------
    reference : array-like of shape (N,)
        Known classes, e.g. the true blobs or species; any sortable values.
    labels : array-like of int of shape (N,)
        Cluster numbers :math:`0, \\dots, K - 1`, e.g. from ``KMeans.labels_`` or ``predict``.

    Returns
    -------
    ndarray of int of shape (N,)
        The same partition as ``labels``. The cluster matched to the ``j``-th class (in sorted
        order) is numbered ``j``; clusters left over when there are more clusters than classes
        are numbered after them.

    Raises
    ------
    ValueError
        If the two arrays are not 1-D of the same length, or a label is negative.

    Examples
    --------
    >>> from gmmlib.relabel import match_labels
    >>> match_labels([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1])
    array([0, 0, 1, 1, 2, 2])
    """
    labels = np.asarray(labels)
    n_clusters = int(labels.max()) + 1 if labels.size else 0
    order = _assignment(reference, labels, n_clusters)
    return np.argsort(order)[labels]


def align_components(model, X, reference):
    """A copy of a fitted mixture whose components are reordered to agree with reference labels.

    Component ``k`` of the copy is the component of ``model`` whose points (by ``predict``) best
    match the ``k``-th class of ``reference``, so the copy's ``predict(X)`` equals
    ``match_labels(reference, model.predict(X))`` and :func:`gmmlib.plotting.plot_gmm` draws each
    class in the same colour whatever the fit numbered it. Nothing is refitted: weights, means,
    covariances and precisions are permuted (a tied covariance is shared and stays as it is).

    Parameters
    ----------
    model : GaussianMixture
        A fitted :class:`gmmlib.GaussianMixture` (or scikit-learn's).
    X : array-like of shape (N, D)
        Data to predict the components of.
    reference : array-like of shape (N,)
        Known classes of the rows of ``X``.

    Returns
    -------
    GaussianMixture
        A reordered deep copy of ``model``; ``model`` itself is not changed.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib import GaussianMixture
    >>> from gmmlib.relabel import align_components
    >>> X = np.r_[np.zeros((20, 1)), np.full((20, 1), 10.0)] + np.tile([[0.0], [0.5]], (20, 1))
    >>> y = np.r_[np.ones(20), np.zeros(20)]  # the upper group is class 0
    >>> model = GaussianMixture(2, random_state=0).fit(X)
    >>> aligned = align_components(model, X, y)
    >>> bool((aligned.predict(X) == y).all()), float(aligned.means_[0, 0]) > 5
    (True, True)
    """
    check_is_fitted(model, "means_")
    n_components = len(model.weights_)
    order = _assignment(reference, model.predict(X), n_components)
    aligned = copy.deepcopy(model)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        value = getattr(aligned, name, None)
        if value is None or (name != "weights_" and name != "means_"
                             and model.covariance_type == "tied"):
            continue
        setattr(aligned, name, np.asarray(value)[order])
    return aligned
