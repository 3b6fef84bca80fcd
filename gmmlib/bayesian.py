"""Variational Bayesian Gaussian mixtures: :class:`BayesianGaussianMixture`.

A Gaussian mixture whose parameters are random too. The weights get a Dirichlet prior (a fixed
number of components) or a truncated Dirichlet-process prior written as stick-breaking; each
component's mean and precision get a Normal--Wishart prior. Variational inference replaces the
exact posterior by a factorised one, ``q(z) q(pi) prod_k q(mu_k, Lambda_k)``, and improves one
factor at a time. Introduced in {ref}`ch-bayesian-mixtures`, where every update below is derived.

Notation (as in the chapter and Bishop's *Pattern Recognition and Machine Learning*, ch. 10):
prior ``alpha_0`` (weight concentration), ``beta_0`` (mean precision), ``m_0`` (mean),
``nu_0`` (degrees of freedom) and ``Psi_0 = W_0^{-1}`` (the covariance prior, an inverse scale
matrix); the posterior has the same parameters without the zero. The estimator stores, as
scikit-learn does, ``covariances_ = Psi_k / nu_k``: the inverse of the expected precision
``E[Lambda_k] = nu_k W_k``. Its Cholesky factor ``U_k`` (of ``nu_k W_k``) is therefore the one a
plain Gaussian E-step uses; the remaining expectations enter as one number per component, the
E-step *offset* (:func:`e_step_offsets`).

Every update needs only the statistics that ordinary EM's M-step computes -- the weighted counts
``N_k``, means ``xbar_k`` and covariances ``S_k`` -- so the variational M-step is the EM M-step
with the prior's pseudo-counts added (:func:`update_posterior`). The functions here are pure:
they take those moments and return the posterior, which is how the chapter checks each update.
The estimator runs them on :mod:`gmmlib.engine`: its E-step with the offsets of
:func:`e_step_offsets` gives the statistics and the responsibilities' entropy, its M-step the
moments, exactly as for :class:`gmmlib.GaussianMixture`.

Layout: the prior (defaults from the data) -> the updates of each factor -> E-step offsets ->
the lower bound -> MAP-EM (a prior on the covariances only) -> the estimator.
"""

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
from scipy.special import betaln, digamma, gammaln, logsumexp
from sklearn.utils import check_array

from . import engine as eng
from ._base import BATCH_EM_RULES, MixtureBase
from ._validation import number, one_of

__all__ = [
    "BayesianGaussianMixture",
    "MixturePrior",
    "VariationalPosterior",
    "WEIGHT_PRIOR_TYPES",
    "e_step_offsets",
    "expected_log_weights",
    "expected_weights",
    "lower_bound",
    "MapEMResult",
    "default_map_prior",
    "map_covariances",
    "map_em",
    "prior_from_data",
    "update_posterior",
    "update_weight_concentration",
    "update_means",
    "update_precisions",
    "wishart_log_det_terms",
]

WEIGHT_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


###############################################################################
# The prior


@dataclass(frozen=True)
class MixturePrior:
    """The prior's parameters, after the data-dependent defaults are filled in.

    Attributes
    ----------
    weight_concentration : float
        ``alpha_0``: Dirichlet concentration per component, or the Dirichlet process's
        concentration (the Beta(1, alpha_0) prior of every stick fraction).
    mean_precision : float
        ``beta_0``: how many pseudo-observations the prior mean is worth.
    mean : ndarray of shape (n_features,)
        ``m_0``: the prior mean of every component's mean.
    degrees_of_freedom : float
        ``nu_0``: the Wishart prior's degrees of freedom (pseudo-observations of the spread).
    covariance : ndarray or float
        ``Psi_0 = W_0^{-1}``: shape (n_features, n_features) for 'full' and 'tied',
        (n_features,) for 'diag', a float for 'spherical'.
    """

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: object


def _weighted_mean_and_spread(X, sample_weight):
    """Mean and unbiased (ddof=1) covariance, with ``sample_weight`` read as repeat counts."""
    if sample_weight is None:
        return X.mean(axis=0), np.atleast_2d(np.cov(X.T))
    total = np.sum(sample_weight)
    centre = sample_weight @ X / total
    centred = X - centre
    # ddof=1 with counts: the same spread as the data with every row repeated w_n times
    spread = (centred * sample_weight[:, np.newaxis]).T @ centred / (total - 1.0)
    return centre, spread


def _optional_positive(owner, name, value):
    """Rule: None or a real number greater than 0."""
    if value is not None:
        number(low=0.0, low_inclusive=False)(owner, name, value)


def _covariance_prior_rule(owner, name, value):
    """Rule: None, an array (checked against the data in fit) or a number greater than 0."""
    if value is None or np.ndim(value) > 0:
        return
    number(low=0.0, low_inclusive=False)(owner, name, value)


