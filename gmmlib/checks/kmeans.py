"""Self-checks for chapter 2, {ref}`ch-kmeans` ("Clustering before mixtures: k-means and its limits").

- :func:`check_assign_clusters` -- the assignment step of Lloyd's algorithm: the label of the
  nearest centre for every point.
- :func:`check_update_centres` -- the update step: the mean of the points of each cluster.
- :func:`check_kmeans_plus_plus` -- the k-means++ start: each new centre a data point drawn with
  probability proportional to its squared distance to the nearest centre chosen so far.

Both call the reader's function on random inputs (several numbers of points, features and
clusters), compare the result with a reference computed with NumPy, and either print a
short success message or raise :class:`~gmmlib.checks.SelfCheckError` saying in plain words what
looks wrong (distances returned instead of labels, ``argmax`` instead of ``argmin``, the wrong
axis, sums instead of means, ...).
"""

import numpy as np

from ._core import (
    SelfCheckError,
    call_reader_function,
    check_close,
    check_rng,
    check_shape,
    fail,
    passed,
    self_check,
)
from ._core import random_mixture, sample_mixture

__all__ = ["check_assign_clusters", "check_update_centres", "check_kmeans_plus_plus"]

_N_TRIALS = 5


def _squared_distances(X, centres):
    """(N, K) squared Euclidean distances between the rows of X and the centres."""
    return ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)


def _random_points_and_centres(rng):
    """Points from a random mixture and K centres near (not at) its means."""
    n_clusters = int(rng.integers(2, 6))
    n_features = int(rng.integers(1, 5))
    n_samples = int(rng.integers(max(20, 3 * n_clusters), 60))
    weights, means, covariances = random_mixture(rng, n_clusters, n_features, "full")
    X = sample_mixture(rng, weights, means, covariances, "full", n_samples)[0]
    centres = means + 0.5 * rng.standard_normal(means.shape)
    return X, centres


def _as_labels(result, n_samples, n_clusters, expected):
    """Turn the reader's labels into an int array of shape (N,), or fail in plain words."""
    try:
        labels = np.asarray(result, dtype=float)
    except (TypeError, ValueError):
        fail(
            f"your function should return a NumPy array of {n_samples} integer labels (one per "
            f"row of X), but it returned {type(result).__name__}, which is not an array of numbers."
        )
    if labels.shape == (n_samples, n_clusters):
        fail(
            f"your function returned an array of shape {labels.shape}, one row per point and one "
            "column per centre: that looks like the distances themselves. Return one label per "
            "point: the index of the nearest centre, e.g. `np.argmin(distances, axis=1)`."
        )
    if labels.shape == (n_clusters,) and n_clusters != n_samples:
        fail(
            f"your function returned {n_clusters} labels, one per centre, but X has {n_samples} "
            "rows and every point needs a label. The minimum ran over the wrong axis: with "
            "distances of shape (N, K), take `np.argmin(distances, axis=1)` (over the centres), "
            "not `axis=0` (over the points)."
        )
    if labels.shape == (n_clusters, n_samples):
        fail(
            f"your function returned an array of shape {labels.shape}; it should return one "
            f"label per point, shape ({n_samples},). It looks like the distances arranged as "
            "(K, N): take the index of the smallest distance for each point."
        )
    labels = check_shape("the labels", labels, (n_samples,))
    if not np.all(np.isfinite(labels)):
        fail("the labels contain NaN or infinite values; they should be integers 0, ..., K - 1.")
    if not np.all(labels == np.round(labels)):
        hint = ""
        distances = _squared_distances(*expected)
        if np.allclose(labels, distances.min(axis=1)) or np.allclose(
            labels, np.sqrt(distances.min(axis=1))
        ):
            hint = (
                " They are the distances to the nearest centre: return its index instead "
                "(`argmin`, not `min`)."
            )
        fail(
            "the labels should be whole numbers 0, 1, ..., K - 1 (the index of a centre), but "
            f"your function returned values such as {labels[labels != np.round(labels)][0]:.4g}."
            + hint
        )
    labels = labels.astype(int)
    if labels.min() < 0 or labels.max() >= n_clusters:
        fail(
            f"the labels should lie between 0 and K - 1 = {n_clusters - 1} (one index per centre), "
            f"but your function returned the label {labels.min() if labels.min() < 0 else labels.max()}."
        )
    return labels


