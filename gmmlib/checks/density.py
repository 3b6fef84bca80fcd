"""Self-checks for chapter 8, {ref}`ch-density-estimation` ("Density estimation: two moons").

- :func:`check_held_out_log_likelihood` -- the mean log-density per point of data the model was
  not fitted to.
- :func:`check_choose_k_by_held_out` -- choosing the number of components :math:`K` by the
  held-out log-likelihood.
- :func:`check_log_density_grid` -- the log-density of a fitted model on a ``meshgrid``, for
  contour plots.

Each check calls the reader's function on fresh random data (a new mixture every call), compares
the result with :class:`gmmlib.GaussianMixture`'s own ``score`` / ``score_samples``, and either
prints a short success message or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain
words what looks wrong.
"""

import numpy as np

from ._core import (
    as_number,
    call_reader_function,
    check_close,
    check_shape,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = [
    "check_held_out_log_likelihood",
    "check_choose_k_by_held_out",
    "check_log_density_grid",
]


# What to say when the reader returns the per-point values instead of their mean.
_MEAN_HINT = "Average the per-point log-densities (e.g. `.mean()`)."

def _name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _fitted_problem(rng, n_features=None):
    """A mixture fitted to fresh training data, and two fresh test sets from the same mixture."""
    from .. import GaussianMixture

    n_features = int(rng.integers(1, 4)) if n_features is None else n_features
    n_components = int(rng.integers(2, 4))
    params = random_mixture(rng, n_components, n_features, "full")
    n_train, n_test = int(rng.integers(80, 200)), int(rng.integers(50, 300))
    X_all = sample_mixture(rng, *params, covariance_type="full", n_samples=n_train + 2 * n_test)[0]
    X_train, X_test, X_other = X_all[:n_train], X_all[n_train:-n_test], X_all[-n_test:]
    model = GaussianMixture(n_components=n_components, random_state=int(rng.integers(2**31)))
    model.fit(X_train)
    return model, X_train, X_test, X_other


def _parameters(model):
    return [np.array(model.weights_), np.array(model.means_), np.array(model.covariances_)]


def check_held_out_log_likelihood(func):
    """Check a reader's ``func(model, X_test) -> float``: the mean held-out log-likelihood.

    The right answer is :math:`\\frac{1}{N_\\text{test}} \\sum_n \\log p(x_n)` over the rows of
    ``X_test``, with :math:`p` the fitted model's density: what ``model.score(X_test)`` returns.

    Parameters
    ----------
    func : callable
        ``func(model, X_test)`` with a fitted :class:`gmmlib.GaussianMixture` ``model`` and an
        array ``X_test`` of shape (N, D); must return one number.

    Raises
    ------
    SelfCheckError
        If the result is not the mean log-density of ``X_test``; the message recognises the total
        instead of the mean, a result that does not depend on ``X_test`` (e.g. scoring the
        training data), the density instead of its log, the log of the mean density, a sign
        error, and a model refitted to the test data.

    Examples
    --------
    >>> from gmmlib.checks import check_held_out_log_likelihood
    >>> check_held_out_log_likelihood(lambda model, X_test: model.score_samples(X_test).mean())
    Correct! your function returns the mean log-density of the held-out points, as model.score does.
    """
    name = _name(func)
    rng = np.random.default_rng()
    for _ in range(3):
        model, X_train, X_test, X_other = _fitted_problem(rng)
        before = _parameters(model)
        got = as_number(name, call_reader_function(func, model, X_test), hint=_MEAN_HINT)
        after = _parameters(model)
        if any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(before, after)):
            fail(
                f"`{name}` changed the model's parameters: it seems to refit the model (e.g. call "
                "`fit`) on the test data. A held-out score evaluates the model fitted to the "
                "training data, unchanged, on new points."
            )
        log_density = model.score_samples(X_test)
        expected = float(log_density.mean())
        if matches(got, expected):
            continue
        n_test = len(X_test)
        if matches(got, log_density.sum()):
            fail(
                f"`{name}` returned the TOTAL log-likelihood of the {n_test} test points "
                f"({got:.6g}); the check expects the MEAN per point ({expected:.6g}). Divide by "
                "the number of test points (or use `.mean()`), so that test sets of different "
                "sizes can be compared."
            )
        if matches(got, float(model.score(X_train))):
            fail(
                f"`{name}` returned the mean log-likelihood of the TRAINING data ({got:.6g}), not "
                f"of X_test ({expected:.6g}). Score the points passed as `X_test`."
            )
        got_again = as_number(name, call_reader_function(func, model, X_other), hint=_MEAN_HINT)
        if matches(got_again, got, rtol=1e-12):
            fail(
                f"`{name}` returned the same value ({got:.6g}) for two different test sets: it "
                "does not seem to use `X_test` at all. Are you scoring a fixed data set, such as "
                "the training data, instead of the points passed as `X_test`?"
            )
        if matches(got, float(np.mean(np.exp(log_density)))):
            fail(
                f"`{name}` returned the mean DENSITY p(x) of the test points ({got:.6g}), not the "
                f"mean LOG-density ({expected:.6g}). Average log p(x_n): `model.score_samples` "
                "already returns logarithms, so no `exp` is needed."
            )
        if matches(got, float(np.log(np.mean(np.exp(log_density))))):
            fail(
                f"`{name}` returned the log of the mean density ({got:.6g}); the held-out "
                f"log-likelihood is the mean of the log-densities ({expected:.6g}). Take the log "
                "of each point's density first, then average."
            )
        if matches(got, -expected):
            fail(f"`{name}` has the wrong sign: it returned {got:.6g} instead of {expected:.6g}.")
        fail(
            f"`{name}` returned {got:.6g}, but the mean log-density of the {n_test} test points "
            f"under the model is {expected:.6g} (`model.score(X_test)`)."
        )
    passed("your function returns the mean log-density of the held-out points, as model.score does.")