def prior_from_data(
    X,
    covariance_type,
    n_components,
    *,
    weight_concentration=None,
    mean_precision=None,
    mean=None,
    degrees_of_freedom=None,
    covariance=None,
    sample_weight=None,
    n_features=None,
    centre=None,
    spread=None,
):
    """The prior, with every parameter left as None replaced by its default from the data.

    The defaults are scikit-learn's: ``alpha_0 = 1 / K``, ``beta_0 = 1``, ``m_0`` the data mean,
    ``nu_0 = D`` and ``Psi_0`` the data's covariance (unbiased; its diagonal for 'diag', the
    mean variance for 'spherical'). With ``sample_weight`` the data mean and spread are those
    of the data with row ``n`` repeated ``w_n`` times.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training data.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Covariance structure.
    n_components : int
        Number of components ``K``.
    weight_concentration, mean_precision, mean, degrees_of_freedom, covariance : optional
        The user's values (see :class:`BayesianGaussianMixture`); None means the default.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights (repeat counts).
    n_features, centre, spread : optional
        For data that are not at hand as one array (``X=None``): the number of features, the
        data's (weighted) mean and unbiased covariance, shape (n_features, n_features), or
        variances, shape (n_features,), which is all 'diag' and 'spherical' need.

    Returns
    -------
    prior : MixturePrior

    Raises
    ------
    ValueError
        If a given value has the wrong shape, if ``degrees_of_freedom <= n_features - 1`` (the
        Wishart distribution needs more), or if the covariance prior is not positive (definite).
    """
    if X is not None:
        n_features = X.shape[1]
        centre, spread = _weighted_mean_and_spread(X, sample_weight)

    alpha = 1.0 / n_components if weight_concentration is None else weight_concentration
    beta = 1.0 if mean_precision is None else mean_precision

    if mean is None:
        m0 = centre
    else:
        m0 = check_array(mean, dtype=[np.float64, np.float32], ensure_2d=False)
        if m0.shape != (n_features,):
            raise ValueError(
                f"mean_prior must have shape ({n_features},), one value per feature, "
                f"but got shape {m0.shape}."
            )

    if degrees_of_freedom is None:
        nu = float(n_features)
    elif degrees_of_freedom > n_features - 1.0:
        nu = degrees_of_freedom
    else:
        raise ValueError(
            f"degrees_of_freedom_prior must be greater than n_features - 1 = {n_features - 1} "
            f"for the Wishart prior to exist, but got {degrees_of_freedom:.3f}."
        )

    if covariance is None:
        variances = np.diag(spread).copy() if np.ndim(spread) == 2 else np.asarray(spread)
        psi = {
            "full": spread,
            "tied": spread,
            "diag": variances,
            "spherical": float(np.mean(variances)),
        }[covariance_type]
    else:
        psi = _checked_covariance_prior(covariance, covariance_type, n_features)
    return MixturePrior(alpha, beta, m0, nu, psi)


def _checked_covariance_prior(covariance, covariance_type, n_features):
    """The user's ``covariance_prior``, validated for ``covariance_type``."""
    if covariance_type == "spherical":
        if isinstance(covariance, (bool, np.bool_)) or not isinstance(covariance, Real):
            raise ValueError(
                "covariance_prior must be a positive number for covariance_type='spherical', "
                f"but got {covariance!r}."
            )
        if not covariance > 0:
            raise ValueError(f"covariance_prior must be positive, but got {covariance!r}.")
        return float(covariance)
    psi = check_array(covariance, dtype=[np.float64, np.float32], ensure_2d=False)
    shape = (n_features,) if covariance_type == "diag" else (n_features, n_features)
    if psi.shape != shape:
        raise ValueError(
            f"covariance_prior must have shape {shape} for covariance_type="
            f"'{covariance_type}', but got shape {psi.shape}."
        )
    if covariance_type == "diag":
        if np.any(psi <= 0):
            raise ValueError("covariance_prior must have positive entries (they are variances).")
    elif not (np.allclose(psi, psi.T) and np.all(np.linalg.eigvalsh(psi) > 0)):
        raise ValueError("covariance_prior must be a symmetric, positive-definite matrix.")
    return psi


###############################################################################
# The variational updates of q(pi) and q(mu, Lambda), from the M-step moments


