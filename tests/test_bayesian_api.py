"""BayesianGaussianMixture as an estimator: scikit-learn's checks, bad input, a property.

* ``check_estimator`` passes (the one expected failure is GaussianMixture's, for the same
  reason: a k-means start drawn from weighted rows differs from one drawn from repeated rows;
  tests/test_bayesian.py checks the weighted fit itself against repeated rows).
* Every mistake a user can make gets a ValueError or TypeError that names it.
* Hypothesis: on any small data set, for every covariance type, weight prior and concentration,
  the lower bound never decreases from one iteration to the next. Coordinate ascent on the ELBO
  guarantees it when the updates are exact (``reg_covar=0``); it is also checked with the
  default ``reg_covar``, which makes the Wishart update inexact by ``N_k reg_covar I`` (drops
  have not been seen there either).
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from gmmlib import BayesianGaussianMixture
from test_estimator_checks import run_array_api_check

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
BAD = (ValueError, TypeError)

pytestmark = pytest.mark.usefixtures("single_blas_thread")

EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the k-means initialisation draws differently from weighted rows than from repeated "
        "rows; tests/test_bayesian.py checks the equivalence given the same initialisation"
    ),
}

ESTIMATORS = [BayesianGaussianMixture()] + [
    BayesianGaussianMixture(n_components=2, covariance_type=ct, max_iter=20, n_init=2,
                            random_state=0, weight_concentration_prior_type=pt)
    for ct in COVARIANCE_TYPES for pt in PRIOR_TYPES
] + [BayesianGaussianMixture(n_components=2, max_iter=20, random_state=0, record_history=True)]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_check_estimator_passes_as_a_whole():
    check_estimator(clone(BayesianGaussianMixture(n_components=2, random_state=0)),
                    expected_failed_checks=EXPECTED_FAILED_CHECKS)


def test_array_api_dispatch_with_numpy_inputs():
    """As for GaussianMixture: the check in a fresh interpreter with SCIPY_ARRAY_API=1."""
    run_array_api_check("BayesianGaussianMixture",
                        dict(n_components=2, max_iter=20, random_state=0, record_history=True,
                             weight_concentration_prior_type="dirichlet_distribution"))


def test_parameters_and_defaults_match_sklearn():
    ours = BayesianGaussianMixture().get_params()
    theirs = SkBayesianGaussianMixture().get_params()
    assert set(ours) - set(theirs) == {"record_history", "n_jobs"}  # gmmlib's extras
    assert ours["record_history"] is False and ours["n_jobs"] is None
    for name, value in theirs.items():
        assert ours[name] == value, name


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        BayesianGaussianMixture(2)


# ---------------------------------------------------------------------------------------
# Bad input


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(-3.0, 1.0, size=(20, 2)), rng.normal(3.0, 1.0, size=(20, 2))])


@pytest.mark.parametrize("params, message", [
    (dict(n_components=0), r"n_components.*at least 1"),
    (dict(n_components=2.0), r"n_components"),
    (dict(covariance_type="ful"), r"covariance_type.*'full'"),
    (dict(weight_concentration_prior_type="dirichlet"),
     r"weight_concentration_prior_type.*dirichlet_process"),
    (dict(weight_concentration_prior=0.0), r"weight_concentration_prior.*greater than 0"),
    (dict(weight_concentration_prior=-1.0), r"weight_concentration_prior.*greater than 0"),
    (dict(weight_concentration_prior="small"), r"weight_concentration_prior"),
    (dict(mean_precision_prior=0), r"mean_precision_prior.*greater than 0"),
    (dict(degrees_of_freedom_prior=-2.0), r"degrees_of_freedom_prior.*greater than 0"),
    (dict(degrees_of_freedom_prior=0.5), r"degrees_of_freedom_prior.*greater than.*1"),
    (dict(covariance_prior=-1.0, covariance_type="spherical"), r"covariance_prior.*greater than 0"),
    (dict(covariance_prior=np.eye(3)), r"covariance_prior.*shape \(2, 2\)"),
    (dict(covariance_prior=np.array([[1.0, 2.0], [2.0, 1.0]])), r"positive-definite"),
    (dict(covariance_prior=np.array([1.0, -1.0]), covariance_type="diag"), r"positive"),
    (dict(covariance_prior=np.eye(2), covariance_type="spherical"), r"positive number"),
    (dict(mean_prior=[0.0, 0.0, 0.0]), r"mean_prior.*shape \(2,\)"),
    (dict(tol=-1.0), r"tol"),
    (dict(reg_covar=-1e-6), r"reg_covar"),
    (dict(max_iter=-1), r"max_iter"),
    (dict(init_params="k-means"), r"init_params.*kmeans"),
    (dict(random_state="zero"), r"random_state"),
    (dict(record_history="yes"), r"record_history.*True or False"),
])
def test_invalid_parameters_rejected_in_fit(X, params, message):
    model = BayesianGaussianMixture(**params)
    with pytest.raises(BAD, match=message):
        model.fit(X)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "NaN"), (np.inf, "infinity"),
])
def test_non_finite_data_rejected(X, bad, message):
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(n_components=2).fit(X)


def test_shapes_and_sizes_rejected(X):
    with pytest.raises(ValueError, match="2D array"):
        BayesianGaussianMixture().fit(X[:, 0])
    with pytest.raises(ValueError, match="fewer samples .4. than components"):
        BayesianGaussianMixture(n_components=5).fit(X[:4])
    with pytest.raises(ValueError, match="minimum of 2"):
        BayesianGaussianMixture().fit(X[:1])
    fitted = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.zeros((3, 5)))


@pytest.mark.parametrize("weights, message", [
    (-np.ones(40), "non-negative"), (np.zeros(40), "all zero"), (np.ones(7), "shape"),
    (np.full(40, np.nan), "finite"),
])
def test_bad_sample_weight_rejected(X, weights, message):
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(n_components=2).fit(X, sample_weight=weights)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_methods_before_fit_raise_not_fitted(X, method):
    with pytest.raises(NotFittedError):
        getattr(BayesianGaussianMixture(), method)(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_duplicate_points_fit_without_regularisation(covariance_type):
    """The Wishart prior keeps every covariance positive definite: reg_covar is not needed."""
    X = np.repeat(np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.5]]), 10, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BayesianGaussianMixture(n_components=6, covariance_type=covariance_type,
                                        reg_covar=0.0, random_state=0).fit(X)
    assert np.all(np.isfinite(model.covariances_)) and np.isfinite(model.lower_bound_)


def test_warm_start_with_different_features_rejected(X):
    model = BayesianGaussianMixture(n_components=2, warm_start=True, max_iter=5).fit(X)
    with pytest.raises(ValueError, match=re.escape("has 3 features")):
        model.fit(np.hstack([X, X[:, :1]]))


# ---------------------------------------------------------------------------------------
# Property: the bound never decreases


@st.composite
def problems(draw):
    n_features = draw(st.integers(1, 3))
    n_samples = draw(st.integers(10 * (n_features + 1), 80))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, n_features)) * draw(st.sampled_from([0.0, 1.0, 4.0]))
    X = (centres[rng.integers(3, size=n_samples)] + rng.normal(size=(n_samples, n_features)))
    X = X * draw(st.sampled_from([1e-2, 1.0, 1e2]))
    return X, seed


@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    problem=problems(),
    n_components=st.integers(1, 5),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    prior_type=st.sampled_from(PRIOR_TYPES),
    concentration=st.sampled_from([None, 1e-3, 1.0, 1e3]),
    init_params=st.sampled_from(["kmeans", "random", "random_from_data"]),
)
def test_lower_bound_never_decreases(problem, n_components, covariance_type, prior_type,
                                     concentration, init_params):
    """Each variational update maximises the bound over its factor exactly, so the bound cannot
    fall -- with ``reg_covar=0``. A positive ``reg_covar`` adds to the scatter a term no update
    maximises, and the bound can then drop a little, as EM's log-likelihood can
    (``test_reg_covar_can_lower_the_bound_a_little``)."""
    reg_covar = 0.0
    X, seed = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BayesianGaussianMixture(
            n_components=n_components, covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type,
            weight_concentration_prior=concentration, reg_covar=reg_covar,
            init_params=init_params, random_state=seed % 1000, tol=0.0, max_iter=40,
        ).fit(X)
    bounds = np.array(model.lower_bounds_)
    # rounding of a sum of ~N terms of size |bound|: far below any real step
    allowed = 1e-11 * np.maximum(1.0, np.abs(bounds[1:]))
    assert np.all(np.diff(bounds) >= -allowed), np.diff(bounds).min()


def test_reg_covar_can_lower_the_bound_a_little():
    """The counterpart of the property above: on data at the scale 1e-2, where ``reg_covar=1e-6``
    is a sizeable share of the variances (as in the examples Hypothesis found), the bound falls
    at some step by far more than rounding, though by little; with ``reg_covar=0`` it does not."""
    rng = np.random.default_rng(2)
    X = 1e-2 * (rng.normal(size=(60, 1)) + np.repeat([[0.0], [4.0]], 30, axis=0))
    params = dict(n_components=2, covariance_type="full", random_state=0, tol=0.0, max_iter=40)
    drops = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for reg_covar in (0.0, 1e-6):
            bounds = BayesianGaussianMixture(reg_covar=reg_covar, **params).fit(X).lower_bounds_
            drops[reg_covar] = np.diff(bounds).min()
    assert drops[0.0] >= -1e-11 * np.max(np.abs(bounds))
    assert drops[1e-6] < -100 * abs(drops[0.0])  # a real fall, not rounding
    assert drops[1e-6] > -1e-6 * np.max(np.abs(bounds))
