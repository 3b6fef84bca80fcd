"""Bad input to :class:`gmmlib.GaussianMixture` (issue 3, section 5).

Every mistake a user can make gets a ``ValueError`` or ``TypeError`` (scikit-learn's
``InvalidParameterError`` is both; ``NotFittedError`` for calling methods before ``fit``) whose
message names what is wrong in words a reader understands; each ``match=`` below checks those
key words. Inputs that are merely unusual (integers, float32, pandas DataFrames, lists) must
work. A degenerate data set (duplicate points, a constant column) is either regularised by
``reg_covar`` (the fit works and every result is finite) or, when ``reg_covar=0`` makes that
impossible, reported with a message that says to raise ``reg_covar`` or scale the data.

All data here is tiny and ``max_iter`` bounds every loop; an autouse alarm turns any test that
runs longer than ``TIME_LIMIT_S`` seconds into a failure, so nothing can hang.
"""

import re
import signal
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from gmmlib import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
TIME_LIMIT_S = 30
BAD_PARAMETER = (ValueError, TypeError)

pytestmark = pytest.mark.usefixtures("single_blas_thread")


@pytest.fixture(autouse=True)
def _no_hang():
    """Fail (instead of hanging) if a test runs longer than ``TIME_LIMIT_S`` seconds."""
    if not hasattr(signal, "SIGALRM"):  # Windows: no alarm, tests still bounded by max_iter
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"test ran longer than {TIME_LIMIT_S} s: something loops forever")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def X():
    """40 points in 2-D around two well-separated centres."""
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(-3.0, 1.0, size=(20, 2)), rng.normal(3.0, 1.0, size=(20, 2))])


@pytest.fixture
def fitted(X):
    return GaussianMixture(n_components=2, random_state=0).fit(X)


# ---------------------------------------------------------------------------------------------
# NaN / inf / empty / wrong dimension
# ---------------------------------------------------------------------------------------------

NOT_FINITE = [
    pytest.param(np.nan, r"(?i)NaN", id="nan"),
    pytest.param(np.inf, r"(?i)infinity", id="inf"),
    pytest.param(-np.inf, r"(?i)infinity", id="-inf"),
]


@pytest.mark.parametrize("value, message", NOT_FINITE)
@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_non_finite_X_rejected_by_fit(X, value, message, method):
    X = X.copy()
    X[3, 1] = value
    with pytest.raises(ValueError, match=message):
        getattr(GaussianMixture(n_components=2, random_state=0), method)(X)


@pytest.mark.parametrize("value, message", NOT_FINITE)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_non_finite_X_rejected_after_fit(fitted, X, value, message, method):
    X = X.copy()
    X[0, 0] = value
    with pytest.raises(ValueError, match=message):
        getattr(fitted, method)(X)


@pytest.mark.parametrize(
    "shape, message",
    [
        pytest.param((0, 2), r"0 sample", id="no-rows"),
        pytest.param((5, 0), r"0 feature", id="no-columns"),
        pytest.param((0, 0), r"0 sample|0 feature", id="nothing"),
    ],
)
def test_empty_X_rejected(shape, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(n_components=1).fit(np.empty(shape))


def test_empty_X_rejected_after_fit(fitted):
    with pytest.raises(ValueError, match=r"0 sample"):
        fitted.predict(np.empty((0, 2)))


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_one_dimensional_X_rejected_with_reshape_hint(X, method):
    with pytest.raises(ValueError, match=r"(?s)2D array.*[Rr]eshape"):
        getattr(GaussianMixture(n_components=1), method)(X[:, 0])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_one_dimensional_X_rejected_after_fit(fitted, X, method):
    with pytest.raises(ValueError, match=r"(?s)2D array.*[Rr]eshape"):
        getattr(fitted, method)(X[:, 0])


def test_three_dimensional_X_rejected(X):
    with pytest.raises(ValueError, match=r"dim 3"):
        GaussianMixture(n_components=1).fit(X.reshape(10, 2, 4))


def test_scalar_X_rejected():
    with pytest.raises(ValueError, match=r"2D array"):
        GaussianMixture(n_components=1).fit(np.float64(3.0))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        pytest.param([["a", "b"], ["c", "d"], ["e", "f"]], ValueError, r"string", id="strings"),
        pytest.param(np.ones((6, 2)) + 1j, ValueError, r"(?i)complex", id="complex"),
        pytest.param(sp.csr_matrix(np.eye(6, 2)), TypeError, r"(?i)sparse.*dense", id="sparse"),
    ],
)
def test_non_numeric_or_sparse_X_rejected(bad, error, message):
    with pytest.raises(error, match=message):
        GaussianMixture(n_components=1).fit(bad)


