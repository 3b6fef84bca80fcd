"""Self-checks for chapter 12, {ref}`ch-scaling-em` ("Scaling EM").

- :func:`check_chunk_statistics` -- the sufficient statistics of one chunk of data:
  :math:`N_k = \\sum_n \\gamma_{nk}`, :math:`S_{1,k} = \\sum_n \\gamma_{nk} x_n` and
  :math:`S_{2,k} = \\sum_n \\gamma_{nk} x_n x_n^\\top`, as plain (raw, unnormalised) sums.
- :func:`check_combine_statistics` -- adding the statistics of several chunks, and turning the
  total into the M-step's weights, means and covariances.
- :func:`check_step_size` -- the step size :math:`\\rho_t = (t + \\tau)^{-\\kappa}` of stepwise
  (mini-batch) EM.

Each check calls the reader's function on random inputs (the same on every call, drawn by
:func:`~gmmlib.checks._core.check_rng`), compares the result with
:mod:`gmmlib.em`, and either prints a short success message or raises
:class:`~gmmlib.checks.SelfCheckError` saying in plain words what looks wrong.
"""

import numpy as np

from ._core import (
    call_reader_function,
    check_close,
    check_rng,
    check_shape,
    fail,
    passed,
    random_mixture,
    sample_mixture,
)

__all__ = ["check_chunk_statistics", "check_combine_statistics", "check_step_size"]

_N_TRIALS = 3


def _same(got, expected):
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    return bool(got.shape == expected.shape and np.all(np.isfinite(got))
                and np.allclose(got, expected, rtol=1e-6, atol=1e-8))