@self_check
def check_assign_clusters(func):
    """Check the reader's assignment step of Lloyd's algorithm.

    ``func(X, centres)`` must return, for every row :math:`x_n` of ``X``, the index of the nearest
    centre, :math:`\\operatorname{argmin}_k \\lVert x_n - \\mu_k \\rVert^2`, as an integer array
    of shape (N,). The check calls it on several random data sets (different N, D, K)
    and compares with a NumPy reference. Exercise of {ref}`ch-kmeans`.

    Parameters
    ----------
    func : callable
        The reader's function ``func(X, centres) -> labels`` with ``X`` of shape (N, D),
        ``centres`` of shape (K, D) and ``labels`` of shape (N,), integers in 0..K-1.

    Returns
    -------
    None
        Prints a success message.

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape, holds distances instead of labels, picks the farthest
        centre instead of the nearest, or assigns some points to the wrong centre.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_assign_clusters
    >>> def assign_clusters(X, centres):
    ...     distances = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    ...     return np.argmin(distances, axis=1)
    >>> check_assign_clusters(assign_clusters)
    Correct! every point goes to its nearest centre, on 5 random data sets.
    """
    rng = check_rng("check_assign_clusters")
    for _ in range(_N_TRIALS):
        X, centres = _random_points_and_centres(rng)
        n_samples, n_clusters = X.shape[0], centres.shape[0]
        result = call_reader_function(func, X, centres)
        labels = _as_labels(result, n_samples, n_clusters, (X, centres))
        distances = _squared_distances(X, centres)
        expected = distances.argmin(axis=1)
        if np.array_equal(labels, expected):
            continue
        if np.array_equal(labels, distances.argmax(axis=1)):
            fail(
                "your function sends every point to its FARTHEST centre: use `argmin` (the "
                "smallest distance), not `argmax`."
            )
        wrong = np.flatnonzero(labels != expected)
        n = int(wrong[0])
        fail(
            f"{wrong.size} of {n_samples} points get the wrong label. For example point {n} is "
            f"closest to centre {expected[n]} (squared distance {distances[n, expected[n]]:.4g}) "
            f"but your function says {labels[n]} (squared distance {distances[n, labels[n]]:.4g}). "
            "Compute the distance of every point to every centre, summing the squared "
            "differences over the features (axis of length D), then take the argmin over the centres."
        )
    passed(f"every point goes to its nearest centre, on {_N_TRIALS} random data sets.")


def _random_labelled_points(rng):
    """Random points and labels in which every cluster has a different number (>= 2) of points."""
    n_clusters = int(rng.integers(2, 6))
    n_features = int(rng.integers(1, 5))
    counts = 2 + rng.permutation(n_clusters) * 2 + rng.integers(0, 2, size=n_clusters)
    labels = rng.permutation(np.repeat(np.arange(n_clusters), counts))
    X = 3.0 * rng.standard_normal((labels.size, n_features)) + 2.0
    return X, labels, n_clusters


