"""Property-based tests of :class:`gmmlib.GaussianMixture` (issue 3, section 6).

Hypothesis draws small problems (N <= 100 points, D <= 3 features, K <= 3 components, data
scale from 1e-2 to 1e2, overlapping to well-separated clusters, every ``init_params``) and
checks what must hold for *any* data:

* EM never decreases the log-likelihood. This is a theorem only for the exact M-step
  (``reg_covar=0``). With ``reg_covar = r > 0`` the M-step adds ``r I`` to each covariance,
  which is *not* the maximiser of the EM surrogate, and the mean log-likelihood can drop
  (seen here: drops of ~5e-6 per sample on 38 of 660 steps with r up to 0.1 var(X)). What stays
  true is a bound: from ``l(t+1) - l(t) >= Q(theta_{t+1}|theta_t) - Q(theta_t|theta_t)`` and the
  exact maximiser ``S`` of ``Q``, the loss from using ``S + r I`` instead of ``S`` is, per sample,

      Delta_t = 1/2 sum_k pi_k sum_i h(r / sigma_ki),   h(x) = -log(1 - x) - x >= 0,

  where ``sigma_ki`` are the eigenvalues of the covariances of ``theta_{t+1}`` (``S + r I``),
  ``pi_k`` its weights (for 'tied' one block of weight 1; for 'spherical' the one variance
  counts D times). So ``l(t+1) - l(t) >= -Delta_t`` (``Delta_t = 0`` when ``r = 0``); both are
  tested, allowing 1e-10 plus the rounding error of evaluating the log-likelihood (a bound
  from the conditioning of the fitted covariances, ~1e-13 on benign data; see
  ``_log_density_rounding``). Examples where a component collapsed onto a point (its variance
  at the rounding level of the data) are discarded: there the log-likelihood is not
  computable to 1e-10 at all.
* responsibilities are non-negative, sum to one and match a direct computation;
* ``score_samples`` equals ``log sum_k pi_k N(x | mu_k, Sigma_k)`` from ``scipy.stats``;
* ``bic``/``aic`` equal ``-2 N score + p log N`` / ``-2 N score + 2 p`` with the free-parameter
  counts of FACTS.md;
* sampled points follow the fitted model: exact chi-square tests on each component's whitened
  samples and binomial tests on the component counts, at a family-wise false-alarm rate of
  1e-6 per example (100 examples: 25 per covariance type), so a correct library fails it
  about once in 10,000 runs of the suite.

Data are generated from a seed drawn by Hypothesis (plus the shape parameters), so every
example is reproducible from Hypothesis' report.
"""

import copy
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from gmmlib import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

