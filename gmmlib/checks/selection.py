"""Self-checks for chapter 7, {ref}`ch-choosing-k` ("How many components?").

- :func:`check_bic` -- the Bayesian information criterion
  :math:`\\mathrm{BIC} = -2\\,\\ell(\\hat\\theta) + p \\log N`.
- :func:`check_aic` -- the Akaike information criterion
  :math:`\\mathrm{AIC} = -2\\,\\ell(\\hat\\theta) + 2p`.
- :func:`check_best_merge` -- the pair of components whose merging lowers the entropy of the
  responsibilities the most (combining mixture components into clusters).
- :func:`check_cv_log_likelihood` -- the cross-validated log-likelihood of a mixture, by hand:
  shuffled folds, fit on the rest, score the held-out fold; mean and standard error.

Each check calls the reader's function on fresh random inputs, compares the result with
:mod:`gmmlib.model_selection` (and, for the criteria, with a fitted
:class:`gmmlib.GaussianMixture`'s own ``bic``/``aic``), and either prints a short success message
or raises :class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np

from ._core import (
    as_number,
    call_reader_function,
    check_rng,
    fail,
    matches,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_bic", "check_aic", "check_best_merge", "check_cv_log_likelihood"]

_N_TRIALS = 5
_RTOL = 1e-8


def _same(got, expected):
    return bool(np.isfinite(got) and np.isclose(got, expected, rtol=_RTOL, atol=1e-8))


def _random_problem(rng):
    """A total log-likelihood, a parameter count and a sample size like those of a real fit."""
    n_samples = int(rng.integers(20, 5000))
    n_parameters = int(rng.integers(2, 60))
    log_likelihood = float(-n_samples * rng.uniform(0.5, 6.0))  # total: about -N times a few
    return log_likelihood, n_parameters, n_samples


def _fitted_problem(rng):
    """A small mixture fitted to fresh data: (total log-likelihood, p, N, model.bic, model.aic)."""
    from .. import GaussianMixture
    from ..model_selection import n_parameters

    n_features = int(rng.integers(1, 4))
    n_components = int(rng.integers(1, 4))
    covariance_type = str(rng.choice(["full", "tied", "diag", "spherical"]))
    params = random_mixture(rng, n_components, n_features, covariance_type)
    X = sample_mixture(rng, *params, covariance_type=covariance_type,
                       n_samples=int(rng.integers(60, 300)))[0]
    model = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                            random_state=int(rng.integers(2**31))).fit(X)
    total = float(model.score(X)) * len(X)
    p = n_parameters(n_components, n_features, covariance_type)
    return total, p, len(X), float(model.bic(X)), float(model.aic(X))


def _criterion_hint(name, got, ll, p, n, penalty):
    """A plain-words guess at the mistake behind a wrong criterion value, or a generic message."""
    per_parameter = {"BIC": np.log(n), "AIC": 2.0}[penalty]
    expected = -2.0 * ll + p * per_parameter
    candidates = [
        (-2.0 * ll / n + p * per_parameter,
         "it looks as if you used the MEAN log-likelihood (divided by N). The criterion needs the "
         "TOTAL log-likelihood, the sum of log p(x_n) over all N points (model.score(X) * N)."),
        (2.0 * ll + p * per_parameter,
         "the sign of the log-likelihood term is flipped: the criterion is -2 * log-likelihood "
         "plus the penalty (the log-likelihood is negative here, so -2 * it is positive)."),
        (2.0 * ll - p * per_parameter,
         "your value is minus the right one: you computed 2 * log-likelihood - penalty (higher is "
         "better). The book's convention is -2 * log-likelihood + penalty, where LOWER is better."),
        (-2.0 * ll - p * per_parameter,
         "the penalty has the wrong sign: it must be ADDED to -2 * log-likelihood, so that more "
         "parameters make the criterion worse."),
        (-ll + p * per_parameter / 2.0,
         "your value is half the right one: the criterion is -2 * log-likelihood + penalty, on "
         "the 'deviance' scale (you may have the form -log-likelihood + penalty / 2)."),
        (-2.0 * ll,
         "the penalty for the number of parameters is missing."),
    ]
    if penalty == "BIC":
        candidates += [
            (-2.0 * ll + p * np.log10(n),
             "the penalty uses the base-10 logarithm. BIC uses the natural logarithm: np.log(N), "
             "not np.log10(N)."),
            (-2.0 * ll + p * np.log2(n),
             "the penalty uses the base-2 logarithm. BIC uses the natural logarithm: np.log(N)."),
            (-2.0 * ll + 2.0 * p,
             "this is AIC (penalty 2 per parameter), not BIC: BIC's penalty is log(N) per "
             "parameter."),
            (-2.0 * ll + p * np.log(n) / 2.0,
             "the penalty is half of what it should be: BIC = -2 * log-likelihood + p log N "
             "(the 1/2 of the Laplace approximation is absorbed by the factor -2)."),
            (-2.0 * ll + np.log(p) * n,
             "the roles of p and N are swapped in the penalty: it is p * log(N)."),
        ]
    else:
        candidates += [
            (-2.0 * ll + p,
             "the penalty is p, not 2p: AIC = -2 * log-likelihood + 2p."),
            (-2.0 * ll + p * np.log(n),
             "this is BIC (penalty log N per parameter), not AIC: AIC's penalty is 2 per "
             "parameter."),
        ]
    for value, message in candidates:
        if _same(got, value):
            fail(f"`{name}` is not right: {message}")
    fail(f"`{name}` returned {got:.6g} but {penalty} should be {expected:.6g} for a total "
         f"log-likelihood of {ll:.6g}, p = {p} parameters and N = {n} points.")


def _check_criterion(func, penalty):
    name = getattr(func, "__name__", None) or type(func).__name__
    rng = check_rng("check_bic" if penalty == "BIC" else "check_aic")
    for trial in range(_N_TRIALS + 1):
        if trial < _N_TRIALS:
            ll, p, n = _random_problem(rng)
            reference = -2.0 * ll + p * (np.log(n) if penalty == "BIC" else 2.0)
        else:  # a real fit: the reader's value must match the estimator's own bic()/aic()
            ll, p, n, model_bic, model_aic = _fitted_problem(rng)
            reference = model_bic if penalty == "BIC" else model_aic
        args = (ll, p, n) if penalty == "BIC" else (ll, p)
        got = as_number(name, call_reader_function(func, *args))
        if not np.isclose(got, reference, rtol=1e-6, atol=1e-6):
            _criterion_hint(name, got, ll, p, n, penalty)
    return name


def check_bic(func):
    """Check a reader's ``func(log_likelihood_total, n_parameters, n_samples) -> float`` (BIC).

    Parameters
    ----------
    func : callable
        ``func(log_likelihood_total, n_parameters, n_samples)`` must return
        :math:`-2\\,\\ell + p \\log N` with the natural logarithm, where :math:`\\ell` is the total
        log-likelihood (a sum over the :math:`N` points, not a mean).

    Raises
    ------
    SelfCheckError
        If the value is wrong; the message recognises a mean instead of a total log-likelihood,
        sign errors, a base-10 or base-2 logarithm, AIC's penalty, and a missing factor 2.

    Notes
    -----
    The last test fits a :class:`gmmlib.GaussianMixture` to fresh data and compares the reader's
    value with the estimator's own ``bic(X)``. Introduced in {ref}`ch-choosing-k`, Exercise
    ``ch07_ex2``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks import check_bic
    >>> check_bic(lambda ll, p, n: -2 * ll + p * np.log(n))  # doctest: +ELLIPSIS
    Correct! ...
    """
    name = _check_criterion(func, "BIC")
    passed(f"`{name}` gives -2 log-likelihood + p log N on {_N_TRIALS} random inputs and agrees "
           "with GaussianMixture.bic on a freshly fitted mixture.")


def check_aic(func):
    """Check a reader's ``func(log_likelihood_total, n_parameters) -> float`` (AIC).

    Parameters
    ----------
    func : callable
        ``func(log_likelihood_total, n_parameters)`` must return :math:`-2\\,\\ell + 2p`, where
        :math:`\\ell` is the total log-likelihood (a sum over the points, not a mean).

    Raises
    ------
    SelfCheckError
        If the value is wrong; the message recognises sign errors, a penalty of :math:`p`
        instead of :math:`2p`, BIC's penalty, and a missing factor 2.

    Notes
    -----
    The last test fits a :class:`gmmlib.GaussianMixture` to fresh data and compares the reader's
    value with the estimator's own ``aic(X)``. Introduced in {ref}`ch-choosing-k`, Exercise
    ``ch07_ex2``.

    Examples
    --------
    >>> from gmmlib.checks import check_aic
    >>> check_aic(lambda ll, p: -2 * ll + 2 * p)  # doctest: +ELLIPSIS
    Correct! ...
    """
    name = _check_criterion(func, "AIC")
    passed(f"`{name}` gives -2 log-likelihood + 2p on {_N_TRIALS} random inputs and agrees with "
           "GaussianMixture.aic on a freshly fitted mixture.")


# --- merging components: the entropy criterion ---------------------------------------------------


def _entropy(resp):
    """The entropy -sum gamma log gamma of a responsibility matrix, with 0 log 0 = 0."""
    from scipy.special import xlogy

    return float(-np.sum(xlogy(resp, resp)))


def _merged(resp, j, k):
    """``resp`` with column ``k`` added to column ``j`` and then removed."""
    out = np.delete(resp, k, axis=1)
    out[:, j] = resp[:, j] + resp[:, k]
    return out


def _pairs(n_components):
    return [(j, k) for j in range(n_components) for k in range(j + 1, n_components)]


def _merge_scores(resp):
    """Entropy decrease of every merge, and what some plausible wrong rules would rank by."""
    base = _entropy(resp)
    pairs = _pairs(resp.shape[1])
    return pairs, {
        "right": np.array([base - _entropy(_merged(resp, j, k)) for j, k in pairs]),
        "smallest": -np.array([base - _entropy(_merged(resp, j, k)) for j, k in pairs]),
        "overlap": np.array([resp[:, j] @ resp[:, k] for j, k in pairs]),
        "dropped": np.array([base - _entropy(np.delete(resp, k, axis=1)) for _, k in pairs]),
    }


def _random_merge_problem(rng, with_zeros):
    """Responsibilities of a mixture whose components come in overlapping groups, drawn until the
    best merge is unique and every wrong rule below picks another pair."""
    for _ in range(200):
        n_samples, n_components = int(rng.integers(60, 250)), int(rng.integers(4, 8))
        groups = rng.integers(0, n_components - 1, size=n_components)  # some components share one
        own = rng.integers(0, n_components, size=n_samples)
        logits = rng.normal(0.0, 1.0, (n_samples, n_components))
        logits += 4.0 * (groups[None, :] == groups[own][:, None])  # pulled towards the own group
        logits[np.arange(n_samples), own] += rng.uniform(0.0, 3.0, n_samples)
        resp = np.exp(logits - logits.max(axis=1, keepdims=True))
        if with_zeros:
            resp[resp < 0.05] = 0.0  # exact zeros, as predict_proba gives far from a component
        resp /= resp.sum(axis=1, keepdims=True)
        pairs, scores = _merge_scores(resp)
        order = np.sort(scores["right"])
        if order[-1] - order[-2] < 1e-3 * max(1.0, abs(order[-1])):
            continue
        best = pairs[int(np.argmax(scores["right"]))]
        wrong = [pairs[int(np.argmax(scores[rule]))] for rule in ("smallest", "overlap", "dropped")]
        if best in wrong or (0, 1) in wrong + [best]:
            continue  # keep the mistakes tellable apart
        return resp, best, dict(zip(("smallest", "overlap", "dropped"), wrong))
    raise AssertionError("could not draw a distinguishable merge problem")  # pragma: no cover


def _as_pair(name, result, n_components):
    """The reader's result as a sorted pair of Python ints, or a plain-words failure."""
    try:
        pair = [int(i) for i in np.asarray(result).ravel()]
        integral = np.allclose(np.asarray(result, dtype=float).ravel(), pair)
    except (TypeError, ValueError):
        pair, integral = [], False
    if len(pair) != 2 or not integral:
        fail(f"`{name}` should return a pair of component indices `(j, k)`, but it returned "
             f"{result!r}. Return the two column indices of the components to merge.")
    j, k = sorted(pair)
    if j == k:
        fail(f"`{name}` returned the same component twice, ({j}, {k}): merging needs two "
             "different components.")
    return j, k