@self_check
def check_update_centres(func):
    """Check the reader's update step of Lloyd's algorithm.

    ``func(X, labels, n_clusters)`` must return the mean of the points of each cluster,
    :math:`\\mu_k = \\frac{1}{N_k} \\sum_{n : z_n = k} x_n`, as an array of shape (K, D), row
    :math:`k` for cluster :math:`k`. The check calls it on several random data sets
    (every cluster non-empty, clusters of different sizes) and compares with a NumPy reference.
    Exercise of {ref}`ch-kmeans`.

    Parameters
    ----------
    func : callable
        The reader's function ``func(X, labels, n_clusters) -> centres`` with ``X`` of shape
        (N, D), ``labels`` of shape (N,) (integers in 0..K-1), ``n_clusters`` an int K and
        ``centres`` of shape (K, D).

    Returns
    -------
    None
        Prints a success message.

    Raises
    ------
    SelfCheckError
        If the result has the wrong shape (e.g. transposed, or a mean over the wrong axis), holds
        sums instead of means, or differs from the cluster means.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_update_centres
    >>> def update_centres(X, labels, n_clusters):
    ...     return np.array([X[labels == k].mean(axis=0) for k in range(n_clusters)])
    >>> check_update_centres(update_centres)
    Correct! your centres are the means of their clusters, on 5 random data sets.
    """
    rng = check_rng("check_update_centres")
    for _ in range(_N_TRIALS):
        X, labels, n_clusters = _random_labelled_points(rng)
        n_features = X.shape[1]
        counts = np.bincount(labels, minlength=n_clusters)
        sums = np.zeros((n_clusters, n_features))
        np.add.at(sums, labels, X)
        expected = sums / counts[:, None]
        try:
            result = call_reader_function(func, X, labels, n_clusters)
        except SelfCheckError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValueError) and "inhomogeneous" in str(cause):
                raise SelfCheckError(
                    f"{exc} NumPy could not stack your per-cluster results because they have "
                    "different lengths: this happens when the mean runs over the features "
                    "(`axis=1`, one number per point) instead of over the points of the "
                    "cluster (`axis=0`, one vector per cluster)."
                ) from cause
            raise
        shape = (n_clusters, n_features)
        try:
            got = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            got = None
        if got is not None and got.shape != shape:
            if got.shape == (n_clusters, X.shape[0]) or got.shape == (X.shape[0],):
                fail(
                    f"your centres have shape {got.shape} but should have shape {shape} (one "
                    "row per cluster, one column per feature). The mean ran over the features "
                    "instead of over the points: average the rows of each cluster with "
                    "`axis=0`, not `axis=1`."
                )
            if got.shape == (n_clusters,):
                fail(
                    f"your centres have shape {got.shape} but should have shape {shape}: one "
                    "number per cluster instead of one vector. The mean ran over all axes at "
                    "once: average the rows of each cluster with `axis=0`."
                )
        got = check_shape("the centres", result, shape)
        if np.allclose(got, sums):
            fail(
                "your centres are the SUMS of the points of each cluster, not their means: "
                "divide each sum by the number of points in that cluster, N_k."
            )
        if n_clusters == n_features and not np.allclose(got, expected) and np.allclose(got.T, expected):
            fail(
                "your centres look transposed: row k should be the centre of cluster k (shape "
                "(K, D)), but your columns hold the centres. Check the axis of your mean or "
                "transpose the result."
            )
        if n_clusters == n_features and np.allclose(got, sums / counts[None, :]):
            fail(
                "your centres divide the sums by the cluster sizes along the wrong axis (column "
                "k divided by N_k instead of row k): divide by `counts[:, None]`, so that each "
                "row, one cluster's sum, is divided by that cluster's number of points."
            )
        if np.allclose(got, np.broadcast_to(X.mean(axis=0), shape)):
            fail(
                "every centre is the mean of ALL the points: select the points of cluster k "
                "first (e.g. `X[labels == k]`) and average only those."
            )
        check_close("the centres", got, expected)
    passed(f"your centres are the means of their clusters, on {_N_TRIALS} random data sets.")


# ---------------------------------------------------------------------------------------------
# k-means++
# ---------------------------------------------------------------------------------------------

# Six points on a line-like layout with unequal gaps, so that the rules "proportional to the
# squared distance", "to the distance", "uniform" and "the farthest point" give clearly different
# probabilities.
_SEEDING_POINTS = np.array([[0.0, 0.0], [1.0, 0.2], [2.5, 0.0], [6.0, 0.5], [7.0, 0.0], [12.0, 0.3]])
_SEEDING_RUNS = 3000
# Tolerance in standard errors of a count; with a dozen counts per test, a correct
# implementation fails by chance with probability below 1e-7 (and the draws are seeded).
_N_SIGMA = 6.0


def _seeding_probabilities(X, n_clusters, weight):
    """P(the sequence of chosen indices) for every sequence, by enumeration.

    ``weight(X, chosen, candidates)`` gives the unnormalised probabilities of the next centre.
    Returns a dict {tuple of indices: probability}.
    """
    n_samples = len(X)
    sequences = {(i,): 1.0 / n_samples for i in range(n_samples)}
    for _ in range(n_clusters - 1):
        extended = {}
        for chosen, probability in sequences.items():
            w = weight(X, list(chosen))
            total = w.sum()
            for j in range(n_samples):
                if w[j] > 0:
                    extended[chosen + (j,)] = probability * w[j] / total
        sequences = extended
    return sequences


def _squared_to_nearest(X, chosen):
    return _squared_distances(X, X[chosen]).min(axis=1)


_RULES = {
    "right": _squared_to_nearest,
    "distance": lambda X, chosen: np.sqrt(_squared_to_nearest(X, chosen)),
    "uniform": lambda X, chosen: np.isin(np.arange(len(X)), chosen, invert=True).astype(float),
}


def _marginals(sequences, n_samples, position):
    """P(the centre at ``position`` is point i), for i = 0..N-1."""
    result = np.zeros(n_samples)
    for chosen, probability in sequences.items():
        result[chosen[position]] += probability
    return result


