"""gmmlib.BayesianGaussianMixture and the variational updates of gmmlib.bayesian (issue 13).

1. Each pure function (prior defaults, the three posterior updates, the E-step offsets, the lower
   bound) agrees with scikit-learn's estimator given the same moments, which the test computes.
2. Whole fits agree with scikit-learn's to a relative 1e-8 (weights, means, covariances,
   lower bound, iteration count) for every covariance type, both weight priors, default and
   non-default priors, every init_params, on overlapping data where the fit is still moving.
3. The lower bound equals the ELBO -- every term of Bishop's eq. (10.70) evaluated directly --
   up to a constant that depends only on N, K, D and the prior.
4. sample_weight (integer weights = repeated rows), warm start and record_history.
"""

import warnings

import numpy as np
import pytest
from scipy.special import betaln, digamma, gammaln, logsumexp
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters

from gmmlib import BayesianGaussianMixture, _base, bayesian

pytestmark = pytest.mark.usefixtures("single_blas_thread")

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
RTOL = 1e-8


def assert_close(actual, desired, rtol=RTOL):
    """Relative agreement, measured against the scale of the whole array."""
    actual = np.asarray(actual, dtype=float)
    desired = np.asarray(desired, dtype=float)
    assert actual.shape == desired.shape
    scale = max(np.max(np.abs(desired)), np.finfo(float).tiny)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def overlapping_2d(n=500, seed=0):
    X, _ = make_blobs(n, centers=[[0, 0], [2, 1], [1, 3]], cluster_std=[1.2, 1.0, 1.4],
                      random_state=seed)
    return X @ np.array([[0.8, -0.6], [0.6, 0.8]])


def overlapping_4d(n=800, seed=1):
    rng = np.random.default_rng(seed)
    X, _ = make_blobs(n, centers=rng.normal(scale=1.5, size=(4, 4)), cluster_std=1.3,
                      random_state=seed)
    return X @ (np.eye(4) + 0.3 * rng.normal(size=(4, 4)))


def shifted_3d(n=400, seed=2):
    """Far from the origin and unevenly scaled, so the prior's defaults matter."""
    X, _ = make_blobs(n, n_features=3, centers=5, cluster_std=2.0, random_state=seed)
    return 100 + X * np.array([0.1, 1.0, 10.0])


DATASETS = {"overlapping_2d": overlapping_2d, "overlapping_4d": overlapping_4d,
            "shifted_3d": shifted_3d}


def custom_priors(X, covariance_type):
    """Non-default values of every prior parameter."""
    D = X.shape[1]
    spread = np.cov(X.T) * 0.5 + 0.1 * np.eye(D)
    covariance = {"full": spread, "tied": spread, "diag": np.diag(spread),
                  "spherical": float(np.mean(np.diag(spread)))}[covariance_type]
    return dict(weight_concentration_prior=0.05, mean_precision_prior=0.3,
                mean_prior=X.mean(axis=0) + 0.5, degrees_of_freedom_prior=D + 2.5,
                covariance_prior=covariance)


def fit_both(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**params).fit(X)
        theirs = SkBayesianGaussianMixture(**params).fit(X)
    return ours, theirs


def assert_same_fit(ours, theirs, rtol=RTOL):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                 "mean_precision_", "degrees_of_freedom_"):
        assert_close(getattr(ours, name), getattr(theirs, name), rtol)
    assert_close(np.vstack(np.atleast_1d(ours.weight_concentration_)),
                 np.vstack(np.atleast_1d(theirs.weight_concentration_)), rtol)
    # scikit-learn's 'tied' bound is an array of shape (1,); ours is a float
    assert isinstance(ours.lower_bound_, float)
    assert_close(ours.lower_bound_, np.ravel(theirs.lower_bound_)[0], rtol)
    assert_close(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol)


# ---------------------------------------------------------------------------------------
# 1. The pure functions against scikit-learn, on moments computed here


def sklearn_with_prior(X, covariance_type, prior_type, **priors):
    """A scikit-learn estimator with its prior attributes set from X (its _check_parameters)."""
    model = SkBayesianGaussianMixture(
        n_components=4, covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type, **priors,
    )
    model._check_parameters(X)
    return model