def check_best_merge(func):
    """Check a reader's ``func(resp) -> (j, k)``: the merge that lowers the entropy the most.

    Merging components :math:`j` and :math:`k` of a fitted mixture replaces their two columns of
    responsibilities by their sum, :math:`\\gamma_{nj} + \\gamma_{nk}`. The function must return
    the pair whose merge lowers the entropy :math:`-\\sum_n \\sum_k \\gamma_{nk}\\log\\gamma_{nk}`
    (with :math:`0 \\log 0 = 0`) the most, the rule of Baudry et al. (2010). The order of the
    two indices does not matter.

    Parameters
    ----------
    func : callable
        ``func(resp)`` with ``resp`` of shape (N, K) (rows sum to 1, some entries exactly 0).

    Raises
    ------
    SelfCheckError
        If the pair is wrong or is not a pair; the message recognises the pair with the
        *smallest* decrease, ranking by the overlap :math:`\\sum_n \\gamma_{nj}\\gamma_{nk}`,
        dropping a column instead of adding it to the other, indices counted from 1, and an
        entropy that turns ``0 * log(0)`` into NaN.

    Notes
    -----
    Introduced in {ref}`ch-choosing-k`, Exercise ``ch07_ex4``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import xlogy
    >>> from gmmlib.checks import check_best_merge
    >>> def best_merge(resp):
    ...     def entropy(r):
    ...         return -xlogy(r, r).sum()
    ...     drops = {}
    ...     for j in range(resp.shape[1]):
    ...         for k in range(j + 1, resp.shape[1]):
    ...             merged = np.delete(resp, k, axis=1)
    ...             merged[:, j] += resp[:, k]
    ...             drops[j, k] = entropy(resp) - entropy(merged)
    ...     return max(drops, key=drops.get)
    >>> check_best_merge(best_merge)  # doctest: +ELLIPSIS
    Correct! ...
    """
    name = getattr(func, "__name__", None) or type(func).__name__
    rng = check_rng("check_best_merge")
    for with_zeros in (False, True, True):
        resp, best, wrong = _random_merge_problem(rng, with_zeros)
        n_components = resp.shape[1]
        got = _as_pair(name, call_reader_function(func, resp), n_components)
        if got == best:
            continue
        if got == (best[0] + 1, best[1] + 1):
            fail(f"`{name}` returned {got}, which is the right pair counted from 1. Python "
                 f"numbers the columns of resp from 0: return {best}.")
        if got[0] < 0 or got[1] >= n_components:
            fail(f"`{name}` returned {got}, but the columns of resp are numbered 0 to "
                 f"{n_components - 1}.")
        if got == wrong["smallest"]:
            fail(f"`{name}` returned the merge that lowers the entropy the LEAST. Take the pair "
                 "with the largest decrease (entropy before minus entropy after): `max`, not "
                 "`min`.")
        if got == wrong["overlap"]:
            fail(f"`{name}` returned the pair with the largest overlap sum_n gamma_nj gamma_nk. A "
                 "plausible rule, but not the one asked for: compare the entropy of resp before "
                 "and after adding column k to column j.")
        if got == wrong["dropped"]:
            fail(f"`{name}` seems to DROP column k instead of adding it to column j. A merged "
                 "component owns what both owned: its responsibility is gamma_nj + gamma_nk.")
        if with_zeros and got == (0, 1):
            fail(f"`{name}` returned (0, 1) on responsibilities with exact zeros, and (0, 1) is "
                 "not the best merge there. Does your entropy give NaN? np.log(0) is -inf and "
                 "0 * -inf is NaN, while 0 log 0 counts as 0: use scipy.special.xlogy(resp, resp) "
                 "or np.where(resp > 0, resp * np.log(resp), 0).")
        fail(f"`{name}` returned {got}, but merging components {best} lowers the entropy most, "
             f"by {_entropy(resp) - _entropy(_merged(resp, *best)):.4g} (random responsibilities "
             f"of N={resp.shape[0]} points, K={n_components} components).")
    passed(f"`{name}` finds the merge that lowers the entropy most on 3 random responsibility "
           "matrices, also with exact zeros in them.")