def _choice_problem(rng):
    """Well-separated 2-D training and test data and a non-contiguous list of K values."""
    n_components = int(rng.integers(2, 4))
    params = random_mixture(rng, n_components, 2, "full")
    params = (params[0], 2.0 * params[1], params[2])  # spread the means: a clear best K
    X_train = sample_mixture(rng, *params, covariance_type="full", n_samples=150)[0]
    X_test = sample_mixture(rng, *params, covariance_type="full", n_samples=300)[0]
    k_values = [1, 2, 3, 5, 8]
    return X_train, X_test, k_values


def check_choose_k_by_held_out(func):
    """Check a reader's ``func(X_train, X_test, k_values) -> (best_k, scores)``.

    For each :math:`K` in ``k_values`` the function must fit
    ``gmmlib.GaussianMixture(n_components=K, random_state=0)`` to ``X_train`` and compute the mean
    held-out log-likelihood ``model.score(X_test)``; ``scores`` holds these values in the order of
    ``k_values`` and ``best_k`` is the :math:`K` (not its position in the list) with the
    highest score.

    Parameters
    ----------
    func : callable
        ``func(X_train, X_test, k_values)``; ``k_values`` is a list of ints.

    Raises
    ------
    SelfCheckError
        If the scores or the chosen :math:`K` are wrong; the message recognises training scores
        instead of held-out ones, totals instead of means, an index instead of a :math:`K`, and
        the smallest score chosen instead of the largest.

    Examples
    --------
    >>> from gmmlib import GaussianMixture
    >>> from gmmlib.checks import check_choose_k_by_held_out
    >>> def choose_k(X_train, X_test, k_values):
    ...     scores = [GaussianMixture(n_components=k, random_state=0).fit(X_train).score(X_test)
    ...               for k in k_values]
    ...     return k_values[int(max(range(len(scores)), key=scores.__getitem__))], scores
    >>> check_choose_k_by_held_out(choose_k)
    Correct! your function scores every K on the held-out data and picks the best one.
    """
    from .. import GaussianMixture

    name = _name(func)
    rng = np.random.default_rng()
    X_train, X_test, k_values = _choice_problem(rng)
    result = call_reader_function(func, X_train, X_test, list(k_values))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(
            f"`{name}` should return two things, `best_k, scores`; it returned "
            f"{type(result).__name__} {np.shape(result) if np.ndim(result) else ''}".rstrip()
            + "."
        )
    best_k, scores = result
    models = [GaussianMixture(n_components=k, random_state=0).fit(X_train) for k in k_values]
    held_out = np.array([m.score(X_test) for m in models])
    training = np.array([m.score(X_train) for m in models])
    scores = check_shape("the scores", scores, (len(k_values),))
    if not matches(scores, held_out, rtol=1e-5):
        if matches(scores, training, rtol=1e-5):
            fail(
                "the scores are the log-likelihoods of the TRAINING data. Fit each model to "
                "X_train but score it on X_test: the training score always rises with K, so it "
                "cannot choose K."
            )
        if matches(scores, held_out * len(X_test), rtol=1e-5):
            fail(
                "the scores are TOTAL held-out log-likelihoods; use the mean per test point "
                "(`model.score(X_test)`)."
            )
        check_close("the scores", scores, held_out, rtol=1e-5, atol=1e-6)
    if np.ndim(best_k) != 0:
        fail(f"best_k should be a single number, one of k_values; got shape {np.shape(best_k)}.")
    expected_k = k_values[int(np.argmax(held_out))]
    if best_k == expected_k:
        passed("your function scores every K on the held-out data and picks the best one.")
        return
    hints = []
    if best_k == int(np.argmax(held_out)):
        hints.append(
            "it is the POSITION of the best score in the list, not the number of components "
            f"itself: with k_values = {list(k_values)} the best K is {expected_k}; use "
            "`k_values[index]`"
        )
    if best_k == k_values[int(np.argmin(held_out))]:
        hints.append(
            "it is the K with the LOWEST held-out log-likelihood, but the best model has the "
            "HIGHEST one: use argmax, not argmin"
        )
    if best_k == k_values[int(np.argmax(training))]:
        hints.append(
            "it is the K with the best TRAINING score; choose the K with the best HELD-OUT score"
        )
    if hints:
        fail(f"best_k is {best_k}, but the held-out scores are highest for K = {expected_k}. "
             "Perhaps " + "; or perhaps ".join(hints) + ".")
    fail(f"best_k is {best_k}, but the held-out scores are highest for K = {expected_k}.")