# ---------------------------------------------------------------------------------------------
# Too few samples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples, n_components", [(3, 5), (2, 3), (9, 10)])
def test_fewer_samples_than_components_rejected(X, n_samples, n_components):
    with pytest.raises(ValueError, match=r"(?s)n_samples.*n_components|n_components.*n_samples"):
        GaussianMixture(n_components=n_components).fit(X[:n_samples])


def test_a_single_sample_rejected(X):
    # One point has no spread: even one component cannot be fitted.
    with pytest.raises(ValueError, match=r"1 sample"):
        GaussianMixture(n_components=1).fit(X[:1])


# ---------------------------------------------------------------------------------------------
# Constructor parameters (validated in fit, as scikit-learn does)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        pytest.param(dict(n_components=0), r"n_components", id="n_components=0"),
        pytest.param(dict(n_components=-2), r"n_components", id="n_components=-2"),
        pytest.param(dict(n_components=1.5), r"n_components", id="n_components=1.5"),
        pytest.param(dict(n_components="2"), r"n_components", id="n_components='2'"),
        pytest.param(dict(covariance_type="ful"), r"(?s)covariance_type.*full", id="cov-typo"),
        pytest.param(dict(covariance_type="Full"), r"(?s)covariance_type.*full", id="cov-case"),
        pytest.param(dict(covariance_type=None), r"covariance_type", id="cov-None"),
        pytest.param(dict(init_params="k-means"), r"(?s)init_params.*kmeans", id="init-typo"),
        pytest.param(dict(init_params="uniform"), r"(?s)init_params.*random", id="init-unknown"),
        pytest.param(dict(tol=-1e-3), r"tol", id="tol<0"),
        pytest.param(dict(reg_covar=-1e-6), r"reg_covar", id="reg_covar<0"),
        pytest.param(dict(max_iter=-1), r"max_iter", id="max_iter<0"),
        pytest.param(dict(n_init=0), r"n_init", id="n_init=0"),
        pytest.param(dict(random_state="zero"), r"random_state", id="random_state-str"),
    ],
)
def test_invalid_constructor_parameter_rejected_in_fit(X, params, message):
    estimator = GaussianMixture(**params)  # __init__ only stores: no error yet
    with pytest.raises(BAD_PARAMETER, match=message):
        estimator.fit(X)


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        GaussianMixture(2, "diag")


# ---------------------------------------------------------------------------------------------
# weights_init / means_init / precisions_init
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weights, message",
    [
        pytest.param([0.5, 0.6], r"(?i)weights.*(normali[sz]ed|sum)", id="sum>1"),
        pytest.param([0.2, 0.3], r"(?i)weights.*(normali[sz]ed|sum)", id="sum<1"),
        pytest.param([0.2, 0.3, 0.5], r"(?s)weights.*shape.*\(2,\)", id="too-many"),
        pytest.param([1.0], r"(?s)weights.*shape.*\(2,\)", id="too-few"),
        pytest.param([[0.5, 0.5]], r"(?s)weights.*shape.*\(2,\)", id="2-D"),
        pytest.param([-0.5, 1.5], r"(?i)weights.*range", id="negative"),
        pytest.param([np.nan, 0.5], r"(?i)NaN", id="nan"),
    ],
)
def test_bad_weights_init_rejected(X, weights, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(n_components=2, weights_init=weights).fit(X)


@pytest.mark.parametrize(
    "means, message",
    [
        pytest.param(np.zeros((3, 2)), r"(?s)means.*shape.*\(2, 2\)", id="too-many-rows"),
        pytest.param(np.zeros((2, 3)), r"(?s)means.*shape.*\(2, 2\)", id="too-many-columns"),
        pytest.param(np.zeros(4), r"(?s)means.*shape.*\(2, 2\)", id="flat"),
        pytest.param([[0.0, np.inf], [1.0, 1.0]], r"(?i)infinity", id="inf"),
    ],
)
def test_bad_means_init_rejected(X, means, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(n_components=2, means_init=means).fit(X)


NOT_POSITIVE_DEFINITE = {
    # eigenvalues 3 and -1: symmetric but indefinite
    "full": np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]),
    "tied": np.array([[1.0, 2.0], [2.0, 1.0]]),
    "diag": np.array([[1.0, 1.0], [1.0, -1.0]]),
    "spherical": np.array([1.0, 0.0]),
}


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_non_positive_definite_precisions_init_rejected(X, covariance_type):
    estimator = GaussianMixture(
        n_components=2,
        covariance_type=covariance_type,
        precisions_init=NOT_POSITIVE_DEFINITE[covariance_type],
    )
    with pytest.raises(ValueError, match=r"(?is)precision.*positive"):
        estimator.fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_non_symmetric_precisions_init_rejected(X, covariance_type):
    P = np.array([[2.0, 0.5], [0.0, 2.0]])  # positive eigenvalues, but not symmetric
    precisions = np.array([np.eye(2), P]) if covariance_type == "full" else P
    estimator = GaussianMixture(
        n_components=2, covariance_type=covariance_type, precisions_init=precisions
    )
    with pytest.raises(ValueError, match=r"(?i)precision.*symmetric"):
        estimator.fit(X)