# --- cross-validated log-likelihood by hand -------------------------------------------------------


def _cv_problem(rng):
    """Data from a random mixture, stored sorted by component (as many real data sets are)."""
    n_features = int(rng.integers(1, 3))
    n_true = int(rng.integers(2, 4))
    params = random_mixture(rng, n_true, n_features, "full")
    X, z = sample_mixture(rng, *params, covariance_type="full",
                          n_samples=int(rng.integers(120, 200)))
    X = X[np.argsort(z, kind="stable")]
    if len(X) % 5 == 0:  # folds of unequal sizes, so a pooled mean differs from the fold mean
        X = X[:-1]
    return X


def _cv_fold_results(X, n_components, covariance_type, n_splits, random_state, shuffle=True):
    """Per-fold (held-out score, training score, test size, model), as the exercise asks."""
    from sklearn.model_selection import KFold

    from .. import GaussianMixture

    folds = KFold(n_splits=n_splits, shuffle=shuffle,
                  random_state=random_state if shuffle else None)
    results = []
    for train, test in folds.split(X):
        model = GaussianMixture(n_components, covariance_type=covariance_type,
                                random_state=random_state).fit(X[train])
        results.append((model.score(X[test]), model.score(X[train]), len(test)))
    return np.array(results)


def _as_mean_and_se(name, result):
    if np.ndim(result) == 0:
        fail(f"`{name}` returned one number; it should return two, the pair "
             "`(mean, standard_error)` of the fold scores.")
    try:
        values = np.asarray(result, dtype=float).ravel()
    except (TypeError, ValueError):
        fail(f"`{name}` should return the pair `(mean, standard_error)` of numbers; its result "
             f"({type(result).__name__}) cannot be read as two numbers.")
    if values.size != 2:
        fail(f"`{name}` returned {values.size} numbers; it should return exactly two, "
             "`(mean, standard_error)`. (Per-fold scores are a step on the way: average them.)")
    if not np.all(np.isfinite(values)):
        fail(f"`{name}` returned {values.tolist()}; both numbers should be finite.")
    return float(values[0]), float(values[1])