def _three_arrays(name, result):
    """The reader's result as a tuple of three arrays, or a plain-words failure."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        what = f"a {type(result).__name__}"
        if isinstance(result, (tuple, list)):
            what += f" of length {len(result)}"
        fail(f"`{name}` should return three things, (N_k, S1, S2), but it returned {what}.")
    return result


def _reference_statistics(X, weights, means, covariances):
    from ..em import e_step

    resp = e_step(X, weights, means, covariances, "full")
    nk = resp.sum(axis=0)
    s1 = resp.T @ X
    s2 = np.einsum("nk,ni,nj->kij", resp, X, X)
    return resp, nk, s1, s2


def _random_chunk(rng):
    n_components = int(rng.integers(2, 5))
    n_features = int(rng.integers(2, 5))
    weights, means, covariances = random_mixture(rng, n_components, n_features, "full")
    X = sample_mixture(rng, weights, means, covariances, "full", int(rng.integers(30, 200)))[0]
    # The check evaluates the statistics under parameters that are NOT the true ones, as in the
    # middle of EM: perturb the means a little.
    means = means + 0.3 * rng.standard_normal(means.shape)
    return X, weights, means, covariances


def _statistics_hint(name, X, resp, nk, s1, s2, means, got):
    """Fail with a plain-words diagnosis of a wrong (N_k, S1, S2), or return if none fits."""
    got_nk, got_s1, got_s2 = got
    n = len(X)
    safe_nk = np.maximum(nk, 1e-300)
    if _same(got_nk, nk / n) and _same(got_s1, s1 / n):
        fail(f"`{name}` divides the sums by the number of points in the chunk. Return plain "
             "sums: sums of different chunks add up to the sums of the whole data set, averages "
             "of chunks of different sizes do not.")
    if _same(got_s1, s1 / safe_nk[:, None]):
        fail(f"`{name}` returns the means S1 / N_k instead of the sum S1 = sum_n gamma_nk x_n. "
             "Keep the plain sums: the division belongs to the M-step, after all chunks have "
             "been added.")
    ones = np.ones_like(resp)
    if (_same(got_nk, ones.sum(axis=0)) or _same(got_nk, ones.sum(axis=0) / resp.shape[1])
            or _same(got_s1, np.tile(X.sum(axis=0), (resp.shape[1], 1)))):
        fail(f"`{name}` does not weight the points by their responsibilities gamma_nk: every "
             "component gets the same sums. Compute the responsibilities of the chunk first (an "
             "E-step with the current parameters), then N_k = sum_n gamma_nk, "
             "S1 = sum_n gamma_nk x_n, S2 = sum_n gamma_nk x_n x_n^T.")
    if _same(got_nk, nk) and _same(got_s1, s1):
        for centre, about in ((means, "the current means mu_k"),
                              (s1 / safe_nk[:, None], "the chunk's own weighted means")):
            diff = X[None, :, :] - centre[:, None, :]  # (K, n, D)
            centred = np.einsum("nk,kni,knj->kij", resp, diff, diff)
            if _same(got_s2, centred) or _same(got_s2, centred / safe_nk[:, None, None]):
                fail(f"`{name}` centres S2 about {about}. Return the raw second moments "
                     "S2 = sum_n gamma_nk x_n x_n^T: raw sums of different chunks add up, sums "
                     "centred about each chunk's own centre do not. The M-step subtracts "
                     "mu_k mu_k^T at the end.")
        if _same(got_s2, s2 / safe_nk[:, None, None]):
            fail(f"`{name}` divides S2 by N_k. Return the plain sum S2 = "
                 "sum_n gamma_nk x_n x_n^T; the division belongs to the M-step.")
        if _same(got_s2, np.swapaxes(s2, 0, 2)) or _same(got_s2, np.einsum("nk,ni,nj->ijk",
                                                                             resp, X, X)):
            fail(f"`{name}` returns S2 with its axes in the wrong order: it should have shape "
                 "(K, D, D), one D x D matrix per component.")


def check_chunk_statistics(chunk_statistics):
    """Check ``chunk_statistics(X_chunk, weights, means, covariances) -> (N_k, S1, S2)``.

    The reader's function should compute the responsibilities :math:`\\gamma_{nk}` of the
    chunk's points under the given full-covariance mixture and return the plain sums
    :math:`N_k` (K,), :math:`S_1` (K, D) and :math:`S_2` (K, D, D). The check also verifies
    that the statistics of two halves of a chunk add up to those of the whole.
    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    chunk_statistics : callable
        The reader's function.

    Raises
    ------
    SelfCheckError
        If a result has the wrong shape or values; the message names typical mistakes (sums
        divided by the chunk size, means instead of sums, a centred S2, missing
        responsibilities).
    """
    name = getattr(chunk_statistics, "__name__", "chunk_statistics")
    rng = check_rng("check_chunk_statistics")
    for _ in range(_N_TRIALS):
        X, weights, means, covariances = _random_chunk(rng)
        K, D = means.shape
        resp, nk, s1, s2 = _reference_statistics(X, weights, means, covariances)
        got = _three_arrays(name, call_reader_function(chunk_statistics, X, weights, means,
                                                       covariances))
        got = (check_shape("N_k (the first result)", got[0], (K,)),
               check_shape("S1 (the second result)", got[1], (K, D)),
               check_shape("S2 (the third result)", got[2],
                           (K, D, D)))
        _statistics_hint(name, X, resp, nk, s1, s2, means, got)
        check_close("N_k (the first result)", got[0], nk)
        check_close("S1 (the second result)", got[1], s1)
        check_close("S2 (the third result)", got[2], s2)
        half = len(X) // 2
        parts = [_three_arrays(name, call_reader_function(chunk_statistics, part, weights, means,
                                                          covariances))
                 for part in (X[:half], X[half:])]
        for i, label in enumerate(("N_k", "S1", "S2")):
            check_close(f"{label} of the first half plus {label} of the second half",
                        np.asarray(parts[0][i], float) + np.asarray(parts[1][i], float),
                        got[i])
    passed(f"your statistics match gmmlib's E-step sums on {_N_TRIALS} random chunks, and the "
           "statistics of two halves add up to those of the whole chunk.")


def check_combine_statistics(combine_statistics, parameters_from_statistics):
    """Check ``combine_statistics(list_of_stats)`` and ``parameters_from_statistics(N_k, S1, S2)``.

    ``combine_statistics`` takes a list of ``(N_k, S1, S2)`` tuples (one per chunk) and returns
    their sum ``(N_k, S1, S2)``; ``parameters_from_statistics`` turns it into the M-step's
    ``(weights, means, covariances)`` for full covariances (no regularisation). The check
    splits random data into chunks of random sizes and compares with
    :func:`gmmlib.em.m_step` on the whole data. Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    combine_statistics, parameters_from_statistics : callable
        The reader's functions.

    Raises
    ------
    SelfCheckError
        If a result is wrong; the message names typical mistakes (averaging instead of adding,
        weights not normalised, divided by N instead of N_k, the mean outer product not
        subtracted).
    """
    from ..em import e_step, m_step

    combine_name = getattr(combine_statistics, "__name__", "combine_statistics")
    params_name = getattr(parameters_from_statistics, "__name__", "parameters_from_statistics")
    rng = check_rng("check_combine_statistics")
    for _ in range(_N_TRIALS):
        X, weights, means, covariances = _random_chunk(rng)
        K, D = means.shape
        resp = e_step(X, weights, means, covariances, "full")
        cuts = np.sort(rng.choice(np.arange(1, len(X)), size=int(rng.integers(2, 5)),
                                  replace=False))
        stats = []
        for part, r in zip(np.split(X, cuts), np.split(resp, cuts)):
            stats.append((r.sum(axis=0), r.T @ part, np.einsum("nk,ni,nj->kij", r, part, part)))
        total = tuple(sum(s[i] for s in stats) for i in range(3))

        combined = _three_arrays(combine_name, call_reader_function(combine_statistics, stats))
        combined = (check_shape("the combined N_k", combined[0], (K,)),
                    check_shape("the combined S1", combined[1], (K, D)),
                    check_shape("the combined S2", combined[2],
                                (K, D, D)))
        if all(_same(c, t / len(stats)) for c, t in zip(combined, total)):
            fail(f"`{combine_name}` averages the chunks' statistics. Add them instead: the "
                 "statistics are sums over points, and the sum over all points is the sum of "
                 "the chunks' sums.")
        if _same(combined[0], stats[-1][0]) or _same(combined[0], stats[0][0]):
            fail(f"`{combine_name}` returns the statistics of one chunk only; add up all of them.")
        for label, c, t in zip(("N_k", "S1", "S2"), combined, total):
            check_close(f"the combined {label}", c, t)

        expected = m_step(X, resp, "full")
        nk, s1, s2 = total
        got = _three_arrays(params_name, call_reader_function(parameters_from_statistics,
                                                              nk, s1, s2))
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            fail(f"`{params_name}` should return (weights, means, covariances).")
        got_w = check_shape("the weights", got[0], (K,))
        got_m = check_shape("the means", got[1], (K, D))
        got_c = check_shape("the covariances", got[2], (K, D, D))
        if _same(got_w, nk):
            fail(f"`{params_name}` returns N_k as the weights: divide by N = sum_k N_k so that "
                 "the weights sum to 1.")
        check_close("the weights", got_w, expected[0])
        if _same(got_m, s1 / nk.sum()):
            fail(f"`{params_name}` divides S1 by the total N; each mean is S1_k / N_k.")
        check_close("the means", got_m, expected[1])
        raw = s2 / nk[:, None, None]
        if _same(got_c, raw):
            fail(f"`{params_name}` returns S2_k / N_k, the raw second moment. Subtract "
                 "mu_k mu_k^T: Sigma_k = S2_k / N_k - mu_k mu_k^T.")
        if _same(got_c, s2 / nk.sum() - np.einsum("ki,kj->kij", expected[1], expected[1])):
            fail(f"`{params_name}` divides S2 by the total N; use N_k: "
                 "Sigma_k = S2_k / N_k - mu_k mu_k^T.")
        check_close("the covariances", got_c, expected[2], rtol=1e-6, atol=1e-8)
    passed(f"adding the statistics of random chunks and turning them into parameters gives "
           f"gmmlib's M-step on the whole data, on {_N_TRIALS} random data sets.")


def check_step_size(step_size):
    """Check ``step_size(t, offset, decay)``, the stepwise-EM step :math:`(t + \\tau)^{-\\kappa}`.

    Introduced in {ref}`ch-scaling-em`.

    Parameters
    ----------
    step_size : callable
        The reader's function; ``t`` is the number of the update (0, 1, 2, ...), ``offset`` is
        :math:`\\tau \\ge 0` and ``decay`` is :math:`\\kappa \\in (0.5, 1]`.

    Raises
    ------
    SelfCheckError
        If a value is wrong; the message names typical mistakes (the sign of the exponent, the
        offset left out, the offset multiplied instead of added).
    """
    name = getattr(step_size, "__name__", "step_size")
    rng = check_rng("check_step_size")
    for _ in range(5):
        t = int(rng.integers(1, 500))
        offset = float(rng.uniform(1.0, 20.0))
        decay = float(rng.uniform(0.55, 1.0))
        value = call_reader_function(step_size, t, offset, decay)
        if np.ndim(value) != 0:
            fail(f"`{name}` should return a single number, but it returned an array of shape "
                 f"{np.shape(value)}.")
        value = float(value)
        expected = (t + offset) ** (-decay)
        if np.isclose(value, expected, rtol=1e-10):
            continue
        if np.isclose(value, (t + offset) ** decay, rtol=1e-10):
            fail(f"`{name}({t}, {offset:.3g}, {decay:.3g})` returned {value:.6g}, larger than 1: "
                 "the exponent needs a minus sign, rho_t = (t + offset) ** (-decay), so that the "
                 "steps shrink as t grows.")
        if t > 0 and np.isclose(value, float(t) ** (-decay), rtol=1e-10):
            fail(f"`{name}` ignores the offset: rho_t = (t + offset) ** (-decay). Without it the "
                 "first steps are (almost) 1, and the first mini-batches overwrite everything.")
        if np.isclose(value, (t * offset) ** (-decay) if t > 0 else np.inf, rtol=1e-10):
            fail(f"`{name}` multiplies t by the offset; add them: (t + offset) ** (-decay).")
        if np.isclose(value, 1.0 / (t + offset) * decay, rtol=1e-10):
            fail(f"`{name}` multiplies by the decay; it is an exponent: "
                 "(t + offset) ** (-decay).")
        fail(f"`{name}({t}, {offset:.6g}, {decay:.6g})` returned {value:.6g} but should be "
             f"{expected:.6g} = (t + offset) ** (-decay).")
    values = [float(call_reader_function(step_size, t, 10.0, 0.6)) for t in range(50)]
    if not np.all(np.diff(values) < 0):
        fail(f"`{name}` should decrease as t grows.")
    passed("your step sizes match (t + offset) ** (-decay) on random inputs and shrink with t.")