@dataclass
class VariationalPosterior:
    """The parameters of the factorised posterior ``q(pi) prod_k q(mu_k, Lambda_k)``.

    Attributes
    ----------
    weight_concentration : ndarray of shape (K,), or tuple of two
        ``alpha_k`` of the Dirichlet posterior, or the pair ``(a_k, b_k)`` of the Beta
        posteriors of the stick fractions (Dirichlet process).
    mean_precision : ndarray of shape (K,)
        ``beta_k``.
    means : ndarray of shape (K, D)
        ``m_k``.
    degrees_of_freedom : ndarray of shape (K,), or float for 'tied'
        ``nu_k``.
    covariances : ndarray
        ``Psi_k / nu_k``, the inverse of the expected precision; shape by covariance type.
    precisions_cholesky : ndarray
        Cholesky factors of ``nu_k W_k`` in the layout of :mod:`gmmlib.em`.
    """

    weight_concentration: object
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: object
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def update_weight_concentration(nk, prior_concentration, weight_prior_type):
    """The posterior of the weights given the expected counts ``N_k``.

    Dirichlet: ``alpha_k = alpha_0 + N_k``. Dirichlet process (stick-breaking): stick ``k``
    takes a fraction ``v_k ~ Beta(a_k, b_k)`` of what is left, with ``a_k = 1 + N_k`` (the
    points that chose ``k``) and ``b_k = alpha_0 + sum_{j > k} N_j`` (those that passed it).

    Parameters
    ----------
    nk : ndarray of shape (K,)
        Expected number of points per component.
    prior_concentration : float
        ``alpha_0``.
    weight_prior_type : {'dirichlet_process', 'dirichlet_distribution'}

    Returns
    -------
    ndarray of shape (K,), or tuple ``(a, b)`` of two such arrays
    """
    if weight_prior_type == "dirichlet_distribution":
        return prior_concentration + nk
    # points beyond stick k: the reversed running sum, shifted by one place
    beyond = np.zeros_like(nk)
    beyond[:-1] = np.cumsum(nk[::-1])[::-1][1:]
    return 1.0 + nk, prior_concentration + beyond


def update_means(nk, xbar, prior):
    """``beta_k = beta_0 + N_k`` and ``m_k = (beta_0 m_0 + N_k xbar_k) / beta_k``.

    The posterior mean is a weighted average of the prior mean (worth ``beta_0`` points) and
    the data mean of the component (worth ``N_k``).

    Returns
    -------
    mean_precision : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    """
    beta = prior.mean_precision + nk
    means = (prior.mean_precision * prior.mean + nk[:, np.newaxis] * xbar) / beta[:, np.newaxis]
    return beta, means


def _scatter_full(nk, scatter, shrink, offsets, prior):
    # Psi_k = Psi_0 + N_k S_k + (beta_0 N_k / beta_k) d_k d_k^T
    outer = offsets[:, :, np.newaxis] * offsets[:, np.newaxis, :]
    return prior.covariance + nk[:, np.newaxis, np.newaxis] * scatter + (
        (nk * shrink)[:, np.newaxis, np.newaxis] * outer
    )


def _scatter_tied(nk, scatter, shrink, offsets, prior):
    # one Wishart for all: every component contributes its share N / K of the pseudo-data
    K = nk.shape[0]
    between = ((nk * shrink)[:, np.newaxis] * offsets).T @ offsets
    return prior.covariance + scatter * (np.sum(nk) / K) + between / K


def _scatter_diag(nk, scatter, shrink, offsets, prior):
    return prior.covariance + nk[:, np.newaxis] * (scatter + shrink[:, np.newaxis] * offsets**2)


def _scatter_spherical(nk, scatter, shrink, offsets, prior):
    return prior.covariance + nk * (scatter + shrink * np.mean(offsets**2, axis=1))


_POSTERIOR_SCATTER = {
    "full": _scatter_full,
    "tied": _scatter_tied,
    "diag": _scatter_diag,
    "spherical": _scatter_spherical,
}


def update_precisions(nk, xbar, scatter, mean_precision, prior, covariance_type):
    """The Wishart posterior of the precisions: ``nu_k`` and ``Psi_k / nu_k``.

    ``nu_k = nu_0 + N_k`` and ``Psi_k = Psi_0 + N_k S_k + (beta_0 N_k / beta_k) d_k d_k^T``
    with ``d_k = xbar_k - m_0``: the prior's spread, the data's spread about their mean, and the
    spread of the data mean about the prior mean. 'diag' and 'spherical' keep only the diagonal
    (or its average) of each term; 'tied' shares one Wishart, to which each component brings
    ``N / K`` points (``nu = nu_0 + N / K``), as scikit-learn defines it.

    Parameters
    ----------
    nk : ndarray of shape (K,)
    xbar : ndarray of shape (K, D)
        Data means of the components (the EM M-step's means).
    scatter : ndarray
        ``S_k``, the EM M-step's covariances (``reg_covar`` included); shape by covariance type.
    mean_precision : ndarray of shape (K,)
        ``beta_k`` from :func:`update_means`.
    prior : MixturePrior
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    degrees_of_freedom : ndarray of shape (K,), or float for 'tied'
    covariances : ndarray
        ``Psi_k / nu_k``; shape by covariance type.
    """
    if covariance_type == "tied":
        nu = prior.degrees_of_freedom + np.sum(nk) / nk.shape[0]
    else:
        nu = prior.degrees_of_freedom + nk
    shrink = prior.mean_precision / mean_precision
    psi = _POSTERIOR_SCATTER[covariance_type](nk, scatter, shrink, xbar - prior.mean, prior)
    extra_axes = {"full": 2, "diag": 1}.get(covariance_type, 0)
    return nu, psi / np.reshape(nu, np.shape(nu) + (1,) * extra_axes)