def check_log_density_grid(func):
    """Check a reader's ``func(model, xx, yy) -> log_density``: the log-density on a meshgrid.

    ``xx`` and ``yy`` come from ``numpy.meshgrid(xs, ys)`` (shape ``(len(ys), len(xs))``); the
    result must have the same shape, with entry ``[i, j]`` equal to :math:`\\log p(x)` at the point
    ``(xx[i, j], yy[i, j])``, so that ``plt.contour(xx, yy, log_density)`` draws the model.

    Parameters
    ----------
    func : callable
        ``func(model, xx, yy)`` with a fitted 2-D :class:`gmmlib.GaussianMixture`.

    Raises
    ------
    SelfCheckError
        On a wrong shape (including a transposed grid), the density instead of its log, or wrong
        values (e.g. ``x_1`` and ``x_2`` swapped, or a flattened grid reshaped in the wrong order).

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_log_density_grid
    >>> def log_density_grid(model, xx, yy):
    ...     points = np.column_stack([xx.ravel(), yy.ravel()])
    ...     return model.score_samples(points).reshape(xx.shape)
    >>> check_log_density_grid(log_density_grid)
    Correct! your grid holds log p(x) at every grid point, in the shape of xx and yy.
    """
    name = _name(func)
    rng = np.random.default_rng()
    model, X_train, _, _ = _fitted_problem(rng, n_features=2)
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)
    n_x, n_y = int(rng.integers(20, 40)), int(rng.integers(41, 60))  # never square
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n_x), np.linspace(lo[1], hi[1], n_y))
    got = call_reader_function(func, model, xx, yy)
    expected = model.score_samples(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    got = np.asarray(got, dtype=float) if not isinstance(got, np.ndarray) else got
    if np.shape(got) == expected.T.shape:
        fail(
            f"the grid has shape {np.shape(got)} but should have the shape of xx and yy, "
            f"{xx.shape}: it looks transposed. With xx, yy = np.meshgrid(xs, ys), rows go with y "
            "and columns with x; reshape with `.reshape(xx.shape)`."
        )
    got = check_shape("the grid of log-densities", got, expected.shape)
    if np.all(got >= 0) and matches(got, np.exp(expected)):
        fail(
            "the grid holds the DENSITY p(x), not its logarithm. `model.score_samples` returns "
            "log p(x) already: do not apply `np.exp`."
        )
    swapped = model.score_samples(np.column_stack([yy.ravel(), xx.ravel()])).reshape(xx.shape)
    if matches(got, swapped):
        fail(
            "the grid looks like the log-density at (x_2, x_1) instead of (x_1, x_2): the points "
            "should be np.column_stack([xx.ravel(), yy.ravel()]), with xx first."
        )
    wrong_order = model.score_samples(
        np.column_stack([xx.ravel(order="F"), yy.ravel(order="F")])
    ).reshape(xx.shape)
    if matches(got, wrong_order):
        fail(
            "the values are right but in the wrong places: the flattened grid was put back in a "
            "different order than it was flattened. Use the same order for both (`ravel()` and "
            "`reshape(xx.shape)`)."
        )
    check_close("the grid of log-densities", got, expected)
    passed("your grid holds log p(x) at every grid point, in the shape of xx and yy.")