def moments(X, K, covariance_type, seed=0, reg_covar=1e-6):
    """EM's M-step moments for random responsibilities."""
    resp = np.random.default_rng(seed).dirichlet(np.full(K, 0.7), size=len(X))
    return resp, _estimate_gaussian_parameters(X, resp, reg_covar, covariance_type)


@pytest.mark.parametrize("custom", [False, True], ids=["default-prior", "custom-prior"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_prior_defaults_match_sklearn(covariance_type, custom):
    X = shifted_3d()
    priors = custom_priors(X, covariance_type) if custom else {}
    theirs = sklearn_with_prior(X, covariance_type, "dirichlet_process", **priors)
    ours = bayesian.prior_from_data(
        X, covariance_type, 4,
        **{key.replace("_prior", ""): value for key, value in priors.items()},
    )
    assert ours.weight_concentration == theirs.weight_concentration_prior_
    assert ours.mean_precision == theirs.mean_precision_prior_
    assert_close(ours.mean, theirs.mean_prior_, 1e-14)
    assert ours.degrees_of_freedom == theirs.degrees_of_freedom_prior_
    assert_close(ours.covariance, theirs.covariance_prior_, 1e-14)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_each_update_matches_sklearn(covariance_type, prior_type):
    X = overlapping_4d()
    priors = custom_priors(X, covariance_type)
    theirs = sklearn_with_prior(X, covariance_type, prior_type, **priors)
    prior = bayesian.prior_from_data(
        X, covariance_type, 4, **{k.replace("_prior", ""): v for k, v in priors.items()})
    resp, (nk, xbar, scatter) = moments(X, 4, covariance_type)
    theirs._estimate_weights(nk)
    theirs._estimate_means(nk, xbar)
    theirs._estimate_precisions(nk, xbar, scatter)

    concentration = bayesian.update_weight_concentration(nk, prior.weight_concentration,
                                                         prior_type)
    assert_close(np.vstack(np.atleast_1d(concentration)),
                 np.vstack(np.atleast_1d(theirs.weight_concentration_)), 1e-13)
    beta, means = bayesian.update_means(nk, xbar, prior)
    assert_close(beta, theirs.mean_precision_, 1e-13)
    assert_close(means, theirs.means_, 1e-13)
    nu, covariances = bayesian.update_precisions(nk, xbar, scatter, beta, prior,
                                                 covariance_type)
    assert_close(nu, theirs.degrees_of_freedom_, 1e-13)
    assert_close(covariances, theirs.covariances_, 1e-13)

    posterior = bayesian.update_posterior(nk, xbar, scatter, prior, prior_type, covariance_type)
    assert_close(posterior.precisions_cholesky, theirs.precisions_cholesky_, 1e-12)
    assert_close(bayesian.expected_log_weights(posterior.weight_concentration, prior_type),
                 theirs._estimate_log_weights(), 1e-13)
    # the E-step: a plain Gaussian log-density plus one offset per component
    assert_close(bayesian.log_rho(X, posterior, prior_type, covariance_type),
                 theirs._estimate_weighted_log_prob(X), 1e-12)
    # the bound, from the entropy of responsibilities
    log_resp = np.log(resp)
    entropy = -np.sum(resp * log_resp)
    assert_close(
        bayesian.lower_bound(entropy, posterior, prior_type, covariance_type, X.shape[1]),
        np.ravel(theirs._compute_lower_bound(log_resp, None))[0], 1e-13)
    # the reported weights
    theirs._set_parameters(theirs._get_parameters())
    assert_close(bayesian.expected_weights(posterior.weight_concentration, prior_type),
                 theirs.weights_, 1e-13)


def test_stick_breaking_by_hand():
    """Dirichlet-process posterior and expected log-weights on numbers small enough to check."""
    nk = np.array([5.0, 3.0, 2.0])
    a, b = bayesian.update_weight_concentration(nk, 0.5, "dirichlet_process")
    np.testing.assert_array_equal(a, [6.0, 4.0, 3.0])
    np.testing.assert_array_equal(b, [0.5 + 5.0, 0.5 + 2.0, 0.5])
    log_weights = bayesian.expected_log_weights((a, b), "dirichlet_process")
    take = digamma(a) - digamma(a + b)
    leave = digamma(b) - digamma(a + b)
    np.testing.assert_allclose(log_weights, [take[0], leave[0] + take[1],
                                             leave[0] + leave[1] + take[2]], rtol=1e-14)


# ---------------------------------------------------------------------------------------
# 2. Whole fits against scikit-learn


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_fit_matches_sklearn_default_prior(dataset, covariance_type, prior_type):
    X = DATASETS[dataset]()
    ours, theirs = fit_both(X, n_components=5, covariance_type=covariance_type,
                            weight_concentration_prior_type=prior_type, random_state=0,
                            max_iter=60)
    assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_close(ours.score_samples(X), theirs.score_samples(X))
    assert_close(ours.predict_proba(X), theirs.predict_proba(X))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_matches_sklearn_custom_prior(covariance_type, prior_type, init_params):
    X = overlapping_4d()
    ours, theirs = fit_both(X, n_components=6, covariance_type=covariance_type,
                            weight_concentration_prior_type=prior_type, random_state=3,
                            init_params=init_params, max_iter=60, tol=1e-6, n_init=2,
                            **custom_priors(X, covariance_type))
    assert_same_fit(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_converged_fits_stop_at_the_same_iteration(covariance_type):
    X = overlapping_2d()
    ours, theirs = fit_both(X, n_components=4, covariance_type=covariance_type,
                            random_state=1, max_iter=500)
    assert theirs.converged_
    assert_same_fit(ours, theirs)


def test_fit_predict_equals_predict_and_sample_matches_sklearn():
    X = overlapping_2d()
    ours, theirs = fit_both(X, n_components=4, random_state=0)
    labels = BayesianGaussianMixture(n_components=4, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(labels, ours.predict(X))
    X_ours, y_ours = ours.sample(50)
    X_theirs, y_theirs = theirs.sample(50)
    np.testing.assert_array_equal(y_ours, y_theirs)
    assert_close(X_ours, X_theirs)


def test_max_iter_zero_keeps_the_initialisation_like_sklearn():
    X = overlapping_2d()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning for "just initialise"
        ours, theirs = fit_both(X, n_components=3, random_state=0, max_iter=0, n_init=2)
    assert ours.n_iter_ == 0 and ours.lower_bound_ == -np.inf and ours.lower_bounds_ == []
    assert_close(ours.means_, theirs.means_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_like_sklearn(covariance_type):
    X = overlapping_4d()
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0,
                  max_iter=5, warm_start=True)
    ours = BayesianGaussianMixture(**params)
    theirs = SkBayesianGaussianMixture(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ours.fit(X)
            theirs.fit(X)
    assert_same_fit(ours, theirs)


# ---------------------------------------------------------------------------------------
# 3. The lower bound is the ELBO up to a constant


def elbo_by_terms(X, resp, prior, posterior, prior_type):
    """Every term of the ELBO (Bishop 2006, eqs. 10.71-10.77), full covariances.

    The posterior must have been updated from ``resp`` with ``reg_covar=0``.
    """
    N, D = X.shape
    K = resp.shape[1]
    alpha0, beta0, m0, nu0 = (prior.weight_concentration, prior.mean_precision, prior.mean,
                              prior.degrees_of_freedom)
    W0 = np.linalg.inv(prior.covariance)
    beta, m, nu = posterior.mean_precision, posterior.means, posterior.degrees_of_freedom
    W = np.linalg.inv(posterior.covariances * nu[:, None, None])  # covariances = W^-1 / nu
    logdet_W = np.linalg.slogdet(W)[1]

    def log_wishart_norm(logdet, dof):  # log B(W, nu), every term
        return (-0.5 * dof * logdet - 0.5 * dof * D * np.log(2) - 0.25 * D * (D - 1) * np.log(np.pi)
                - sum(gammaln(0.5 * (dof + 1 - i)) for i in range(1, D + 1)))

    e_logdet = sum(digamma(0.5 * (nu + 1 - i)) for i in range(1, D + 1)) + D * np.log(2) + logdet_W
    if prior_type == "dirichlet_distribution":
        alpha = posterior.weight_concentration
        e_logpi = digamma(alpha) - digamma(alpha.sum())
        log_c = lambda a: gammaln(a.sum()) - gammaln(a).sum()  # noqa: E731
        e_log_p_pi = log_c(np.full(K, alpha0)) + (alpha0 - 1) * e_logpi.sum()
        e_log_q_pi = log_c(alpha) + np.sum((alpha - 1) * e_logpi)
    else:
        a, b = posterior.weight_concentration
        e_logv = digamma(a) - digamma(a + b)
        e_log1mv = digamma(b) - digamma(a + b)
        e_logpi = e_logv + np.concatenate(([0.0], np.cumsum(e_log1mv)[:-1]))
        e_log_p_pi = np.sum(-betaln(1.0, alpha0) + (alpha0 - 1) * e_log1mv)
        e_log_q_pi = np.sum(-betaln(a, b) + (a - 1) * e_logv + (b - 1) * e_log1mv)

    quad = np.stack([np.einsum("ni,ij,nj->n", X - m[k], W[k], X - m[k]) for k in range(K)], 1)
    e_log_px = np.sum(resp * 0.5 * (e_logdet - D / beta - nu * quad - D * np.log(2 * np.pi)))
    e_log_pz = np.sum(resp * e_logpi)
    dm = m - m0
    e_log_p_mu_lambda = (
        np.sum(0.5 * (D * np.log(beta0 / (2 * np.pi)) + e_logdet - D * beta0 / beta
                      - beta0 * nu * np.einsum("ki,kij,kj->k", dm, W, dm)))
        + K * log_wishart_norm(np.linalg.slogdet(W0)[1], nu0)
        + 0.5 * (nu0 - D - 1) * e_logdet.sum()
        - 0.5 * np.sum(nu * np.einsum("ij,kji->k", prior.covariance, W))
    )
    e_log_qz = np.sum(resp * np.log(resp))
    wishart_entropy = -log_wishart_norm(logdet_W, nu) - 0.5 * (nu - D - 1) * e_logdet + 0.5 * nu * D
    e_log_q_mu_lambda = np.sum(0.5 * e_logdet + 0.5 * D * np.log(beta / (2 * np.pi)) - 0.5 * D
                               - wishart_entropy)
    return (e_log_px + e_log_pz + e_log_p_pi + e_log_p_mu_lambda
            - e_log_qz - e_log_q_pi - e_log_q_mu_lambda)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_lower_bound_is_the_elbo_up_to_a_constant(prior_type):
    """Same N, D, K and prior; different data and responsibilities: the gap stays put."""
    N, D, K = 40, 2, 3
    rng = np.random.default_rng(7)
    prior = bayesian.MixturePrior(0.3, 0.8, np.array([0.5, -0.2]), 3.5,
                                  np.array([[1.5, 0.3], [0.3, 0.7]]))
    gaps = []
    for trial in range(6):
        X = rng.normal(size=(N, D)) * rng.uniform(0.5, 3) + rng.normal(size=D)
        resp = rng.dirichlet(np.full(K, rng.uniform(0.2, 3)), size=N)
        nk, xbar, scatter = _estimate_gaussian_parameters(X, resp, 0.0, "full")
        posterior = bayesian.update_posterior(nk, xbar, scatter, prior, prior_type, "full")
        bound = bayesian.lower_bound(-np.sum(resp * np.log(resp)), posterior, prior_type,
                                     "full", D)
        elbo = elbo_by_terms(X, resp, prior, posterior, prior_type)
        gaps.append(elbo - bound)
        assert elbo < 0 and np.isfinite(elbo)
    np.testing.assert_allclose(gaps, gaps[0], rtol=0, atol=1e-9 * abs(gaps[0]))


def test_entropy_term_is_the_only_place_the_responsibilities_enter():
    """Sanity check of the ELBO code above: it is not constant in the responsibilities."""
    N, D, K = 30, 2, 3
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, D))
    prior = bayesian.prior_from_data(X, "full", K)
    values = []
    for concentration in (0.3, 3.0):
        resp = rng.dirichlet(np.full(K, concentration), size=N)
        nk, xbar, scatter = _estimate_gaussian_parameters(X, resp, 0.0, "full")
        posterior = bayesian.update_posterior(nk, xbar, scatter, prior, "dirichlet_process",
                                              "full")
        values.append(elbo_by_terms(X, resp, prior, posterior, "dirichlet_process"))
    assert abs(values[0] - values[1]) > 1.0


# ---------------------------------------------------------------------------------------
# 4. sample_weight, history


def fixed_start(resp):
    """Make every fit start from ``resp`` (same initialisation for weighted and repeated)."""
    return lambda X, sample_weight, n_components, init_params, random_state: resp


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(monkeypatch, covariance_type, prior_type):
    X = overlapping_4d(n=300)
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    resp = np.random.default_rng(1).dirichlet(np.ones(4), size=len(X))
    params = dict(n_components=4, covariance_type=covariance_type, tol=0.0, max_iter=25,
                  weight_concentration_prior_type=prior_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        monkeypatch.setattr(_base, "initial_responsibilities", fixed_start(resp))
        weighted = BayesianGaussianMixture(**params).fit(X, sample_weight=w)
        monkeypatch.setattr(_base, "initial_responsibilities",
                            fixed_start(np.repeat(resp, w, axis=0)))
        repeated = BayesianGaussianMixture(**params).fit(np.repeat(X, w, axis=0))
    assert_same_fit(weighted, repeated, rtol=1e-10)
    assert_close(weighted.covariance_prior_, repeated.covariance_prior_, 1e-12)


def test_unit_weights_change_nothing():
    X = overlapping_2d()
    a = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    b = BayesianGaussianMixture(n_components=3, random_state=0).fit(X, sample_weight=np.ones(len(X)))
    assert_same_fit(a, b, rtol=1e-12)


def test_history_records_every_iteration():
    X = overlapping_2d()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BayesianGaussianMixture(n_components=5, random_state=0, max_iter=30,
                                        record_history=True).fit(X)
    history = model.history_
    assert len(history) == model.n_iter_ + 1
    assert np.isnan(history[0]["lower_bound"])
    assert [entry["lower_bound"] for entry in history[1:]] == model.lower_bounds_
    for entry in history:
        assert set(entry) == {"weights", "means", "covariances", "lower_bound"}
        assert entry["weights"].shape == (5,) and entry["means"].shape == (5, 2)
        assert entry["covariances"].shape == (5, 2, 2)
    last = history[-1]
    assert_close(last["weights"], model.weights_, 1e-15)
    assert_close(last["covariances"], model.covariances_, 1e-15)
    assert not hasattr(BayesianGaussianMixture(n_components=2).fit(X), "history_")


def test_score_samples_is_the_normaliser_of_the_responsibilities():
    X = overlapping_2d()
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    log_rho = bayesian.log_rho(X, model._posterior(), model.weight_concentration_prior_type,
                               "full")
    assert_close(model.score_samples(X), logsumexp(log_rho, axis=1), 1e-13)
    assert_close(model.predict_proba(X).sum(axis=1), np.ones(len(X)), 1e-14)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunks_dask_and_threads_give_the_in_memory_fit(covariance_type):
    """The same fit from chunks that never sit together, from a Dask array and on two threads
    (the prior's defaults then come from one pass of the engine)."""
    da = pytest.importorskip("dask.array")  # the "scale" extra: not in `make test-oldest`

    X = overlapping_4d(n=600)
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(X))
    params = dict(n_components=4, covariance_type=covariance_type, random_state=0,
                  max_iter=30, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = BayesianGaussianMixture(**params).fit(X, sample_weight=w)
        chunked = BayesianGaussianMixture(**params).fit_chunks(
            lambda: ((X[i : i + 128], w[i : i + 128]) for i in range(0, len(X), 128)))
        on_dask = BayesianGaussianMixture(**params).fit(da.from_array(X, chunks=(150, 4)),
                                                       sample_weight=da.from_array(w, chunks=150))
        threaded = BayesianGaussianMixture(n_jobs=2, **params).fit(X, sample_weight=w)
    for other in (chunked, on_dask, threaded):
        assert_same_fit(other, in_memory, rtol=1e-9)
        assert_close(other.covariance_prior_, in_memory.covariance_prior_, 1e-12)