def update_posterior(nk, xbar, scatter, prior, weight_prior_type, covariance_type):
    """The whole variational M-step, from the moments of the ordinary EM M-step.

    Parameters
    ----------
    nk : ndarray of shape (K,)
        Expected counts ``N_k = sum_n r_nk`` (times the sample weights, if any).
    xbar : ndarray of shape (K, D)
        Responsibility-weighted means.
    scatter : ndarray
        Responsibility-weighted covariances, ``reg_covar`` included; shape by covariance type.
    prior : MixturePrior
    weight_prior_type : {'dirichlet_process', 'dirichlet_distribution'}
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    VariationalPosterior
    """
    concentration = update_weight_concentration(nk, prior.weight_concentration, weight_prior_type)
    beta, means = update_means(nk, xbar, prior)
    nu, covariances = update_precisions(nk, xbar, scatter, beta, prior, covariance_type)
    factors = eng.precision_factors(covariances, covariance_type)
    return VariationalPosterior(concentration, beta, means, nu, covariances, factors)


###############################################################################
# The E-step: expectations under q, folded into one offset per component


def expected_log_weights(weight_concentration, weight_prior_type):
    """``E_q[log pi_k]``.

    Dirichlet: ``psi(alpha_k) - psi(sum_j alpha_j)``. Stick-breaking: ``pi_k = v_k prod_{j<k}
    (1 - v_j)``, so ``E[log pi_k] = E[log v_k] + sum_{j<k} E[log(1 - v_j)]`` with
    ``E[log v] = psi(a) - psi(a + b)`` and ``E[log(1 - v)] = psi(b) - psi(a + b)``.

    Returns
    -------
    ndarray of shape (K,)
    """
    if weight_prior_type == "dirichlet_distribution":
        return digamma(weight_concentration) - digamma(np.sum(weight_concentration))
    a, b = weight_concentration
    both = digamma(a + b)
    log_take = digamma(a) - both
    log_leave = digamma(b) - both
    left_before = np.concatenate(([0.0], np.cumsum(log_leave)[:-1]))
    return log_take + left_before


def expected_weights(weight_concentration, weight_prior_type):
    """The weights reported as ``weights_``: posterior means, normalised to sum to 1.

    Dirichlet: ``alpha_k / sum_j alpha_j``. Stick-breaking: ``E[v_k] prod_{j<k} (1 - E[v_j])``
    with ``E[v] = a / (a + b)``, renormalised because the truncated sticks leave a little over.
    """
    if weight_prior_type == "dirichlet_distribution":
        return weight_concentration / np.sum(weight_concentration)
    a, b = weight_concentration
    take = a / (a + b)
    leave = b / (a + b)
    weights = take * np.concatenate(([1.0], np.cumprod(leave[:-1])))
    return weights / np.sum(weights)


def wishart_log_det_terms(degrees_of_freedom, n_features):
    """``E[log det Lambda] - log det W = sum_{i=0}^{D-1} psi((nu - i) / 2) + D log 2``.

    Shape: that of ``degrees_of_freedom`` (a float for 'tied').
    """
    nu = np.asarray(degrees_of_freedom, dtype=np.float64)
    halves = 0.5 * (nu[..., np.newaxis] - np.arange(n_features))
    return np.sum(digamma(halves), axis=-1) + n_features * math.log(2.0)


def e_step_offsets(posterior, weight_prior_type, n_features):
    """The per-component constant of the variational E-step.

    ``log rho_nk = E[log pi_k] + E[log det Lambda_k] / 2 - D log(2 pi) / 2 - D / (2 beta_k)
    - nu_k (x_n - m_k)^T W_k (x_n - m_k) / 2``. A plain Gaussian E-step with the factor
    ``U_k`` of ``nu_k W_k`` already gives ``log det U_k - D log(2 pi) / 2 - |U_k^T (x_n -
    m_k)|^2 / 2``, and ``log det U_k = D log(nu_k) / 2 + log det W_k / 2``; what is left is this
    offset, the variational replacement of ``log pi_k``:
    ``E[log pi_k] + (sum_i psi((nu_k - i) / 2) + D log 2) / 2 - D log(nu_k) / 2 - D / (2 beta_k)``.

    Returns
    -------
    offsets : ndarray of shape (K,)
    """
    nu = posterior.degrees_of_freedom
    return (
        expected_log_weights(posterior.weight_concentration, weight_prior_type)
        + 0.5 * wishart_log_det_terms(nu, n_features)
        - 0.5 * n_features * np.log(nu)
        - 0.5 * n_features / posterior.mean_precision
    )


def log_rho(X, posterior, weight_prior_type, covariance_type):
    """``log rho_nk`` for every sample and component, written plainly (for reading and tests;
    the estimator's E-step is the engine's fused pass with :func:`e_step_offsets`).

    Returns
    -------
    ndarray of shape (n_samples, n_components)
        Unnormalised log-responsibilities; normalising each row gives ``r_nk``.
    """
    from .em import log_component_densities

    log_gauss = log_component_densities(X, posterior.means, posterior.covariances,
                                        covariance_type)
    return log_gauss + e_step_offsets(posterior, weight_prior_type, X.shape[1])


###############################################################################
# The lower bound (ELBO) up to terms that do not change during the fit