@pytest.mark.parametrize(
    "covariance_type, precisions",
    [
        ("full", np.array([np.eye(2)] * 3)),
        ("full", np.eye(2)),
        ("tied", np.eye(3)),
        ("diag", np.ones((2, 3))),
        ("spherical", np.ones(3)),
    ],
)
def test_precisions_init_of_wrong_shape_rejected(X, covariance_type, precisions):
    estimator = GaussianMixture(
        n_components=2, covariance_type=covariance_type, precisions_init=precisions
    )
    with pytest.raises(ValueError, match=r"(?is)precision.*shape"):
        estimator.fit(X)


# ---------------------------------------------------------------------------------------------
# Methods on the wrong data, or before fit
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
@pytest.mark.parametrize("n_features", [1, 3])
def test_different_number_of_features_rejected(fitted, method, n_features):
    X_new = np.zeros((4, n_features))
    with pytest.raises(ValueError, match=rf"{n_features} features.*expecting 2 features"):
        getattr(fitted, method)(X_new)


@pytest.mark.parametrize("method", ["bic", "aic"])
def test_criteria_on_different_number_of_features_rejected(fitted, method):
    with pytest.raises(ValueError, match=r"3 features.*expecting 2 features"):
        getattr(fitted, method)(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda gm, X: gm.predict(X), id="predict"),
        pytest.param(lambda gm, X: gm.predict_proba(X), id="predict_proba"),
        pytest.param(lambda gm, X: gm.score_samples(X), id="score_samples"),
        pytest.param(lambda gm, X: gm.score(X), id="score"),
        pytest.param(lambda gm, X: gm.bic(X), id="bic"),
        pytest.param(lambda gm, X: gm.aic(X), id="aic"),
        pytest.param(lambda gm, X: gm.sample(3), id="sample"),
    ],
)
def test_methods_before_fit_raise_not_fitted(X, call):
    with pytest.raises(NotFittedError, match=r"not fitted.*fit"):
        call(GaussianMixture(n_components=2), X)


@pytest.mark.parametrize("n_samples", [0, -1])
def test_sample_needs_at_least_one_sample(fitted, n_samples):
    with pytest.raises(ValueError, match=r"n_samples"):
        fitted.sample(n_samples)


# ---------------------------------------------------------------------------------------------
# Collapsing components
# ---------------------------------------------------------------------------------------------

COLLAPSE_MESSAGE = r"(?s)(?=.*reg_covar)(?=.*scale)"  # both hints, in any order


def _two_distinct_points_repeated(n_repeats=10):
    return np.repeat(np.array([[0.0, 0.0], [4.0, 1.0]]), n_repeats, axis=0)


def _with_constant_column(X):
    X = X.copy()
    X[:, 1] = 7.0
    return X


def _assert_finite_fit(gm, X):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), f"{name} is not finite"
    assert np.all(np.isfinite(gm.score_samples(X)))
    proba = gm.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-10)
    assert np.isfinite(gm.lower_bound_)
    assert np.isfinite(gm.bic(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [2, 3])
def test_duplicate_points_regularised_by_reg_covar(covariance_type, n_components):
    """Each component sits on a single repeated point: reg_covar keeps its covariance invertible."""
    X = _two_distinct_points_repeated()
    gm = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                         reg_covar=1e-6, random_state=0)
    with warnings.catch_warnings():
        # KMeans warns that there are fewer distinct points than clusters (n_components=3):
        # that is the situation under test, not a failure.
        warnings.simplefilter("ignore")
        gm.fit(X)
    _assert_finite_fit(gm, X)
    # The collapsed covariances are the regulariser, no smaller (up to cancellation error).
    assert np.all(_component_variances(gm) >= _smallest_allowed_variance(gm, X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [2, 3])
def test_duplicate_points_without_regularisation_reported(covariance_type, n_components):
    X = _two_distinct_points_repeated()
    gm = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                         reg_covar=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KMeans: fewer distinct points than clusters
        with pytest.raises(ValueError, match=COLLAPSE_MESSAGE):
            gm.fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_constant_column_regularised_by_reg_covar(X, covariance_type):
    X = _with_constant_column(X)
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, random_state=0).fit(X)
    _assert_finite_fit(gm, X)
    assert np.all(_component_variances(gm) >= _smallest_allowed_variance(gm, X))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_constant_column_without_regularisation_reported(X, covariance_type):
    """With reg_covar=0 a constant column makes every covariance but 'spherical' singular. The
    computed variance is then rounding noise (1e-31, say), not a variance: the fit must say so
    and point to reg_covar or scaling, not report a meaningless likelihood."""
    X = _with_constant_column(X)
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, reg_covar=0.0,
                         random_state=0)
    with pytest.raises(ValueError, match=COLLAPSE_MESSAGE):
        gm.fit(X)


