"""Checking what users give gmmlib's estimators: constructor parameters, initial values, weights.

Every message says what is wrong in plain words and what was received.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array

from . import engine as eng


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has the wrong type or value.

    Both a ``ValueError`` and a ``TypeError``, so either ``except`` clause catches it.
    """


###############################################################################
# Constructor parameters: one rule per parameter


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def whole_number(low=None):
    """Rule: an integer (not a bool), at least ``low``."""
    def rule(owner, name, value):
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral)
                or (low is not None and value < low)):
            bound = "" if low is None else f" of at least {low}"
            raise InvalidParameterError(
                f"{owner}'s '{name}' must be a whole number{bound}; it is {value!r}.")
    return rule


def number(low=None, high=None, low_inclusive=True):
    """Rule: a real number (not a bool, not NaN) in the given range."""
    def rule(owner, name, value):
        ok = _is_number(value) and not math.isnan(value)
        if ok and low is not None:
            ok = value >= low if low_inclusive else value > low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            parts = []
            if low is not None:
                parts.append(f"{'at least' if low_inclusive else 'greater than'} {low}")
            if high is not None:
                parts.append(f"at most {high}")
            bound = f" ({' and '.join(parts)})" if parts else ""
            raise InvalidParameterError(f"{owner}'s '{name}' must be a number{bound}; it is {value!r}.")
    return rule


def flag(owner, name, value):
    """Rule: True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{owner}'s '{name}' must be True or False; it is {value!r}.")


def one_of(*options):
    """Rule: one of the given strings."""
    def rule(owner, name, value):
        if not isinstance(value, str) or value not in options:
            raise InvalidParameterError(
                f"{owner}'s '{name}' must be one of {list(options)}; it is {value!r}.")
    return rule


def seed(owner, name, value):
    """Rule: None, an integer or a numpy RandomState."""
    if not (value is None or isinstance(value, np.random.RandomState)
            or (isinstance(value, Integral) and not isinstance(value, (bool, np.bool_)))):
        raise InvalidParameterError(
            f"{owner}'s '{name}' must be None, a whole number or a numpy RandomState; "
            f"it is {value!r}.")


def jobs(owner, name, value):
    """Rule: None or a non-zero integer (scikit-learn's ``n_jobs``)."""
    if value is not None:
        whole_number()(owner, name, value)
        if value == 0:
            raise InvalidParameterError(
                f"{owner}'s '{name}' must be None, a positive number of threads, or -1 for "
                "all CPUs; it is 0.")


###############################################################################
# Initial values given by the user


def _as_float_array(value, name, **kwargs):
    return check_array(value, dtype=[np.float64, np.float32], ensure_2d=False,
                       input_name=name, **kwargs)


def _require_shape(array, shape, name):
    if array.shape != shape:
        raise ValueError(f"'{name}' must have shape {shape}, one entry per component and "
                         f"feature as needed; it has shape {array.shape}.")


def checked_weights_init(weights, n_components):
    weights = _as_float_array(weights, "weights_init")
    _require_shape(weights, (n_components,), "weights_init")
    if np.any(weights < 0) or np.any(weights > 1):
        raise ValueError("'weights_init' must be probabilities in the range [0, 1]; got values "
                         f"from {weights.min():.5g} to {weights.max():.5g}.")
    tolerance = 1e-6 if weights.dtype == np.float32 else 1e-8
    if abs(float(np.sum(weights)) - 1.0) > tolerance:
        raise ValueError(f"'weights_init' must sum to 1 (normalised); they sum to "
                         f"{float(np.sum(weights)):.6g}.")
    return weights


def checked_means_init(means, n_components, n_features):
    means = _as_float_array(means, "means_init")
    _require_shape(means, (n_components, n_features), "means_init")
    return means


def checked_precisions_init(precisions, covariance_type, n_components, n_features):
    precisions = _as_float_array(precisions, "precisions_init",
                                 allow_nd=covariance_type == "full")
    name = f"precisions_init ({covariance_type} precision)"
    _require_shape(precisions, eng.covariance_shape(covariance_type, n_components, n_features),
                   name)
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0):
            raise ValueError(f"Every entry of {name} must be positive (a precision is one over "
                             "a variance).")
        return precisions
    for matrix in np.reshape(precisions, (-1, n_features, n_features)):
        if not np.allclose(matrix, matrix.T):
            raise ValueError(f"Each matrix of {name} must be symmetric.")
        if np.any(np.linalg.eigvalsh(matrix) <= 0):
            raise ValueError(f"Each matrix of {name} must be positive definite (all "
                             "eigenvalues positive).")
    return precisions