def _log_wishart_normaliser(nu, half_log_det_w, n_features):
    """``log B(W, nu)`` of the Wishart density without its ``D (D - 1) / 4 log pi`` term."""
    nu = np.asarray(nu, dtype=np.float64)
    halves = 0.5 * (nu[..., np.newaxis] - np.arange(n_features))
    return -(nu * half_log_det_w + 0.5 * n_features * math.log(2.0) * nu) - np.sum(
        gammaln(halves), axis=-1
    )


def lower_bound(entropy, posterior, weight_prior_type, covariance_type, n_features):
    """The evidence lower bound right after a variational M-step, up to an additive constant.

    When ``q(pi)`` and ``q(mu, Lambda)`` have just been updated from the responsibilities
    ``r``, the expected log-likelihood and the prior's densities cancel against the posterior's
    except for normalising integrals, and the ELBO becomes

    ``H(r) + sum of log Z_q - sum of log Z_0``

    where ``H(r) = -sum_nk r_nk log r_nk`` and ``Z`` is the normalising integral of each factor:
    the weights' Dirichlet (or the K Beta sticks), the K Gaussians (``Z ~ beta_k^{-D/2}``) and
    the Wishart factors. The prior's integrals and the factors of ``pi`` do not change during a
    fit and are left out, as in scikit-learn, whose value this is.

    For 'full' covariances this is the ELBO of the model up to that constant (the tests check it
    against every term of the ELBO evaluated directly). For 'tied', 'diag' and 'spherical' it
    is scikit-learn's formula applied to the restricted scale matrices; it still never
    decreases from one iteration to the next (also tested).

    Parameters
    ----------
    entropy : float
        ``-sum_n w_n sum_k r_nk log r_nk`` (with ``w_n = 1`` unless sample weights are given).
    posterior : VariationalPosterior
        Updated from the same ``r``.
    weight_prior_type : {'dirichlet_process', 'dirichlet_distribution'}
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_features : int

    Returns
    -------
    float
    """
    nu = posterior.degrees_of_freedom
    n_components = posterior.means.shape[0]
    # log det W_k / 2 from the stored factor of nu_k W_k (one shared value for 'tied')
    log_det_factors = eng.log_det_factors(posterior.precisions_cholesky, covariance_type,
                                           n_components, n_features)
    if covariance_type == "tied":
        log_det_factors = log_det_factors[0]
    half_log_det_w = log_det_factors - 0.5 * n_features * np.log(nu)
    wishart = _log_wishart_normaliser(nu, half_log_det_w, n_features)
    wishart_total = n_components * wishart if covariance_type == "tied" else np.sum(wishart)

    concentration = posterior.weight_concentration
    if weight_prior_type == "dirichlet_process":
        log_weight_normaliser = np.sum(betaln(*concentration))
    else:
        log_weight_normaliser = np.sum(gammaln(concentration)) - gammaln(np.sum(concentration))

    gaussian = -0.5 * n_features * np.sum(np.log(posterior.mean_precision))
    return float(entropy - wishart_total + log_weight_normaliser + gaussian)


###############################################################################
# MAP-EM: point estimates with a conjugate prior on the covariances