def test_constant_column_without_regularisation_spherical_fits(X):
    """A spherical component's one variance also sees the other column, so it is not singular."""
    X = _with_constant_column(X)
    gm = GaussianMixture(n_components=2, covariance_type="spherical", reg_covar=0.0,
                         random_state=0).fit(X)
    _assert_finite_fit(gm, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_singleton_component_regularised(covariance_type):
    """One far-away outlier captures a component of its own; reg_covar keeps it finite."""
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(30, 2)), [[1e3, 1e3]]])
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, random_state=0).fit(X)
    _assert_finite_fit(gm, X)
    assert gm.predict(X[-1:])[0] != np.bincount(gm.predict(X[:-1])).argmax()


def _smallest_allowed_variance(gm, X):
    """reg_covar, minus the rounding error of a variance computed as E[x^2] - E[x]^2.

    Every covariance is (weighted scatter >= 0) + reg_covar. Computing the scatter by
    cancellation loses a few ulps of E[x^2] <= max(x^2); 64 ulps is a generous bound.
    """
    return gm.reg_covar - 64 * np.finfo(np.float64).eps * np.max(np.asarray(X) ** 2)


def _component_variances(gm):
    """Eigenvalues of every fitted covariance, flattened."""
    cov = np.asarray(gm.covariances_)
    if gm.covariance_type in ("full", "tied"):
        return np.linalg.eigvalsh(cov).ravel()
    return cov.ravel()


# ---------------------------------------------------------------------------------------------
# Unusual but valid input types
# ---------------------------------------------------------------------------------------------