pytestmark = pytest.mark.usefixtures("single_blas_thread")

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    database=None,  # keep the repository free of a .hypothesis/ folder
    derandomize=True,  # the same examples in every run: CI never meets a new one by chance
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A small data set drawn from a random Gaussian mixture, and a model size to fit to it.

    Hypothesis prints this compact description (not the data) for a failing example;
    ``Problem(...).X`` rebuilds the data exactly.
    """

    n_components: int
    n_features: int
    n_samples: int
    seed: int
    separation: float
    scale: float
    offset: float
    init_params: str

    @cached_property
    def X(self):
        rng = np.random.default_rng(self.seed)
        D = self.n_features
        true_k = int(rng.integers(1, 4))
        means = rng.normal(size=(true_k, D)) * self.separation
        shapes = rng.normal(size=(true_k, D, D)) * rng.uniform(0.3, 1.0, (true_k, 1, 1))
        weights = rng.dirichlet(np.full(true_k, 2.0))
        labels = rng.choice(true_k, size=self.n_samples, p=weights)
        noise = np.einsum("nij,nj->ni", shapes[labels], rng.normal(size=(self.n_samples, D)))
        X = self.scale * (means[labels] + noise + self.offset)
        X.setflags(write=False)
        return X


@st.composite
def problems(draw, max_components=3, max_features=3, max_samples=100):
    n_components = draw(st.integers(1, max_components))
    n_features = draw(st.integers(1, max_features))
    return Problem(
        n_components=n_components,
        n_features=n_features,
        # at least 4 (D + 1) points per component, so the fit is not degenerate by construction
        n_samples=draw(st.integers(4 * n_components * (n_features + 1), max_samples)),
        seed=draw(st.integers(0, 2**31 - 1)),
        separation=draw(st.sampled_from([0.0, 1.0, 3.0, 10.0])),
        scale=draw(st.sampled_from([1e-2, 1.0, 1e2])),
        offset=draw(st.sampled_from([0.0, 10.0])),
        init_params=draw(st.sampled_from(INIT_PARAMS)),
    )


def _fit(problem, covariance_type, **params):
    gm = GaussianMixture(
        n_components=problem.n_components,
        covariance_type=covariance_type,
        init_params=problem.init_params,
        random_state=problem.seed,
        max_iter=params.pop("max_iter", 30),
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is kept small on purpose
        # KMeans may warn about duplicate points / memory leaks on Windows: irrelevant here
        warnings.simplefilter("ignore", UserWarning)
        return gm.fit(problem.X)


def _full_covariances(gm):
    """Fitted covariances as a (K, D, D) array whatever the covariance type."""
    K, D = gm.means_.shape
    cov = np.asarray(gm.covariances_)
    if gm.covariance_type == "full":
        return cov
    if gm.covariance_type == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if gm.covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return cov[:, None, None] * np.eye(D)


def _scipy_log_weighted_densities(gm, X):
    """log pi_k + log N(x_n | mu_k, Sigma_k), shape (N, K), straight from scipy.stats.

    The covariance goes in as a ``scipy.stats.Covariance`` built from its eigendecomposition
    (an independent route from gmmlib's Cholesky factors). Passing the bare matrix would make
    scipy declare a component with condition number above ~1e9 singular (e.g. two points plus
    reg_covar=1e-6 at data scale 100), although its density is well defined.
    """
    densities = []
    for w, m, c in zip(gm.weights_, gm.means_, _full_covariances(gm)):
        cov = stats.Covariance.from_eigendecomposition(np.linalg.eigh(c))
        densities.append(np.log(w) + stats.multivariate_normal(mean=m, cov=cov).logpdf(X).reshape(-1))
    return np.column_stack(densities)


def _log_density_rounding(gm, X):
    """Bound on the rounding error of a log-density at the points ``X`` under ``gm``.

    The Mahalanobis term (x - mu)^T Sigma^{-1} (x - mu) may legitimately be computed in
    expanded form, x^T P x - 2 x^T P mu + mu^T P mu (scikit-learn does for 'diag' and
    'spherical'; fast implementations do it as one matrix product). Each of its D-ish terms is
    as large as (|x| + |mu|)^2 / lambda_min(Sigma), and cancellation leaves a few ulps of that:
    16 D eps (|x| + |mu|)^2 / lambda_min, maximised over points and components. On
    well-conditioned data of unit scale this is ~1e-13; it grows only where the problem itself
    is ill-conditioned (a thin component far from the origin).
    """
    D = gm.means_.shape[1]
    x_norm = np.max(np.linalg.norm(X, axis=1))
    worst = max(
        (x_norm + np.linalg.norm(mean)) ** 2 / np.min(np.linalg.eigvalsh(cov))
        for mean, cov in zip(gm.means_, _full_covariances(gm))
    )
    return 16 * D * np.finfo(np.float64).eps * worst


def _query_points(problem, rng):
    """The training points plus points up to 5 data-widths outside them."""
    X = problem.X
    centre, width = X.mean(axis=0), X.std(axis=0) + 1e-12
    far = centre + width * rng.uniform(-5, 5, size=(20, X.shape[1]))
    return np.vstack([X, far])


# ---------------------------------------------------------------------------------------------
# The EM lower bound
# ---------------------------------------------------------------------------------------------

N_STEPS = 8


def _regularisation_loss_per_sample(gm):
    """Delta_t of the module docstring, from the parameters theta_{t+1} held by ``gm``."""
    r = gm.reg_covar
    if r == 0:
        return 0.0
    K, D = gm.means_.shape
    cov = np.asarray(gm.covariances_)
    if gm.covariance_type == "full":
        eig, w = np.linalg.eigvalsh(cov), gm.weights_[:, None]
    elif gm.covariance_type == "tied":
        eig, w = np.linalg.eigvalsh(cov)[None, :], np.ones((1, 1))
    elif gm.covariance_type == "diag":
        eig, w = cov, gm.weights_[:, None]
    else:
        eig, w = np.repeat(cov[:, None], D, axis=1), gm.weights_[:, None]
    x = np.minimum(r / eig, 1.0)  # eig >= r up to rounding
    with np.errstate(divide="ignore"):
        h = -np.log1p(-x) - x
    return 0.5 * float(np.sum(w * h))


def _smallest_variance(gm):
    cov = np.asarray(gm.covariances_)
    if gm.covariance_type in ("full", "tied"):
        return float(np.min(np.linalg.eigvalsh(cov)))
    return float(np.min(cov))


def _check_lower_bound_steps(problem, covariance_type, reg_covar):
    params = dict(tol=0.0, reg_covar=reg_covar)  # tol=0: exactly N_STEPS iterations
    try:
        final = _fit(problem, covariance_type, max_iter=N_STEPS, **params)
        # theta_{t+1}: the same deterministic run stopped after t + 1 iterations
        path = [_fit(problem, covariance_type, max_iter=t + 1, **params) for t in range(N_STEPS - 1)]
    except ValueError as error:
        if reg_covar == 0 and "reg_covar" in str(error):
            reject()  # a component collapsed: without regularisation EM cannot go on
        raise
    # Numerical precondition. A variance computed as E[x^2] - mu^2 (scikit-learn's 'diag' and
    # 'spherical', gmmlib's fast M-step) carries an absolute rounding error of a few
    # eps * max(x^2). A component collapsed onto one point (possible only with reg_covar ~ 0)
    # has a variance of that size: its log-density is then rounding noise of order 1, and no
    # 1e-10 statement about the log-likelihood means anything (scikit-learn itself oscillates by
    # ~2e-3 per sample there). Above 1e6 * eps * max(x^2) the relative error of every variance
    # is <= ~1e-6, which costs the M-step only ~1e-12 per sample (the loss is second order,
    # since the M-step maximises the EM surrogate). Examples below it are discarded, not passed.
    noise_floor = 1e6 * np.finfo(np.float64).eps * np.max(problem.X**2)
    if min(_smallest_variance(gm) for gm in [*path, final]) < noise_floor:
        reject()
    lower_bounds = np.asarray(final.lower_bounds_)
    assert lower_bounds.shape == (N_STEPS,)
    assert np.all(np.isfinite(lower_bounds))
    # What the test relies on: lower_bounds_[t] is the mean log-likelihood of the parameters
    # after t iterations (scikit-learn's semantics), i.e. score() of the run stopped there.
    scores = np.array([gm.score(problem.X) for gm in path])
    np.testing.assert_allclose(
        lower_bounds[1:], scores, rtol=1e-10,
        atol=1e-10 + 2 * max(_log_density_rounding(gm, problem.X) for gm in path),
    )
    steps = np.diff(lower_bounds)
    # Two evaluations of the mean log-likelihood each carry rounding error (see
    # _log_density_rounding); theta_0 is not available, theta_1 stands in for it.
    rounding = np.array([_log_density_rounding(gm, problem.X) for gm in path])
    evaluation_error = rounding + np.concatenate([rounding[:1], rounding[:-1]])
    allowed = -np.array([_regularisation_loss_per_sample(gm) for gm in path]) - 1e-10 - evaluation_error
    bad = np.flatnonzero(steps < allowed)
    assert bad.size == 0, (
        f"lower bound dropped by {-steps[bad]} at iterations {bad}; allowed "
        f"{-allowed[bad]} (reg_covar={reg_covar})"
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems())
def test_lower_bound_never_decreases_without_regularisation(covariance_type, problem):
    """reg_covar=0: the textbook EM guarantee, l(t+1) >= l(t) up to rounding."""
    _check_lower_bound_steps(problem, covariance_type, reg_covar=0.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems(), relative_reg=st.sampled_from([1e-6, 1e-3, 1e-1]))
def test_lower_bound_drops_at_most_the_regularisation_loss(covariance_type, problem, relative_reg):
    """reg_covar>0: l(t+1) >= l(t) - Delta_t (module docstring), up to rounding."""
    reg_covar = relative_reg * float(np.var(problem.X))
    _check_lower_bound_steps(problem, covariance_type, reg_covar=reg_covar)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems())
def test_lower_bound_with_default_regularisation_is_monotone(covariance_type, problem):
    """The default reg_covar=1e-6, on data of every scale drawn: the same bound, in the
    setting users actually run (Delta_t is negligible unless a component is nearly degenerate,
    so this is the plain 'never decreases' in practice)."""
    _check_lower_bound_steps(problem, covariance_type, reg_covar=1e-6)


# ---------------------------------------------------------------------------------------------
# Responsibilities and densities
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems())
def test_responsibilities_are_a_probability_distribution(covariance_type, problem):
    gm = _fit(problem, covariance_type)
    Xq = _query_points(problem, np.random.default_rng(problem.seed))
    resp = gm.predict_proba(Xq)
    assert resp.shape == (Xq.shape[0], problem.n_components)
    assert np.all(resp >= 0) and np.all(resp <= 1)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # and they are Bayes' rule on the fitted parameters
    log_weighted = _scipy_log_weighted_densities(gm, Xq)
    expected = np.exp(log_weighted - logsumexp(log_weighted, axis=1, keepdims=True))
    # an error d in the log weighted densities moves a responsibility by at most ~2 d
    rounding = _log_density_rounding(gm, Xq)
    np.testing.assert_allclose(resp, expected, rtol=0, atol=1e-12 + 2 * rounding)
    # predict is the most responsible component (where the top two are not tied to rounding)
    top2 = np.sort(log_weighted, axis=1)[:, -2:] if log_weighted.shape[1] > 1 else None
    clear = (np.ones(len(Xq), bool) if top2 is None
             else (top2[:, 1] - top2[:, 0] > 1e-8 + 2 * rounding))
    np.testing.assert_array_equal(gm.predict(Xq)[clear], resp.argmax(axis=1)[clear])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems())
def test_score_samples_is_log_mixture_density(covariance_type, problem):
    gm = _fit(problem, covariance_type)
    Xq = _query_points(problem, np.random.default_rng(problem.seed))
    expected = logsumexp(_scipy_log_weighted_densities(gm, Xq), axis=1)
    ours = gm.score_samples(Xq)
    assert ours.shape == (Xq.shape[0],)
    np.testing.assert_allclose(ours, expected, rtol=1e-10,
                               atol=1e-10 + _log_density_rounding(gm, Xq))
    # score is the mean of score_samples
    X = problem.X
    assert gm.score(X) == pytest.approx(np.mean(gm.score_samples(X)), rel=1e-12, abs=1e-12)


def _n_parameters(covariance_type, K, D):
    """Free parameters (FACTS.md): covariance part + K D means + (K - 1) weights."""
    covariance_part = {
        "full": K * D * (D + 1) // 2,
        "diag": K * D,
        "tied": D * (D + 1) // 2,
        "spherical": K,
    }[covariance_type]
    return covariance_part + K * D + K - 1


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems())
def test_bic_and_aic_follow_their_formulas(covariance_type, problem):
    gm = _fit(problem, covariance_type)
    X = problem.X
    N, D = X.shape
    p = _n_parameters(covariance_type, problem.n_components, D)
    total_log_likelihood = gm.score(X) * N
    assert gm.bic(X) == pytest.approx(-2 * total_log_likelihood + p * np.log(N), rel=1e-12, abs=1e-9)
    assert gm.aic(X) == pytest.approx(-2 * total_log_likelihood + 2 * p, rel=1e-12, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------

N_DRAWS = 3000
FAMILY_ALPHA = 1e-6  # false-alarm probability of one example, split over all its tests


def _two_sided_chi2_ok(value, dof, alpha):
    return stats.chi2.sf(value, dof) > alpha / 2 and stats.chi2.cdf(value, dof) > alpha / 2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY
@given(problem=problems(), sample_seed=st.integers(0, 2**31 - 1))
def test_samples_have_fitted_weights_means_and_covariances(covariance_type, problem, sample_seed):
    """Exact tests on the samples of each component (none needs a large-sample approximation).

    Whitening component k's samples with its fitted parameters, w = L_k^{-1} (x - mu_k) with
    Sigma_k = L_k L_k^T, must give i.i.d. standard normal rows W (n_k x D). Then exactly:
    n_k |mean(W)|^2 ~ chi2(D); and for each fixed unit vector u in {e_i} and
    {(e_i +- e_j)/sqrt 2}, |W u|^2 ~ chi2(n_k) (this pins the whole covariance, off-diagonal
    entries included). Component counts are Binomial(N_DRAWS, pi_k). All tests share
    FAMILY_ALPHA (Bonferroni).
    """
    gm = _fit(problem, covariance_type)
    gm.set_params(random_state=sample_seed)  # scikit-learn's sample() draws from random_state
    X, y = gm.sample(N_DRAWS)
    K, D = gm.means_.shape
    assert X.shape == (N_DRAWS, D) and y.shape == (N_DRAWS,)
    assert set(np.unique(y)) <= set(range(K))

    directions = [np.eye(D)[i] for i in range(D)]
    for i in range(D):
        for j in range(i + 1, D):
            for sign in (1.0, -1.0):
                directions.append((np.eye(D)[i] + sign * np.eye(D)[j]) / np.sqrt(2))
    n_tests = K * (1 + (1 + len(directions)))
    alpha = FAMILY_ALPHA / n_tests

    counts = np.bincount(y, minlength=K)
    for k in range(K):
        binomial = stats.binom(N_DRAWS, gm.weights_[k])
        assert binomial.cdf(counts[k]) > alpha / 2 and binomial.sf(counts[k] - 1) > alpha / 2, (
            f"component {k}: {counts[k]} samples, weight {gm.weights_[k]:.4g} of {N_DRAWS}"
        )

    for k, (mean, cov) in enumerate(zip(gm.means_, _full_covariances(gm))):
        n_k = counts[k]
        if n_k == 0:
            continue
        L = np.linalg.cholesky(cov)
        W = np.linalg.solve(L, (X[y == k] - mean).T).T
        mean_stat = n_k * np.sum(W.mean(axis=0) ** 2)
        assert _two_sided_chi2_ok(mean_stat, D, alpha), (
            f"component {k}: sample mean is {np.sqrt(mean_stat / n_k):.3g} standard deviations "
            f"from the fitted mean ({n_k} samples)"
        )
        for u in directions:
            spread = np.sum((W @ u) ** 2)
            assert _two_sided_chi2_ok(spread, n_k, alpha), (
                f"component {k}: variance along {u} is {spread / n_k:.4g} x the fitted one "
                f"({n_k} samples)"
            )


def test_sample_random_state_argument_overrides_the_estimators():
    """gmmlib extra: ``sample(n, random_state=...)`` is reproducible, does not touch
    ``self.random_state`` and draws what an estimator with that random_state would draw."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 1, (30, 2)), rng.normal(2, 1, (30, 2))])
    gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    a_X, a_y = gm.sample(50, random_state=7)
    b_X, b_y = gm.sample(50, random_state=7)
    np.testing.assert_array_equal(a_X, b_X)
    np.testing.assert_array_equal(a_y, b_y)
    assert gm.random_state == 0
    assert not np.array_equal(gm.sample(50, random_state=8)[0], a_X)
    other = copy.deepcopy(gm)
    other.random_state = 7  # same fitted model, only the estimator's seed differs
    np.testing.assert_array_equal(other.sample(50)[0], a_X)
    # and without the argument, self.random_state is used, as in scikit-learn
    np.testing.assert_array_equal(gm.sample(50)[0], clone(gm).fit(X).sample(50)[0])
