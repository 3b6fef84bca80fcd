"""Choosing the number of components and the covariance type: parameter counts, criteria, sweeps.

- :func:`n_parameters` -- the number of free parameters :math:`p` of a Gaussian mixture.
- :func:`aic`, :func:`bic` -- the Akaike and Bayesian information criteria from a log-likelihood.
- :func:`icl` -- the integrated completed likelihood: BIC plus a charge for points that the
  mixture cannot assign to one component with confidence.
- :func:`sweep` -- fit one mixture per (covariance type, :math:`K`) and tabulate log-likelihood,
  AIC, BIC, ICL and convergence in a :class:`pandas.DataFrame`, with an optional progress bar.

All counts and criteria agree with scikit-learn's ``GaussianMixture.bic``/``aic`` (and gmmlib's).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .engine import COVARIANCE_TYPES, n_parameters

__all__ = ["n_parameters", "aic", "bic", "icl", "sweep"]


def aic(log_likelihood, n_parameters):
    """Akaike information criterion, :math:`\\mathrm{AIC} = -2\\,\\ell(\\theta) + 2p`.

    Lower is better. Introduced in {ref}`ch-choosing-k`.

    Parameters
    ----------
    log_likelihood : float
        The *total* log-likelihood :math:`\\ell(\\theta) = \\sum_n \\log p(x_n \\mid \\theta)` of the
        fitted model on the data (``model.score(X) * N``; :func:`gmmlib.em.log_likelihood`).
    n_parameters : int
        Number of free parameters :math:`p` (see :func:`n_parameters`).

    Returns
    -------
    float

    Examples
    --------
    >>> from gmmlib.model_selection import aic
    >>> aic(-100.0, 5)
    210.0
    """
    return float(-2.0 * log_likelihood + 2.0 * n_parameters)


def bic(log_likelihood, n_parameters, n_samples):
    """Bayesian information criterion, :math:`\\mathrm{BIC} = -2\\,\\ell(\\theta) + p \\log N`.

    Lower is better. Introduced in {ref}`ch-choosing-k`.

    Parameters
    ----------
    log_likelihood : float
        The *total* log-likelihood :math:`\\ell(\\theta)` of the fitted model on the data.
    n_parameters : int
        Number of free parameters :math:`p` (see :func:`n_parameters`).
    n_samples : int
        Number of data points :math:`N`.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.model_selection import bic
    >>> bool(np.isclose(bic(-100.0, 5, 1000), 200 + 5 * np.log(1000)))
    True
    """
    return float(-2.0 * log_likelihood + n_parameters * np.log(n_samples))


def icl(log_likelihood, n_parameters, responsibilities):
    """Integrated completed likelihood: BIC plus :math:`-2 \\sum_n \\log \\max_k \\gamma_{nk}`.

    Biernacki, Celeux and Govaert (2000) score a mixture as a *clustering*: BIC's approximation
    applied to the completed data :math:`(x_n, \\hat z_n)`, where :math:`\\hat z_n =
    \\arg\\max_k \\gamma_{nk}` is each point's most probable component. Since
    :math:`\\log p(x_n, \\hat z_n \\mid \\theta) = \\log p(x_n \\mid \\theta) + \\log
    \\gamma_{n \\hat z_n}`, ICL is BIC plus :math:`-2 \\sum_n \\log \\max_k \\gamma_{nk} \\ge 0`:
    nothing for a point assigned with certainty, :math:`2 \\log 2` for a point split 50/50
    between two components. Lower is better, and ICL is never below BIC. Introduced in
    {ref}`ch-choosing-k`.

    Parameters
    ----------
    log_likelihood : float
        The *total* log-likelihood :math:`\\ell(\\theta)` of the fitted model on the data.
    n_parameters : int
        Number of free parameters :math:`p` (see :func:`n_parameters`).
    responsibilities : array-like of shape (N, K)
        The responsibilities :math:`\\gamma_{nk}` of the fitted model on the same :math:`N`
        points (``model.predict_proba(X)``); each row sums to 1. :math:`N` is read from it.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``responsibilities`` is not a 2-D array of probabilities whose rows sum to 1.

    See Also
    --------
    bic

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.model_selection import bic, icl
    >>> resp = np.array([[1.0, 0.0], [0.5, 0.5]])  # one sure point, one split 50/50
    >>> bool(np.isclose(icl(-10.0, 3, resp), bic(-10.0, 3, 2) + 2 * np.log(2)))
    True
    """
    resp = np.asarray(responsibilities, dtype=float)
    if resp.ndim != 2 or resp.shape[0] == 0 or resp.shape[1] == 0:
        raise ValueError(
            "responsibilities must be a 2-D array of shape (N, K), one row per point (e.g. "
            f"model.predict_proba(X)); got shape {resp.shape}."
        )
    if not np.all(np.isfinite(resp)) or np.any(resp < 0) or not np.allclose(
        resp.sum(axis=1), 1.0, atol=1e-6
    ):
        raise ValueError(
            "responsibilities must be probabilities: non-negative, with every row summing to 1 "
            "(pass model.predict_proba(X), not log-probabilities or unnormalised densities)."
        )
    # The largest responsibility of a row is at least 1/K, so its logarithm is finite.
    completed_log_likelihood = log_likelihood + float(np.sum(np.log(resp.max(axis=1))))
    return float(-2.0 * completed_log_likelihood + n_parameters * np.log(resp.shape[0]))


def _positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}.")
    return int(value)


def _progress_enabled(progress):
    if progress is None:
        return os.environ.get("GMMLIB_PROGRESS", "1").strip() != "0"
    return bool(progress)


def sweep(
    X,
    n_components_range,
    covariance_types=("full",),
    n_init=1,
    random_state=0,
    progress=None,
    **gmm_kwargs,
):
    """Fit a Gaussian mixture for every number of components and covariance type; tabulate the fits.

    For each ``covariance_type`` in ``covariance_types`` and each :math:`K` in
    ``n_components_range``, fits ``gmmlib.GaussianMixture(n_components=K,
    covariance_type=covariance_type, n_init=n_init, random_state=random_state, **gmm_kwargs)`` to
    ``X`` and records its mean per-sample log-likelihood, AIC, BIC, ICL, number of free parameters
    and whether EM converged. A fit that did not converge does not warn (the ``converged`` column
    says so). Introduced in {ref}`ch-choosing-k`.

    Parameters
    ----------
    X : array-like of shape (N, D)
        Data.
    n_components_range : iterable of int
        The numbers of components :math:`K` to try, e.g. ``range(1, 11)``.
    covariance_types : str or sequence of str, default=("full",)
        Covariance types to try, among ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``.
    n_init : int, default=1
        Number of EM initialisations per fit (the best is kept).
    random_state : int, RandomState or None, default=0
        Seed used for every fit, so results are reproducible.
    progress : bool or None, default=None
        Show a progress bar (``tqdm.auto``: a widget in Jupyter, text elsewhere). ``None`` means
        on, unless the environment variable ``GMMLIB_PROGRESS`` is ``"0"`` (set when the book's
        notebooks are executed, so committed outputs stay quiet).
    **gmm_kwargs
        Further arguments of :class:`gmmlib.GaussianMixture` (``max_iter``, ``tol``,
        ``reg_covar``, ``init_params``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per (covariance type, :math:`K`), in the order given (covariance type outer),
        with columns ``n_components`` (int), ``covariance_type`` (str), ``log_likelihood``
        (float, mean per sample, ``model.score(X)``), ``aic``, ``bic`` (float, equal to
        ``model.aic(X)``, ``model.bic(X)``), ``icl`` (float, :func:`icl` with
        ``model.predict_proba(X)``), ``n_parameters`` (int) and ``converged`` (bool).

    Raises
    ------
    ValueError
        If a covariance type is unknown or a number of components is not a positive integer.

    See Also
    --------
    n_parameters, aic, bic, icl

    Examples
    --------
    >>> from gmmlib.datasets import make_stretched_blobs
    >>> from gmmlib.model_selection import sweep
    >>> X, _ = make_stretched_blobs()
    >>> table = sweep(X, range(1, 5), covariance_types=("full", "diag"), progress=False)
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['n_components', 'covariance_type', 'log_likelihood', 'aic', 'bic', 'icl', 'n_parameters',
     'converged']
    >>> len(table)
    8
    >>> int(table.loc[table["bic"].idxmin(), "n_components"])  # the three blobs
    3
    """
    import pandas as pd

    from .mixture import GaussianMixture

    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    covariance_types = tuple(covariance_types)
    for covariance_type in covariance_types:
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance types must be among {COVARIANCE_TYPES}; got {covariance_type!r}."
            )
    ks = [_positive_int(k, "each number of components") for k in n_components_range]
    n_samples, n_features = np.shape(X)[0], np.shape(X)[1]
    jobs = [(covariance_type, k) for covariance_type in covariance_types for k in ks]

    bar = None
    if _progress_enabled(progress) and jobs:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if progress:  # asked for explicitly
                raise ImportError(
                    "progress=True needs the tqdm package: pip install tqdm "
                    "(or pass progress=False)."
                ) from None
        else:
            bar = tqdm(total=len(jobs), desc="fitting mixtures", unit="fit")

    from sklearn.exceptions import ConvergenceWarning

    rows = []
    try:
        for covariance_type, k in jobs:
            if bar is not None:
                bar.set_postfix_str(f"{covariance_type}, K={k}")
            model = GaussianMixture(
                n_components=k,
                covariance_type=covariance_type,
                n_init=n_init,
                random_state=random_state,
                **gmm_kwargs,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=ConvergenceWarning)
                model.fit(X)
            mean_log_likelihood = float(model.score(X))
            p = n_parameters(k, n_features, covariance_type)
            total = mean_log_likelihood * n_samples
            rows.append(
                {
                    "n_components": k,
                    "covariance_type": covariance_type,
                    "log_likelihood": mean_log_likelihood,
                    "aic": aic(total, p),
                    "bic": bic(total, p, n_samples),
                    "icl": icl(total, p, model.predict_proba(X)),
                    "n_parameters": p,
                    "converged": bool(model.converged_),
                }
            )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    columns = [
        "n_components",
        "covariance_type",
        "log_likelihood",
        "aic",
        "bic",
        "icl",
        "n_parameters",
        "converged",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.astype(
        {"n_components": "int64", "n_parameters": "int64", "converged": "bool", "aic": "float64",
         "bic": "float64", "icl": "float64", "log_likelihood": "float64"}
    )