@dataclass
class MapEMResult:
    """What :func:`map_em` returns.

    Attributes
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    covariances : ndarray of shape (K, D, D)
    log_posteriors : list of float
        ``log p(X | theta) + log p(Sigma)`` (up to the prior's normaliser, which is fixed)
        of the parameters before each M-step, as ``lower_bounds_`` records for EM.
    n_iter : int
    converged : bool
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_posteriors: list
    n_iter: int
    converged: bool


def map_covariances(nk, scatter, covariance_prior, degrees_of_freedom_prior):
    """The M-step of full covariances under an inverse-Wishart prior ``IW(Psi_0, nu_0)``.

    Maximising ``sum_n r_nk log N(x_n | mu_k, Sigma_k) + log IW(Sigma_k | Psi_0, nu_0)`` gives

    ``Sigma_k = (Psi_0 + N_k S_k) / (nu_0 + N_k + D + 1)``:

    the prior adds ``Psi_0`` as the scatter of ``nu_0 + D + 1`` pseudo-points. Unlike a fixed
    ``reg_covar``, the correction is in the data's units and fades as ``N_k`` grows.

    Parameters
    ----------
    nk : ndarray of shape (K,)
        Expected counts ``N_k``.
    scatter : ndarray of shape (K, D, D)
        ``S_k``, the EM M-step's covariances (no ``reg_covar``).
    covariance_prior : ndarray of shape (D, D)
        ``Psi_0``.
    degrees_of_freedom_prior : float
        ``nu_0 > D - 1``.

    Returns
    -------
    ndarray of shape (K, D, D)
    """
    n_features = scatter.shape[-1]
    pseudo = degrees_of_freedom_prior + n_features + 1.0
    return (covariance_prior + nk[:, np.newaxis, np.newaxis] * scatter) / (
        (pseudo + nk)[:, np.newaxis, np.newaxis]
    )


def default_map_prior(X, n_components):
    """Fraley and Raftery's (2007) default prior for MAP-EM: ``Psi_0`` and ``nu_0``.

    ``nu_0 = D + 2`` and ``Psi_0 = cov(X) / K^(2 / D)``: each component is expected to cover a
    ``1 / K`` share of the data's volume.

    Returns
    -------
    covariance_prior : ndarray of shape (D, D)
    degrees_of_freedom_prior : float
    """
    n_features = X.shape[1]
    spread = np.atleast_2d(np.cov(X.T))
    return spread / n_components ** (2.0 / n_features), n_features + 2.0


def _log_inverse_wishart_kernel(covariances, covariance_prior, dof):
    """``sum_k log IW(Sigma_k | Psi_0, nu_0)`` without the normaliser (which never changes)."""
    n_features = covariances.shape[-1]
    _, log_det = np.linalg.slogdet(covariances)
    traces = np.einsum("ij,kji->k", covariance_prior, np.linalg.inv(covariances))
    return float(np.sum(-0.5 * (dof + n_features + 1) * log_det - 0.5 * traces))


def map_em(X, n_components, *, covariance_prior=None, degrees_of_freedom_prior=None,
           max_iter=200, tol=1e-6, random_state=0):
    """EM for the maximum a posteriori (MAP) fit of a full-covariance mixture.

    The E-step is EM's; the M-step keeps EM's weights and means and replaces the covariances by
    :func:`map_covariances`. Each iteration increases ``log p(X | theta) + log p(Sigma)``,
    which, unlike the likelihood, is bounded: a component cannot collapse onto a point.
    Introduced in {ref}`ch-bayesian-mixtures`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int
    covariance_prior : array-like of shape (n_features, n_features), optional
        ``Psi_0``; default from :func:`default_map_prior`.
    degrees_of_freedom_prior : float, optional
        ``nu_0 > n_features - 1``; default ``n_features + 2``.
    max_iter : int, default=200
    tol : float, default=1e-6
        Stop when the log-posterior per sample changes by less than this.
    random_state : int, default=0
        Seed of the k-means start.

    Returns
    -------
    MapEMResult
    """
    from sklearn.cluster import KMeans

    from . import em

    X = check_array(X, dtype=np.float64, ensure_min_samples=2)
    n_points, n_features = X.shape
    default_psi, default_dof = default_map_prior(X, n_components)
    psi = default_psi if covariance_prior is None else np.asarray(covariance_prior, dtype=float)
    dof = default_dof if degrees_of_freedom_prior is None else float(degrees_of_freedom_prior)
    if dof <= n_features - 1:
        raise ValueError(
            f"degrees_of_freedom_prior must be greater than n_features - 1 = {n_features - 1}."
        )

    def m_step(resp):
        weights, means, scatter = em.m_step(X, resp)
        return weights, means, map_covariances(weights * n_points, scatter, psi, dof)

    with eng.one_openmp_thread():
        labels = KMeans(n_components, n_init=1, random_state=random_state).fit(X).labels_
    weights, means, covariances = m_step(np.eye(n_components)[labels])
    log_posteriors = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        log_joint = em.log_component_densities(X, means, covariances) + np.log(weights)
        log_px = logsumexp(log_joint, axis=1)
        log_posteriors.append(float(
            (np.sum(log_px) + _log_inverse_wishart_kernel(covariances, psi, dof)) / n_points
        ))
        weights, means, covariances = m_step(np.exp(log_joint - log_px[:, np.newaxis]))
        if n_iter > 1 and abs(log_posteriors[-1] - log_posteriors[-2]) < tol:
            converged = True
            break
    return MapEMResult(weights, means, covariances, log_posteriors, n_iter, converged)


###############################################################################
# The estimator


class BayesianGaussianMixture(MixtureBase):
    """Gaussian mixture fitted by variational inference, with priors on all its parameters.

    Takes the parameters of :class:`sklearn.mixture.BayesianGaussianMixture`, sets the same
    fitted attributes and returns the same results up to rounding; like
    :class:`gmmlib.GaussianMixture` it runs on gmmlib's engine, takes sample weights, fits data
    that arrive in chunks or as Dask arrays, and can record every iteration. The weights have a
    Dirichlet or a (truncated) Dirichlet-process prior; means and precisions a Normal--Wishart
    prior. With a small ``weight_concentration_prior`` the fit empties the components it does
    not need, so ``n_components`` is an upper bound rather than a choice. Introduced and
    derived in {ref}`ch-bayesian-mixtures`.

    Parameters
    ----------
    n_components : int, default=1
        Number of components ``K`` (an upper bound: some may end up with almost no weight).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance structure, as in :class:`gmmlib.GaussianMixture`.
    tol : float, default=1e-3
        Convergence threshold: the fit stops when the lower bound (summed over the samples, not
        averaged) changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Non-negative number added to the diagonal of the data covariances ``S_k`` before they
        enter the posterior.
    max_iter : int, default=100
        Maximum number of iterations per start.
    n_init : int, default=1
        Number of starts; the one with the largest final lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen (as in :class:`gmmlib.GaussianMixture`).
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
        Prior on the weights: stick-breaking (a Dirichlet process truncated at
        ``n_components``) or a symmetric Dirichlet distribution.
    weight_concentration_prior : float or None, default=None
        ``alpha_0`` > 0. Small values favour few components in use, large values many.
        None means ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        ``beta_0`` > 0: how many pseudo-points the prior mean is worth. None means 1.
    mean_prior : array-like of shape (n_features,) or None, default=None
        ``m_0``, the prior mean of the means. None means the mean of ``X``.
    degrees_of_freedom_prior : float or None, default=None
        ``nu_0`` > ``n_features - 1``. None means ``n_features``.
    covariance_prior : float, array-like or None, default=None
        ``Psi_0``, the prior's covariance (the inverse of the Wishart scale matrix): shape
        (n_features, n_features) for 'full' and 'tied', (n_features,) for 'diag', a float for
        'spherical'. None means the covariance of ``X`` (its diagonal for 'diag', its mean
        variance for 'spherical').
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation (and default seed of :meth:`sample`).
    warm_start : bool, default=False
        If True, each :meth:`fit` continues from the previous solution (one start).
    verbose : int, default=0
        1 prints each start and every ``verbose_interval``-th iteration; 2 adds the bound, its
        change and the time taken.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    n_jobs : int, default=None
        Threads that share each pass over the data: None means 1 (unless inside a joblib
        ``parallel_backend`` context), -1 means all CPUs. gmmlib only.
    record_history : bool, default=False
        If True, :meth:`fit` keeps ``history_``, the parameters after every iteration of the
        best start. gmmlib only.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Posterior mean of the weights (normalised to sum to 1).
    means_ : ndarray of shape (n_components, n_features)
        Posterior means ``m_k`` of the component means.
    covariances_ : ndarray
        ``Psi_k / nu_k``, the inverse of the expected precision; shape
        (n_components, n_features, n_features) for 'full', (n_features, n_features) for
        'tied', (n_components, n_features) for 'diag', (n_components,) for 'spherical'.
    precisions_ : ndarray
        Expected precisions ``nu_k W_k``; same shape as ``covariances_``.
    precisions_cholesky_ : ndarray
        Factors ``U`` of ``precisions_`` (upper triangular with ``U @ U.T`` the precision for
        'full' and 'tied', the square root for 'diag' and 'spherical').
    converged_ : bool
        Whether the best start met ``tol`` before ``max_iter``.
    n_iter_ : int
        Number of iterations of the best start.
    lower_bound_ : float
        Lower bound (up to a constant; see :func:`lower_bound`) at the end of the best start.
    lower_bounds_ : list of float of length n_iter_
        The lower bound after each iteration of the best start.
    weight_concentration_prior_ : float
        ``alpha_0`` used.
    weight_concentration_ : ndarray of shape (n_components,), or tuple of two
        Posterior Dirichlet concentrations, or the pair ``(a_k, b_k)`` of Beta parameters of
        the stick fractions.
    mean_precision_prior_ : float
        ``beta_0`` used.
    mean_precision_ : ndarray of shape (n_components,)
        Posterior ``beta_k``.
    mean_prior_ : ndarray of shape (n_features,)
        ``m_0`` used.
    degrees_of_freedom_prior_ : float
        ``nu_0`` used.
    degrees_of_freedom_ : ndarray of shape (n_components,), or float for 'tied'
        Posterior ``nu_k``.
    covariance_prior_ : float or ndarray
        ``Psi_0`` used.
    history_ : list of dict of length n_iter_ + 1
        Only with ``record_history=True``. Entry ``t`` holds the parameters after ``t``
        iterations (entry 0: the initialisation) under ``"weights"``, ``"means"``,
        ``"covariances"`` and ``"lower_bound"`` (NaN for entry 0, then ``lower_bounds_[t - 1]``).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :meth:`fit`, when ``X`` has string column names.

    Notes
    -----
    :meth:`score_samples` returns ``log sum_k rho_nk``, the normaliser of the variational
    E-step, as scikit-learn does: ``rho_nk`` holds expectations of log-weights and
    log-densities under the posterior, so it is not the predictive density of a new point.

    See Also
    --------
    gmmlib.GaussianMixture : The same model fitted by maximum likelihood.
    sklearn.mixture.BayesianGaussianMixture : The scikit-learn estimator this one reproduces.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib import BayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 0.5, (50, 2)), rng.normal(3, 0.5, (50, 2))])
    >>> bgm = BayesianGaussianMixture(
    ...     n_components=5, weight_concentration_prior=0.01, random_state=0
    ... ).fit(X)

    Five components were allowed; two carry almost all the weight, one near each group:

    >>> in_use = bgm.weights_ > 0.05
    >>> int(in_use.sum())
    2
    >>> bgm.means_[in_use].round(1)
    array([[-2.9, -2.9],
           [ 2.9,  3. ]])
    """

    _bound_before_update = False
    _needs_entropy = True

    _rules = {
        **BATCH_EM_RULES,
        "weight_concentration_prior_type": one_of(*WEIGHT_PRIOR_TYPES),
        "weight_concentration_prior": _optional_positive,
        "mean_precision_prior": _optional_positive,
        "degrees_of_freedom_prior": _optional_positive,
        "covariance_prior": _covariance_prior_rule,
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_jobs=None,
        record_history=False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.record_history = record_history

    # -- the prior, from the data before the first start ---------------------------------------

    def _run(self, data, initial_sample, dtype, want_labels=False):
        self._set_prior(data)
        return super()._run(data, initial_sample, dtype, want_labels)

    def _set_prior(self, data):
        """The prior's parameters, with the defaults that depend on the data filled in.

        In memory the data's covariance is computed directly; for chunks and Dask arrays it is
        one pass of the engine in which every point belongs to the first component.
        """
        if isinstance(data, eng.Rows):
            X, weights = data.X, data.sample_weight
            centre, spread = None, None
        else:
            X, weights = None, None
            centre, spread = self._streamed_spread(data)
        prior = prior_from_data(
            X, self.covariance_type, self.n_components,
            weight_concentration=self.weight_concentration_prior,
            mean_precision=self.mean_precision_prior,
            mean=self.mean_prior,
            degrees_of_freedom=self.degrees_of_freedom_prior,
            covariance=self.covariance_prior,
            sample_weight=weights,
            n_features=data.n_features,
            centre=centre,
            spread=spread,
        )
        self.weight_concentration_prior_ = prior.weight_concentration
        self.mean_precision_prior_ = prior.mean_precision
        self.mean_prior_ = prior.mean
        self.degrees_of_freedom_prior_ = prior.degrees_of_freedom
        self.covariance_prior_ = prior.covariance
        self._prior = prior

    def _streamed_spread(self, data):
        """Mean and unbiased covariance (diagonal for 'diag'/'spherical') of streamed data."""
        K, D = self.n_components, data.n_features
        offsets = np.full(K, -np.inf)
        offsets[0] = 0.0  # every point belongs to component 0
        means = np.tile(data.centre, (K, 1))
        kind = "full" if self.covariance_type in ("full", "tied") else "diag"
        factors = np.tile(np.eye(D), (K, 1, 1)) if kind == "full" else np.ones((K, D))
        with eng.Engine(kind, K, D, n_jobs=self.n_jobs) as engine:
            stats = engine.e_step(data, offsets, means, factors)
            moments = engine.moments(data, stats, 0.0)
        total = moments.total_weight
        covariance = moments.covariances[0] * total / (total - 1.0)
        if kind == "full":
            return moments.means[0], covariance
        return moments.means[0], np.diag(covariance)

    # -- the hooks of MixtureBase -------------------------------------------------------------

    def _check_initial_values(self, n_features):
        """The Bayesian mixture has no initial values: every start runs ``init_params``."""
        return (None,)

    def _start(self, moments, initial):
        """The posterior after the first M-step, from the initial responsibilities."""
        self._store(self._update(moments))

    def _update(self, moments):
        """The variational M-step: the posterior from EM's moments and the prior."""
        return update_posterior(moments.counts, moments.means, moments.covariances, self._prior,
                                self.weight_concentration_prior_type, self.covariance_type)

    def _scoring_parameters(self):
        offsets = e_step_offsets(self._posterior(), self.weight_concentration_prior_type,
                                 self.means_.shape[1])
        return offsets, self.means_, self.precisions_cholesky_

    def _m_step(self, engine, data, stats):
        """New posterior from the E-step's statistics; returns the lower bound after it."""
        posterior = self._update(engine.moments(data, stats, self.reg_covar))
        self._store(posterior)
        # the engine sums w g log g; the bound wants the entropy, its negative
        return lower_bound(-stats.entropy, posterior, self.weight_concentration_prior_type,
                           self.covariance_type, self.means_.shape[1])

    def _posterior(self):
        return VariationalPosterior(
            self.weight_concentration_, self.mean_precision_, self.means_,
            self.degrees_of_freedom_, self.covariances_, self.precisions_cholesky_,
        )

    def _store(self, posterior):
        self.weight_concentration_ = posterior.weight_concentration
        self.mean_precision_ = posterior.mean_precision
        self.means_ = posterior.means
        self.degrees_of_freedom_ = posterior.degrees_of_freedom
        self.covariances_ = posterior.covariances
        self.precisions_cholesky_ = posterior.precisions_cholesky
        self.weights_ = expected_weights(posterior.weight_concentration,
                                         self.weight_concentration_prior_type)

    def _state(self):
        return self._posterior()

    def _restore(self, state):
        self._store(state)

    def _history_entry(self, bound=np.nan):
        return {
            "weights": np.array(self.weights_, copy=True),
            "means": np.array(self.means_, copy=True),
            "covariances": np.array(self.covariances_, copy=True),
            "lower_bound": bound,
        }

    def _finish(self, dtype):
        self.precisions_ = eng.precisions_from_factors(self.precisions_cholesky_,
                                                       self.covariance_type)
