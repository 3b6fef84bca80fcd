"""The self-check framework: what every ``check_*`` function of :mod:`gmmlib.checks` is built on.

A check calls the reader's function on random inputs, compares the result with a reference
computed by :mod:`gmmlib` or SciPy, and then either prints a short success message with
:func:`passed` or raises :class:`SelfCheckError` with :func:`fail`, saying in plain words what is
wrong. Two rules hold for every check:

- its inputs come from :func:`check_rng`, a generator seeded by the check's name, so a check
  gives the same verdict every time it is called: a right answer never fails by bad luck and a
  wrong one never slips through by luck;
- it is wrapped by :func:`self_check`, so whatever goes wrong inside it reaches the reader as a
  :class:`SelfCheckError` in plain words, never as a bare ``RuntimeError`` or ``LinAlgError``.

The helpers below do the common parts:

- :func:`call_reader_function` -- call the reader's function, turning its errors into advice.
- :func:`check_shape`, :func:`check_close`, :func:`check_probabilities` -- compare a result with
  the reference and explain the difference in words.
- :func:`random_mixture`, :func:`sample_mixture` -- well-conditioned random inputs.

A typical check, in a chapter's module (``gmmlib/checks/<chapter>.py``)::

    @self_check
    def check_log_pdf(log_pdf):
        rng = check_rng("check_log_pdf")
        n_samples, n_features = rng.integers(5, 40), rng.integers(1, 5)
        weights, means, covariances = random_mixture(rng, 1, n_features, "full")
        X = sample_mixture(rng, weights, means, covariances, "full", n_samples)[0]
        got = call_reader_function(log_pdf, X, means[0], covariances[0])
        expected = scipy.stats.multivariate_normal(means[0], covariances[0]).logpdf(X)
        check_close("log_pdf(X, mean, covariance)", got, expected)
        passed("your log-density agrees with SciPy's on fresh random data.")
"""

from __future__ import annotations

import functools
import inspect
import zlib

import numpy as np

__all__ = [
    "SelfCheckError",
    "self_check",
    "check_rng",
    "passed",
    "fail",
    "call_reader_function",
    "check_shape",
    "check_close",
    "check_probabilities",
    "matches",
    "as_number",
    "random_mixture",
    "sample_mixture",
]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class SelfCheckError(AssertionError):
    """Raised by a self-check when the reader's answer is not right yet.

    The message says, in plain words, what is wrong and, where it can tell, the likely cause.
    It subclasses :class:`AssertionError`, so a failing check reads like a failed test.

    Examples
    --------
    >>> from gmmlib.checks import SelfCheckError
    >>> issubclass(SelfCheckError, AssertionError)
    True
    """


def check_rng(check_name):
    """The random generator a self-check draws its inputs from, seeded by the check's name.

    Every call of a check then sees the same inputs: its verdict on a function never changes
    from one run to the next (no flaky checks, and a failure can be reproduced), while two checks
    draw different inputs.

    Parameters
    ----------
    check_name : str
        The check's name, e.g. ``"check_log_pdf"``.

    Returns
    -------
    numpy.random.Generator
        A fresh generator with a seed derived from ``check_name`` (its CRC-32).

    Examples
    --------
    >>> from gmmlib.checks._core import check_rng
    >>> float(check_rng("check_e_step").random()) == float(check_rng("check_e_step").random())
    True
    >>> float(check_rng("check_e_step").random()) == float(check_rng("check_m_step").random())
    False
    """
    return np.random.default_rng(zlib.crc32(str(check_name).encode("utf-8")))