def check_cv_log_likelihood(func):
    """Check a reader's cross-validated log-likelihood, ``func(X, n_components, covariance_type,
    n_splits, random_state) -> (mean, standard_error)``.

    The right answer splits ``X`` with ``KFold(n_splits, shuffle=True,
    random_state=random_state)``; for each split fits ``GaussianMixture(n_components,
    covariance_type=covariance_type, random_state=random_state)`` to the training part and scores
    the held-out part with ``score`` (mean log-likelihood per point). It returns the mean of the
    ``n_splits`` fold scores and their standard error, ``np.std(scores) / sqrt(n_splits)`` (the
    standard deviation as ``GridSearchCV`` reports it, ``ddof=0``): the same numbers as
    ``GridSearchCV``'s ``mean_test_score`` and ``std_test_score / sqrt(n_splits)``.

    Parameters
    ----------
    func : callable
        ``func(X, n_components, covariance_type, n_splits, random_state)``.

    Raises
    ------
    SelfCheckError
        If the numbers are wrong; the message recognises folds without shuffling (the check's
        data are stored sorted by component), folds that change from call to call, scores of the
        training parts, a model fitted to all the data, totals instead of means, the mean over
        all held-out points instead of over folds, and a standard error with ``ddof=1`` or
        without the division by :math:`\\sqrt{V}`.

    Notes
    -----
    Introduced in {ref}`ch-choosing-k`, Exercise ``ch07_ex5``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import KFold
    >>> from gmmlib import GaussianMixture
    >>> from gmmlib.checks import check_cv_log_likelihood
    >>> def cv_log_likelihood(X, n_components, covariance_type, n_splits, random_state):
    ...     folds = KFold(n_splits, shuffle=True, random_state=random_state)
    ...     scores = [GaussianMixture(n_components, covariance_type=covariance_type,
    ...                               random_state=random_state).fit(X[train]).score(X[test])
    ...               for train, test in folds.split(X)]
    ...     return np.mean(scores), np.std(scores) / np.sqrt(n_splits)
    >>> check_cv_log_likelihood(cv_log_likelihood)  # doctest: +ELLIPSIS
    Correct! ...
    """
    from .. import GaussianMixture

    name = getattr(func, "__name__", None) or type(func).__name__
    rng = check_rng("check_cv_log_likelihood")
    cases = [("full", 2, 5, 0), ("diag", 3, 4, int(rng.integers(1, 1000)))]
    for covariance_type, n_components, n_splits, random_state in cases:
        X = _cv_problem(rng)
        args = (X, n_components, covariance_type, n_splits, random_state)
        got_mean, got_se = _as_mean_and_se(name, call_reader_function(func, *args))
        folds = _cv_fold_results(*args)
        held_out, training, sizes = folds[:, 0], folds[:, 1], folds[:, 2]
        mean, se = float(held_out.mean()), float(held_out.std() / np.sqrt(n_splits))
        if matches(got_mean, mean) and matches(got_se, se):
            continue
        if matches(got_mean, mean):
            for value, message in [
                (held_out.std(ddof=1) / np.sqrt(n_splits),
                 "it divides by n_splits - 1 inside the standard deviation (ddof=1). Use "
                 "np.std(scores) (ddof=0), as GridSearchCV's std_test_score does."),
                (held_out.std(), "it is the standard deviation of the fold scores; the standard "
                 "error of their mean divides it by sqrt(n_splits)."),
                (held_out.std(ddof=1), "it is the standard deviation (ddof=1) of the fold scores; "
                 "the standard error divides np.std(scores) by sqrt(n_splits)."),
            ]:
                if matches(got_se, value):
                    fail(f"`{name}`'s mean is right, but its standard error is not: {message}")
            fail(f"`{name}`'s mean is right, but its standard error is {got_se:.6g} instead of "
                 f"{se:.6g} = np.std(scores) / sqrt({n_splits}).")
        unshuffled = _cv_fold_results(*args, shuffle=False)[:, 0].mean()
        everything = GaussianMixture(n_components, covariance_type=covariance_type,
                                     random_state=random_state).fit(X)
        hints = [
            (unshuffled, "its folds are not shuffled. These data are stored sorted by component, "
             "so each unshuffled fold holds out whole groups: use KFold(n_splits, shuffle=True, "
             "random_state=random_state)."),
            (training.mean(), "it scores the TRAINING part of each split. Score the held-out fold, "
             "X[test], with the model fitted to X[train]."),
            (float(np.mean([everything.score(X[test]) for _, test in _kfold(n_splits, random_state)
                            .split(X)])),
             "its model was fitted to ALL the data, held-out folds included. Fit a new model to "
             "each training part, X[train], only."),
            (float(np.mean(held_out * sizes)), "it averages TOTAL log-likelihoods of the folds. "
             "`score` already gives the mean per point; average those fold scores."),
            (float(np.sum(held_out * sizes) / sizes.sum()), "it averages over all held-out POINTS "
             "(a pooled mean). The exercise asks for the mean of the fold scores, as "
             "GridSearchCV's mean_test_score; with folds of unequal size the two differ."),
        ]
        for value, message in hints:
            if matches(got_mean, value):
                fail(f"`{name}` is not right: {message}")
        again_mean, _ = _as_mean_and_se(name, call_reader_function(func, *args))
        if not matches(again_mean, got_mean, rtol=1e-12):
            fail(f"`{name}` gave two different answers for the same arguments ({got_mean:.6g}, "
                 f"{again_mean:.6g}): pass random_state to KFold (and to GaussianMixture), so the "
                 "folds and the fits are reproducible.")
        fail(f"`{name}` returned a mean of {got_mean:.6g}, but the {n_splits}-fold "
             f"cross-validated log-likelihood is {mean:.6g} ({covariance_type}, K={n_components}, "
             f"N={len(X)}). Check the folds (KFold(n_splits, shuffle=True, "
             "random_state=random_state)) and the model (GaussianMixture(n_components, "
             "covariance_type=covariance_type, random_state=random_state)).")
    passed(f"`{name}` gives the cross-validated log-likelihood and its standard error, as "
           "GridSearchCV does, on 2 data sets stored sorted by component.")


def _kfold(n_splits, random_state):
    from sklearn.model_selection import KFold

    return KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