def _chosen_indices(func, X, n_clusters, rng, n_runs):
    """Run the reader's seeding ``n_runs`` times; the row index of every centre it returns."""
    D = X.shape[1]
    indices = np.empty((n_runs, n_clusters), dtype=int)
    for run in range(n_runs):
        centres = call_reader_function(func, X, n_clusters, np.random.default_rng(rng.integers(2**32)))
        centres = check_shape("the centres", centres, (n_clusters, D))
        matches = np.all(np.isclose(centres[:, None, :], X[None, :, :], rtol=0, atol=1e-12), axis=2)
        if not matches.any(axis=1).all():
            fail("every centre should be one of the data points (a row of X), but at least one of "
                 "yours is not: k-means++ picks data points, it does not compute new ones.")
        indices[run] = matches.argmax(axis=1)
        if len(set(indices[run].tolist())) < n_clusters:
            fail("the same data point was chosen twice as a centre. A point already chosen is at "
                 "distance 0 from the nearest centre, so it can never be chosen again; if yours "
                 "was, the distance is probably measured to the last centre only, or summed over "
                 "the centres, instead of taken to the NEAREST centre (a minimum over them).")
    return indices


def _matches(counts, probabilities, n_runs):
    expected = n_runs * probabilities
    spread = np.sqrt(np.maximum(expected * (1 - probabilities), 1.0))
    return bool(np.all(np.abs(counts - expected) <= _N_SIGMA * spread))


@self_check
def check_kmeans_plus_plus(func):
    """Check a reader's k-means++ seeding ``func(X, n_clusters, rng) -> centres``.

    The first centre must be a data point chosen uniformly at random; every further centre a data
    point chosen with probability proportional to its squared distance to the nearest centre
    chosen so far, drawing from the generator ``rng``. The check runs the function 3,000 times
    on six points for K = 2 and K = 3 and compares how often each point is chosen first, second
    and third with the exact probabilities, within sampling error.

    Parameters
    ----------
    func : callable
        ``func(X (N, D), n_clusters, rng) -> centres (K, D)``, rows of ``X``.

    Raises
    ------
    SelfCheckError
        If the centres are not data points, repeat, or are drawn with other probabilities; the
        message names the rule the reader's function seems to follow (distance instead of squared
        distance, uniform, the farthest point, a distance to the last centre instead of the
        nearest).

    Introduced in {ref}`ch-kmeans`, Exercise ``ch02_ex5``.
    """
    rng = check_rng("check_kmeans_plus_plus")
    X = _SEEDING_POINTS
    n_samples = len(X)
    for n_clusters in (2, 3):
        indices = _chosen_indices(func, X, n_clusters, rng, _SEEDING_RUNS)
        counts = [np.bincount(indices[:, position], minlength=n_samples)
                  for position in range(n_clusters)]
        if n_clusters == 2 and np.all(counts[0] == _SEEDING_RUNS * (counts[0] > 0)):
            fail("the first centre was always the same data point: choose it uniformly at random, "
                 "`X[rng.integers(len(X))]`.")
        if not _matches(counts[0], np.full(n_samples, 1 / n_samples), _SEEDING_RUNS):
            fail("the first centre should be a data point chosen uniformly at random, but some "
                 "points were chosen first far more often than others.")
        if n_clusters == 2:
            firsts_and_seconds = np.bincount(indices[:, 0] * n_samples + indices[:, 1],
                                             minlength=n_samples**2)
            farthest = _squared_distances(X, X).argmax(axis=1)
            if np.all(indices[:, 1] == farthest[indices[:, 0]]):
                fail("your second centre is always the point farthest from the first: k-means++ "
                     "draws it at random, with probability proportional to the squared distance, "
                     "so that a far outlier does not always win.")
        position = n_clusters - 1
        for rule, weight in _RULES.items():
            sequences = _seeding_probabilities(X, n_clusters, weight)
            if n_clusters == 2:
                probabilities = np.zeros(n_samples**2)
                for (i, j), p in sequences.items():
                    probabilities[i * n_samples + j] = p
                fits = _matches(firsts_and_seconds, probabilities, _SEEDING_RUNS)
            else:
                fits = _matches(counts[position], _marginals(sequences, n_samples, position),
                                _SEEDING_RUNS)
            if rule == "right" and fits:
                break
            if rule != "right" and fits:
                advice = {
                    "distance": "proportional to the distance, not to the squared distance: "
                                "square it (that is the D^2 in the k-means++ paper).",
                    "uniform": "uniformly among the points not chosen yet, ignoring the "
                               "distances.",
                }[rule]
                fail(f"with K = {n_clusters}, your centre number {position + 1} seems to be "
                     f"chosen {advice}")
        else:
            fail(f"with K = {n_clusters}, the centres are not chosen with the k-means++ "
                 "probabilities: how often each point was chosen differs from them by more than "
                 "sampling error. Each new centre should be point n with probability "
                 "d(x_n)^2 / sum_m d(x_m)^2, where d is the distance to the nearest centre "
                 "chosen so far.")
    passed(f"your seeding picks data points with the k-means++ probabilities ({_SEEDING_RUNS} "
           "runs each for K = 2 and K = 3, within sampling error).")