def self_check(check):
    """Make a ``check_*`` function report every problem as a :class:`SelfCheckError`.

    A self-check should only ever tell the reader, in words, what is wrong. The wrapped check

    - reports a call with the wrong arguments (``check_e_step()``, ``check_e_step(f, g, h)``)
      as a :class:`SelfCheckError` saying how to call it;
    - lets its own :class:`SelfCheckError` through unchanged;
    - turns any other exception (a ``LinAlgError`` on a result it could not use, a
      ``RuntimeError``, a bug in the check) into a :class:`SelfCheckError` that names the
      exception and keeps it as the cause.

    :mod:`gmmlib.checks` applies it to every check it exports; applying it twice changes nothing.

    Parameters
    ----------
    check : callable
        A self-check, ``check_*(reader_function, ...)``.

    Returns
    -------
    callable
        The wrapped check, with the same name, docstring and signature.

    Examples
    --------
    >>> from gmmlib.checks._core import self_check
    >>> @self_check
    ... def check_answer(answer):
    ...     if answer() != 42:
    ...         raise RuntimeError("no answer")
    >>> check_answer(lambda: 41)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gmmlib.checks._core.SelfCheckError: `check_answer` could not finish checking your answer: RuntimeError (no answer). ...
    """
    if getattr(check, "_is_self_check", False):
        return check
    name = check.__name__
    signature = inspect.signature(check)

    @functools.wraps(check)
    def run(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise SelfCheckError(
                f"`{name}{signature}` was called the wrong way ({exc}). Pass your function "
                f"itself, without calling it: `{name}(my_function)`, not `{name}(my_function())`."
            ) from None
        try:
            return check(*args, **kwargs)
        except SelfCheckError:
            raise
        except Exception as exc:  # noqa: BLE001 - a check reports in words, whatever happened
            detail = str(exc).strip()
            what = type(exc).__name__ + (f" ({detail})" if detail else "")
            raise SelfCheckError(
                f"`{name}` could not finish checking your answer: {what}. This usually means "
                "your function returned something the check cannot use (for example a "
                "covariance that is not positive definite, or values of the wrong type); call "
                "it yourself on a small example and look at what it returns. If it looks right, "
                "the check itself may be at fault: please report it."
            ) from exc

    run._is_self_check = True
    return run


def passed(message):
    """Print the success message of a check: ``"Correct! "`` followed by ``message``.

    Parameters
    ----------
    message : str
        What was checked, e.g. ``"your E-step matches gmmlib's on 3 random mixtures."``.

    Examples
    --------
    >>> from gmmlib.checks._core import passed
    >>> passed("the responsibilities match.")
    Correct! the responsibilities match.
    """
    print("Correct! " + message)


def fail(message):
    """Stop a check with a :class:`SelfCheckError` carrying ``message``.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.

    Raises
    ------
    SelfCheckError
        Always.

    Examples
    --------
    >>> from gmmlib.checks._core import fail
    >>> fail("the weights do not sum to 1.")
    Traceback (most recent call last):
    ...
    gmmlib.checks._core.SelfCheckError: the weights do not sum to 1.
    """
    raise SelfCheckError(message)


def _function_name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _copy_argument(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def call_reader_function(func, *args):
    """Call the reader's function and turn what can go wrong into a plain-words :class:`SelfCheckError`.

    NumPy arrays among ``args`` are copied first, so a function that modifies its inputs in place
    cannot spoil the reference computed from them afterwards.

    Parameters
    ----------
    func : callable
        The reader's function.
    *args
        Its arguments.

    Returns
    -------
    object
        Whatever ``func`` returned.

    Raises
    ------
    SelfCheckError
        If ``func`` raises :class:`NotImplementedError` (the template was not filled in yet), raises
        any other exception (named in the message; the original is chained as its cause), or
        returns ``None`` (a forgotten ``return``).

    Examples
    --------
    >>> from gmmlib.checks._core import call_reader_function
    >>> def e_step(X):
    ...     raise NotImplementedError
    >>> call_reader_function(e_step, [1.0, 2.0])
    Traceback (most recent call last):
    ...
    gmmlib.checks._core.SelfCheckError: `e_step` is not implemented yet: replace `raise NotImplementedError` with your code.
    >>> call_reader_function(lambda x: x + 1, 41)
    42
    """
    name = _function_name(func)
    if not callable(func):
        fail(
            f"the check expects a function, but got {type(func).__name__} {func!r}. Pass the "
            "function itself, without calling it: `check(my_function)`, not `check(my_function())`."
        )
    try:
        result = func(*(_copy_argument(arg) for arg in args))
    except NotImplementedError as exc:
        raise SelfCheckError(
            f"`{name}` is not implemented yet: replace `raise NotImplementedError` with your code."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any error of the reader's code becomes advice
        detail = str(exc).strip()
        what = type(exc).__name__ + (f" ({detail})" if detail else "")
        raise SelfCheckError(
            f"`{name}` stopped with an error when the check called it: {what}. Call it yourself "
            "on a small example to see which line fails; the full error is shown above."
        ) from exc
    if result is None:
        fail(f"`{name}` returned None: did you forget the `return` statement?")
    return result


def _describe_shape(shape):
    return "a single number" if shape == () else f"shape {shape}"


def check_shape(name, array, expected_shape):
    """Check that ``array`` has ``expected_shape``; say how it differs if it does not.

    Parameters
    ----------
    name : str
        How the message refers to the array, e.g. ``"the responsibilities"``.
    array : array-like
        The reader's result.
    expected_shape : tuple of int
        The shape it should have.

    Returns
    -------
    ndarray
        ``array`` as a float array (``numpy.asarray(array, dtype=float)``), for further checks.

    Raises
    ------
    SelfCheckError
        If ``array`` is ``None``, cannot be converted to a numeric array, or has another shape
        (the message points out transposed results, missing or extra axes).

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks._core import check_shape
    >>> check_shape("the responsibilities", np.ones((4, 3)), (4, 3)).shape
    (4, 3)
    >>> check_shape("the responsibilities", np.ones((3, 4)), (4, 3))
    Traceback (most recent call last):
    ...
    gmmlib.checks._core.SelfCheckError: the responsibilities should have shape (4, 3) but has shape (3, 4): it looks transposed (rows and columns swapped).
    """
    expected_shape = tuple(int(s) for s in expected_shape)
    if array is None:
        fail(f"{name} is None: did you forget a `return` statement?")
    try:
        arr = np.asarray(array, dtype=float)
    except (TypeError, ValueError):
        fail(
            f"{name} should be a numeric array of {_describe_shape(expected_shape)}, but it "
            f"cannot be turned into one (it is a {type(array).__name__})."
        )
    if arr.shape == expected_shape:
        return arr
    message = (
        f"{name} should have {_describe_shape(expected_shape)} but has {_describe_shape(arr.shape)}"
    )
    if arr.ndim == len(expected_shape) >= 2 and arr.shape == expected_shape[::-1]:
        message += ": it looks transposed (rows and columns swapped)."
    elif arr.size == int(np.prod(expected_shape)) and arr.ndim != len(expected_shape):
        message += (
            ": the numbers are all there but arranged differently (reshape, or check that a sum "
            "or a product keeps the right axes, e.g. `keepdims=True`)."
        )
    elif arr.ndim < len(expected_shape):
        message += (
            ": an axis is missing (did a sum, mean or max run over an axis it should not, or "
            "over all of them?)."
        )
    elif arr.ndim > len(expected_shape):
        message += (
            ": it has an extra axis (a sum or mean over an axis may be missing, or broadcasting "
            "made a larger array than intended)."
        )
    else:
        message += "."
    fail(message)


def _format(value):
    return np.format_float_positional(value, precision=6, unique=True, fractional=False, trim="-") \
        if abs(value) >= 1e-4 and abs(value) < 1e6 else f"{value:.6g}"


def _hint(got, expected, rtol, atol):
    """A plain-words guess at what went wrong, or ''."""

    def close(a, b):
        with np.errstate(all="ignore"):
            return bool(np.all(np.isfinite(a)) and np.allclose(a, b, rtol=max(rtol, 1e-6), atol=atol))

    with np.errstate(all="ignore"):
        if close(-got, expected):
            return " The sign is flipped: check for a missing or extra minus sign."
        if np.all(expected >= 0) and close(got, expected**2):
            return " Your values look squared: is a square root missing?"
        if np.all(got >= 0) and close(got**2, expected):
            return " Your values look like square roots of the right ones: is there a square root too many?"
        if close(np.exp(got), expected):
            return " Your values look like the logarithm of the right ones: is an `exp` missing?"
        if np.all(got > 0) and close(np.log(got), expected):
            return " Your values look like the exponential of the right ones: did you forget to take the log?"
        nonzero = np.abs(expected) > atol
        if nonzero.any():
            ratios = got[nonzero] / expected[nonzero]
            ratio = float(np.median(ratios))
            if np.isfinite(ratio) and ratio != 0 and close(got, ratio * expected):
                return (
                    f" Your values are the right ones times {ratio:.4g}: a constant factor is off "
                    "(for example dividing by N - 1 instead of N, a missing 1/2, or a missing "
                    "normalising constant)."
                )
            offset = float(np.median(got - expected))
            if close(got, expected + offset):
                return (
                    f" Your values are the right ones plus {offset:.4g}: a constant term is off "
                    "(for example a missing -D/2 log(2 pi) or log-determinant term)."
                )
    return ""


def check_close(name, got, expected, rtol=1e-6, atol=1e-8):
    """Check that ``got`` matches the reference ``expected``; explain any difference in words.

    The shapes are checked first (see :func:`check_shape`), then NaN and infinite values, then
    the values with :func:`numpy.allclose`. The failure message shows the worst entry and, when
    it recognises one, the likely mistake: a flipped sign, a missing or extra square root, a
    missing ``exp`` or ``log``, a constant factor (``N - 1`` instead of ``N``, a missing 1/2) or
    a constant offset.

    Parameters
    ----------
    name : str
        How the message refers to the result, e.g. ``"the log-likelihood"``.
    got : array-like or float
        The reader's result.
    expected : array-like or float
        The reference; its shape is the expected shape.
    rtol, atol : float, default=1e-6, 1e-8
        Relative and absolute tolerances, as in :func:`numpy.allclose`.

    Returns
    -------
    None

    Raises
    ------
    SelfCheckError
        If the shapes differ, ``got`` has NaN/inf where ``expected`` does not, or the values differ.

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks._core import check_close
    >>> check_close("the standard deviations", np.array([2.0, 3.0]), np.array([2.0, 3.0]))
    >>> check_close("the standard deviations", np.array([4.0, 9.0]), np.array([2.0, 3.0]))
    Traceback (most recent call last):
    ...
    gmmlib.checks._core.SelfCheckError: the standard deviations are not right: entry [1] is 9 but should be 3 (2 of 2 entries differ). Your values look squared: is a square root missing?
    """
    expected = np.asarray(expected, dtype=float)
    got = check_shape(name, got, expected.shape)
    bad_got, bad_expected = ~np.isfinite(got), ~np.isfinite(expected)
    if np.any(bad_got & ~bad_expected):
        kind = "NaN" if np.isnan(got[bad_got & ~bad_expected]).any() else "infinite"
        fail(
            f"{name} contains {kind} values. Look for a division by zero, the log of 0 or of a "
            "negative number, or exp of a large number (the log-sum-exp trick avoids overflow)."
        )
    same = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if np.all(same):
        return
    with np.errstate(all="ignore"):
        error = np.where(same, 0.0, np.abs(got - expected))
    worst = np.unravel_index(int(np.argmax(error)), expected.shape) if expected.ndim else ()
    worst = tuple(int(i) for i in worst)
    where = f"entry {list(worst)} is" if expected.ndim else "it is"
    n_wrong = int((~same).sum())
    count = f" ({n_wrong} of {same.size} entries differ)" if expected.ndim else ""
    fail(
        f"{name} {'are' if expected.ndim else 'is'} not right: {where} {_format(float(got[worst]))} "
        f"but should be {_format(float(expected[worst]))}{count}."
        + _hint(got[np.isfinite(expected)], expected[np.isfinite(expected)], rtol, atol)
    )


def matches(got, expected, rtol=1e-6, atol=1e-8):
    """True if ``got`` has ``expected``'s shape, is finite, and equals it within tolerance.

    The quiet counterpart of :func:`check_close`: checks use it to recognise a typical wrong
    answer (``matches(got, sums)`` instead of means, say) before they explain it.

    Examples
    --------
    >>> import numpy as np
    >>> matches(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))
    True
    >>> matches(np.array([1.0, 2.0]), np.array([[1.0, 2.0]]))
    False
    """
    got = np.asarray(got, dtype=float)
    if got.shape != np.shape(expected):
        return False
    with np.errstate(all="ignore"):
        return bool(np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=rtol, atol=atol))


def as_number(name, value, hint=""):
    """The reader's result as a finite Python float, or a plain-words failure.

    Parameters
    ----------
    name : str
        How to call the reader's function in a message, e.g. ``"bic(...)"``.
    value : object
        What the reader's function returned.
    hint : str, default=""
        Added to the message when an array comes back instead of a number.

    Examples
    --------
    >>> as_number("bic(...)", 3)
    3.0
    """
    if np.ndim(value) != 0:
        fail(f"`{name}` should return a single number, but it returned an array of shape "
             f"{np.shape(value)}.{' ' + hint if hint else ''}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        fail(f"`{name}` should return a number, but it returned a {type(value).__name__}.")
    if not np.isfinite(number):
        fail(f"`{name}` returned {number}; it should be a finite number.")
    return number


def check_probabilities(name, array, axis=-1, atol=1e-6):
    """Check that ``array`` holds probabilities: no negative values, and sums of 1 along ``axis``.

    Use it for weights :math:`\\pi` (one axis) or responsibilities :math:`\\gamma_{nk}` (rows sum
    to 1). Check the shape first with :func:`check_shape`.

    Parameters
    ----------
    name : str
        How the message refers to the array, e.g. ``"the responsibilities"``.
    array : array-like
        The reader's result.
    axis : int, default=-1
        Axis along which the values must sum to 1.
    atol : float, default=1e-6
        Tolerance on the sums and on negative values.

    Raises
    ------
    SelfCheckError
        On NaN values, negative values, or sums that are not 1 (the message tells sums along the
        wrong axis and log-probabilities apart).

    Examples
    --------
    >>> import numpy as np
    >>> from gmmlib.checks._core import check_probabilities
    >>> check_probabilities("the responsibilities", np.array([[0.2, 0.8], [0.5, 0.5]]))
    >>> check_probabilities("the responsibilities", np.array([[0.2, 0.2], [0.5, 0.5]]))
    Traceback (most recent call last):
    ...
    gmmlib.checks._core.SelfCheckError: the responsibilities should sum to 1 along axis -1, but one sum is 0.4. Did you forget to normalise (divide by the sum over components)?
    """
    arr = np.asarray(array, dtype=float)
    if np.isnan(arr).any():
        fail(f"{name} contain NaN values. Look for 0 / 0, e.g. normalising a row of zeros.")
    if (arr < -atol).any():
        hint = ""
        if (arr <= 0).all():
            hint = " They look like log-probabilities: is an `exp` missing?"
        fail(f"{name} contain negative values, e.g. {_format(float(arr.min()))}; probabilities "
             f"cannot be negative.{hint}")
    sums = arr.sum(axis=axis)
    wrong = np.abs(sums - 1) > atol
    if wrong.any():
        message = (
            f"{name} should sum to 1 along axis {axis}, but one sum is "
            f"{_format(float(np.ravel(sums)[np.argmax(np.ravel(wrong))]))}."
        )
        other_axes = [a for a in range(arr.ndim) if a != axis % max(arr.ndim, 1)]
        if arr.ndim == 2 and other_axes and np.allclose(arr.sum(axis=other_axes[0]), 1, atol=atol):
            message += " They sum to 1 along the other axis: normalise over the other axis."
        else:
            message += " Did you forget to normalise (divide by the sum over components)?"
        fail(message)


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _random_spd(rng, n_features):
    """A random covariance matrix with eigenvalues in [0.5, 2] (condition number <= 4)."""
    q, r = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    q = q * np.sign(np.diag(r))
    eigvals = rng.uniform(0.5, 2.0, size=n_features)
    cov = (q * eigvals) @ q.T
    return (cov + cov.T) / 2


def random_mixture(rng, n_components, n_features, covariance_type="full"):
    """Random, well-conditioned parameters of a Gaussian mixture, as fresh inputs for a check.

    Weights are drawn from a Dirichlet(5, ..., 5) distribution and floored at ``0.2 / K``
    (then renormalised); means are standard normal times 3; variances (eigenvalues of each
    covariance matrix) lie between 0.5 and 2, so every covariance is well conditioned
    (condition number at most 4) and the components overlap moderately.

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Random generator (or a seed for :func:`numpy.random.default_rng`).
    n_components : int
        Number of components :math:`K`.
    n_features : int
        Dimension :math:`D`.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of the covariances, in scikit-learn's shapes.

    Returns
    -------
    weights : ndarray of shape (K,)
        Mixing weights :math:`\\pi_k`, positive, summing to 1.
    means : ndarray of shape (K, D)
        Component means :math:`\\mu_k`.
    covariances : ndarray
        Shape (K, D, D) for ``"full"``, (D, D) for ``"tied"``, (K, D) for ``"diag"``, (K,) for
        ``"spherical"``.

    Examples
    --------
    >>> from gmmlib.checks._core import random_mixture
    >>> weights, means, covariances = random_mixture(0, 3, 2, "diag")
    >>> weights.shape, means.shape, covariances.shape
    ((3,), (3, 2), (3, 2))
    >>> bool(abs(weights.sum() - 1) < 1e-12)
    True
    """
    rng = _rng(rng)
    n_components, n_features = int(n_components), int(n_features)
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}; got {covariance_type!r}."
        )
    weights = rng.dirichlet(np.full(n_components, 5.0))
    weights = np.maximum(weights, 0.2 / n_components)
    weights /= weights.sum()
    means = 3.0 * rng.standard_normal((n_components, n_features))
    if covariance_type == "full":
        covariances = np.stack([_random_spd(rng, n_features) for _ in range(n_components)])
    elif covariance_type == "tied":
        covariances = _random_spd(rng, n_features)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.5, 2.0, size=(n_components, n_features))
    else:
        covariances = rng.uniform(0.5, 2.0, size=n_components)
    return weights, means, covariances