def _fit_pair(X_reference, X_other, covariance_type="full"):
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, random_state=0)
    return clone(gm).fit(X_reference), clone(gm).fit(X_other)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_input_works_like_float(X, covariance_type):
    X_int = np.round(X * 10).astype(np.int64)
    ref, gm = _fit_pair(X_int.astype(np.float64), X_int, covariance_type)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(gm, name), getattr(ref, name), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(gm.predict(X_int), ref.predict(X_int))
    np.testing.assert_allclose(gm.score_samples(X_int), ref.score_samples(X_int), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_input_works(X, covariance_type):
    X32 = X.astype(np.float32)
    ref, gm = _fit_pair(X, X32, covariance_type)
    # float32 carries ~7 significant digits; a relative 1e-4 on the parameters leaves room for
    # accumulated rounding over a few EM iterations without hiding real errors.
    for name in ("weights_", "means_", "covariances_"):
        value = getattr(gm, name)
        assert np.all(np.isfinite(value))
        np.testing.assert_allclose(value, getattr(ref, name), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(gm.predict(X32), ref.predict(X))
    np.testing.assert_allclose(gm.score(X32), ref.score(X), rtol=1e-4)
    proba = gm.predict_proba(X32)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_float32_predict_on_float64_model_works(fitted, X):
    np.testing.assert_array_equal(fitted.predict(X.astype(np.float32)), fitted.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pandas_dataframe_input_works(X, covariance_type):
    frame = pd.DataFrame(X, columns=["height", "weight"])
    ref, gm = _fit_pair(X, frame, covariance_type)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(gm, name), getattr(ref, name), rtol=1e-12, atol=0)
    assert gm.n_features_in_ == 2
    np.testing.assert_array_equal(gm.feature_names_in_, ["height", "weight"])
    np.testing.assert_array_equal(gm.predict(frame), ref.predict(X))
    np.testing.assert_allclose(gm.predict_proba(frame), ref.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(gm.score_samples(frame), ref.score_samples(X), rtol=1e-12)
    assert gm.bic(frame) == pytest.approx(ref.bic(X), rel=1e-12)


def test_pandas_dataframe_with_wrong_columns_rejected(X):
    gm = GaussianMixture(n_components=2, random_state=0).fit(
        pd.DataFrame(X, columns=["height", "weight"])
    )
    with pytest.raises(ValueError, match=r"feature names"):
        gm.predict(pd.DataFrame(X, columns=["weight", "height"]))


def test_pandas_integer_dataframe_and_nullable_nan(X):
    frame = pd.DataFrame(np.round(X * 10).astype(np.int64), columns=["a", "b"])
    GaussianMixture(n_components=2, random_state=0).fit(frame)
    with_missing = frame.astype("Float64")
    with_missing.iloc[2, 0] = pd.NA
    with pytest.raises(ValueError, match=r"(?i)NaN"):
        GaussianMixture(n_components=2, random_state=0).fit(with_missing)


def test_list_of_lists_input_works(X):
    ref, gm = _fit_pair(X, X.tolist())
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12)


def test_fortran_ordered_and_strided_input_works(X):
    ref = GaussianMixture(n_components=2, random_state=0).fit(X)
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    for view in (np.asfortranarray(X), wide[:, ::2]):
        gm = GaussianMixture(n_components=2, random_state=0).fit(view)
        np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Nothing hangs: loops are bounded
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_bounds_the_loop_and_warns(X, covariance_type):
    gm = GaussianMixture(n_components=3, covariance_type=covariance_type, tol=0.0, max_iter=7,
                         n_init=2, init_params="random", random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"(?i)converge"):
        gm.fit(X)
    assert gm.n_iter_ == 7
    assert len(gm.lower_bounds_) == 7
    assert not gm.converged_


def test_huge_and_tiny_scales_fit_without_hanging(X):
    for factor in (1e-8, 1e8):
        gm = GaussianMixture(n_components=2, max_iter=50, random_state=0).fit(X * factor)
        _assert_finite_fit(gm, X * factor)


def test_warm_start_on_a_different_number_of_features_rejected(X):
    """Continuing a fit (warm_start=True) on data with other features cannot work; say so,
    instead of failing deep inside the E-step with a broadcasting error, and leave the
    fitted model untouched."""
    gm = GaussianMixture(n_components=2, warm_start=True, random_state=0).fit(X)
    means = gm.means_.copy()
    X3 = np.column_stack([X, X[:, 0]])
    with pytest.raises(ValueError, match=r"3 features.*expecting 2 features"):
        gm.fit(X3)
    assert gm.n_features_in_ == 2
    np.testing.assert_array_equal(gm.means_, means)
    gm.predict(X)  # still usable on the data it was fitted to


# ---------------------------------------------------------------------------------------------
# The valid counterparts: correct initial parameters of every covariance type are accepted
# ---------------------------------------------------------------------------------------------


def test_true_initial_parameters_accepted(random_data, covariance_type):
    """weights_init, means_init and precisions_init in the right shapes (the true parameters of
    ``random_data``) pass validation, and EM started there stays at the truth."""
    X = random_data.X[covariance_type]
    gm = GaussianMixture(
        n_components=random_data.n_components,
        covariance_type=covariance_type,
        weights_init=random_data.weights,
        means_init=random_data.means,
        precisions_init=random_data.precisions[covariance_type],
        random_state=0,
    ).fit(X)
    assert gm.converged_
    np.testing.assert_array_equal(gm.predict(X), random_data.Y)
    # 200 well-separated points: the means are recovered to a few standard errors
    np.testing.assert_allclose(gm.means_, random_data.means, atol=0.5)
    np.testing.assert_allclose(np.sort(gm.weights_), np.sort(random_data.weights), atol=0.05)


def test_float32_random_data_fits(make_random_data, covariance_type):
    data = make_random_data(seed=1, dtype=np.float32)
    X = data.X[covariance_type]
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, random_state=0).fit(X)
    _assert_finite_fit(gm, X)
    assert np.mean(gm.predict(X) == data.Y) in (0.0, 1.0)  # perfect up to label swap


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the case under test
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf
@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # KMeans on overflowed distances
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_too_large_to_square_reported(X, covariance_type):
    """Finite data whose squares overflow (|x| ~ 1e160) cannot give a covariance: report it with
    the hint to scale the data, never return NaN parameters or a message about infs the user's
    data does not contain."""
    gm = GaussianMixture(n_components=2, covariance_type=covariance_type, random_state=0)
    with pytest.raises(ValueError, match=COLLAPSE_MESSAGE):
        gm.fit(X * 1e160)