def sample_mixture(rng, weights, means, covariances, covariance_type="full", n_samples=100):
    """Draw data from a Gaussian mixture, e.g. one made by :func:`random_mixture`.

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Random generator (or a seed).
    weights : array-like of shape (K,)
        Mixing weights :math:`\\pi_k`.
    means : array-like of shape (K, D)
        Component means :math:`\\mu_k`.
    covariances : array-like
        Covariances in scikit-learn's shape for ``covariance_type``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Form of ``covariances``.
    n_samples : int, default=100
        Number of points :math:`N`.

    Returns
    -------
    X : ndarray of shape (n_samples, D)
        The points :math:`x_n`.
    z : ndarray of shape (n_samples,)
        The component :math:`z_n` each point was drawn from.

    Examples
    --------
    >>> from gmmlib.checks._core import random_mixture, sample_mixture
    >>> params = random_mixture(0, 2, 3, "tied")
    >>> X, z = sample_mixture(1, *params, covariance_type="tied", n_samples=50)
    >>> X.shape, z.shape
    ((50, 3), (50,))
    """
    rng = _rng(rng)
    weights = np.asarray(weights, dtype=float)
    means = np.asarray(means, dtype=float)
    covariances = np.asarray(covariances, dtype=float)
    K, D = means.shape
    z = rng.choice(K, size=int(n_samples), p=weights / weights.sum())
    noise = rng.standard_normal((int(n_samples), D))
    X = np.empty_like(noise)
    for k in range(K):
        rows = z == k
        if covariance_type == "full":
            factor = np.linalg.cholesky(covariances[k])
        elif covariance_type == "tied":
            factor = np.linalg.cholesky(covariances)
        elif covariance_type == "diag":
            factor = np.diag(np.sqrt(covariances[k]))
        elif covariance_type == "spherical":
            factor = np.sqrt(covariances[k]) * np.eye(D)
        else:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}; got {covariance_type!r}."
            )
        X[rows] = means[k] + noise[rows] @ factor.T
    return X, z
