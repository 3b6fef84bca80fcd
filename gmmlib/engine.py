"""The EM engine: the arithmetic behind every fit, prediction and score in gmmlib.

Everything EM needs from the data is a handful of sums over the samples, the *sufficient
statistics* of {ref}`ch-scaling-em`: for each component the responsibility-weighted count,
first moment and second moment, plus the log-likelihood. This module computes them in one pass
over the rows, chunk by chunk, and turns them into new parameters. The estimators
(:class:`gmmlib.GaussianMixture`, :class:`gmmlib.MiniBatchGaussianMixture`,
:class:`gmmlib.BayesianGaussianMixture`) only decide *what* to do with the numbers; the
teaching functions of :mod:`gmmlib.em` compute the same numbers the plain way, for reading.

Pieces, in the order data meet them:

- **Data sources** (:class:`Rows` for an array in memory or a memory map, :class:`ChunkStream`
  for chunks that never sit in memory together, and the Dask source of :mod:`gmmlib.scaling`)
  hand out chunks of rows and add up what is computed on them.
- **Scoring plans** (:class:`ScoringPlan`): the current parameters rearranged so that one
  matrix product with a chunk gives every component's log-density at every row of the chunk.
- **The chunk kernel** (:func:`chunk_statistics`, :func:`chunk_rows`): E-step of one chunk and,
  while its responsibilities are still in cache, its contribution to the M-step sums.
- **Statistics** (:class:`Statistics`), which add up across chunks, and **moments**
  (:meth:`Engine.moments`): counts, means and covariances from the statistics.
- **The engine** (:class:`Engine`): holds the worker threads for the duration of a fit and
  runs the passes.

Numerics, and why:

1. Sums are taken about one centre ``c`` (the data's mean), so the second moments stay small.
   A component whose spread is tiny next to its distance from ``c`` would still lose digits
   when ``E[x x^T] - mu mu^T`` is formed; :meth:`Engine.moments` detects that and recomputes
   just those components about their own means, in a second pass.
2. A variance smaller than the rounding error of the coordinates it came from (a few units in
   the last place of the mean) is not a variance: it is set to zero, so that a collapsed
   component or a constant column is reported (or regularised by ``reg_covar``) instead of
   producing a precision of 1e30.
3. Shifted log-probabilities are clamped at ``-700`` before ``exp``: ``exp`` of anything smaller
   would be a subnormal float, and subnormals make every later product many times slower. The
   clamp changes responsibilities only below 1e-300.
4. Each chunk's temporaries are laid out as (components, rows), so reductions run over
   contiguous memory, and live in buffers reused from chunk to chunk.
"""

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from scipy import linalg

__all__ = [
    "COVARIANCE_TYPES",
    "ChunkStream",
    "CollapseError",
    "Engine",
    "GivenResponsibilities",
    "Moments",
    "Rows",
    "ScoringPlan",
    "Statistics",
    "Workspace",
    "chunk_rows",
    "chunk_rows_output",
    "checked_sample_weight",
    "chunk_statistics",
    "covariance_shape",
    "covariances_from_factors",
    "effective_threads",
    "factors_from_precisions",
    "log_det_factors",
    "moments_from_statistics",
    "n_parameters",
    "one_blas_thread",
    "one_openmp_thread",
    "precision_factors",
    "precisions_from_factors",
]

#: The four covariance structures, in the order the book introduces them.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# exp(-700) ~ 1e-304 is still a normal float; exp of anything below it would not be.
_LOG_FLOOR = -700.0
# scikit-learn adds this to every component's count so an empty component divides by a tiny
# number instead of zero; we keep the same guard so that results agree.
_EMPTY_GUARD = 10 * np.finfo(np.float64).eps
# Below this ratio of variance to second moment (about the centre) the fast formula keeps
# fewer than ~12 of the 16 significant digits, and the component is recomputed exactly.
_CANCELLATION_RATIO = 1e-3
# A standard deviation below this many units in the last place of the mean is what rounding of
# the mean and of the differences alone can produce: it is taken to be zero. (A component on a
# single point keeps the tiny spread that the guard on N_k gives its mean, about 10 units.)
_ROUNDING_ULPS = 4.0
# Tied covariances score all components with one precision matrix; the quick linear form is
# accurate while the data's whitened spread (mean squared Mahalanobis length about the centre)
# stays below this; beyond it, the per-component Cholesky form is used.
_TIED_LINEAR_LIMIT = 1e5
# From this many features on, the full-covariance E-step product (K D rows by D + 1) is wide
# enough that BLAS threads pay for themselves when we run no threads of our own.
_WIDE_FEATURES = 32
# Full covariances: the whitening factors are triangular and the scatter matrices symmetric, so
# the two large products of a chunk are cut into blocks of this many features, and the parts
# that hold only zeros (or mirror parts already computed) are skipped. At D = 64 (four blocks)
# that is 37 % less arithmetic and, measured, 18 % less time per fit; blocks of 8 or 32 features
# were slower. Up to 16 features nothing changes.
_TRIANGLE_BLOCK = 16


class CollapseError(ValueError):
    """A covariance is not positive definite: a component has collapsed (or the data are singular)."""


def _collapse_message(dtype=np.float64):
    message = (
        "A component's covariance became singular during the fit: it collapsed onto too few "
        "distinct points, or a column of the data is constant. Use fewer components, a larger "
        "reg_covar, or rescale the data."
    )
    if np.dtype(dtype) == np.float32:
        message += " Passing float64 data instead of float32 can also help."
    return message


###############################################################################
# Facts about the covariance types (one definition each)


def _check_type(covariance_type):
    if not isinstance(covariance_type, str) or covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {list(COVARIANCE_TYPES)}, got {covariance_type!r}."
        )


def covariance_shape(covariance_type, n_components, n_features):
    """Shape of ``covariances_`` (and of precisions and their factors) for a covariance type.

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_components, n_features : int

    Returns
    -------
    shape : tuple of int
        ``(K, D, D)``, ``(D, D)``, ``(K, D)`` or ``(K,)``.

    Examples
    --------
    >>> covariance_shape("diag", 3, 2)
    (3, 2)
    """
    _check_type(covariance_type)
    K, D = n_components, n_features
    return {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[covariance_type]


def n_parameters(n_components, n_features, covariance_type="full"):
    """Number of free parameters :math:`p` of a Gaussian mixture.

    :math:`K - 1` weights (they sum to one), :math:`KD` mean coordinates, and the covariance
    parameters: :math:`KD(D+1)/2` (full), :math:`D(D+1)/2` (tied), :math:`KD` (diag) or
    :math:`K` (spherical). Introduced in {ref}`ch-choosing-k`.

    Parameters
    ----------
    n_components : int
        Number of components :math:`K` (at least 1).
    n_features : int
        Dimension :math:`D` (at least 1).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'

    Returns
    -------
    int

    Examples
    --------
    >>> [n_parameters(3, 2, t) for t in ("full", "tied", "diag", "spherical")]
    [17, 11, 14, 11]
    """
    for name, value in (("n_components", n_components), ("n_features", n_features)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    _check_type(covariance_type)
    K, D = int(n_components), int(n_features)
    per_covariance = {"full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2,
                      "diag": K * D, "spherical": K}[covariance_type]
    return per_covariance + K * D + K - 1


def chunk_rows(n_features, n_components, covariance_type="full"):
    """Rows per chunk: the largest per-chunk temporary stays at about 4 MB, inside the caches.

    That temporary holds ``K * D`` numbers per row for full covariances (every component's
    whitened coordinates) and about ``max(K, 2 D)`` otherwise. The result is clipped to 256-8192
    rows: fewer rows make the matrix products inefficient, more gain nothing.
    Introduced in {ref}`ch-scaling-em`.

    Examples
    --------
    >>> chunk_rows(16, 10, "full")
    3276
    """
    D, K = int(n_features), int(n_components)
    per_row = K * D if covariance_type in ("full", "tied") else max(K, 2 * D + 1)
    return int(np.clip((1 << 19) // max(per_row, 1), 256, 8192))


###############################################################################
# Precision factors: U with precision = U U^T (full, tied) or 1/sqrt(variance)


def precision_factors(covariances, covariance_type):
    """Cholesky factors of the precisions, computed from the covariances.

    For full and tied covariances ``Sigma = L L^T`` (Cholesky) and the factor is the
    upper-triangular ``U = L^{-T}``, so that ``precision = U U^T`` and
    ``|U^T (x - mu)|^2`` is the squared Mahalanobis distance. For diag and spherical covariances
    the factor is ``1 / sqrt(variance)``. These are scikit-learn's ``precisions_cholesky_``.

    Raises
    ------
    CollapseError
        If a covariance is not positive definite (or not finite).
    """
    covariances = np.asarray(covariances)
    if not np.all(np.isfinite(covariances)):
        raise CollapseError(_collapse_message(covariances.dtype))
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0):
            raise CollapseError(_collapse_message(covariances.dtype))
        return 1.0 / np.sqrt(covariances)
    stack = covariances[np.newaxis] if covariance_type == "tied" else covariances
    identity = np.eye(stack.shape[-1], dtype=stack.dtype)
    factors = np.empty_like(stack)
    with one_blas_thread():
        for k, covariance in enumerate(stack):
            try:
                lower = linalg.cholesky(covariance, lower=True, check_finite=False)
            except linalg.LinAlgError:
                raise CollapseError(_collapse_message(covariances.dtype)) from None
            factors[k] = linalg.solve_triangular(lower, identity, lower=True,
                                                 check_finite=False).T
    return factors[0] if covariance_type == "tied" else factors


def _reversed(matrix):
    return matrix[..., ::-1, ::-1]


def factors_from_precisions(precisions, covariance_type):
    """Upper-triangular ``U`` with ``precision = U U^T``, from given precision matrices.

    Reversing the order of rows and columns turns an upper factorisation into an ordinary
    lower Cholesky factorisation, so LAPACK's Cholesky does the work.
    """
    precisions = np.asarray(precisions)
    if covariance_type in ("diag", "spherical"):
        return np.sqrt(precisions)
    with one_blas_thread():
        return _reversed(np.linalg.cholesky(_reversed(precisions)))


def precisions_from_factors(factors, covariance_type):
    """Precisions ``U U^T`` (full, tied) or ``U**2`` (diag, spherical)."""
    if covariance_type in ("diag", "spherical"):
        return factors**2
    return factors @ np.swapaxes(factors, -1, -2)


def covariances_from_factors(factors, covariance_type):
    """Covariances, the inverses of the precisions, from their factors ``U``.

    With ``precision = U U^T``, ``covariance = V^T V`` where ``V = U^{-1}``.
    """
    if covariance_type in ("diag", "spherical"):
        return 1.0 / factors**2
    stack = factors[np.newaxis] if covariance_type == "tied" else factors
    identity = np.eye(stack.shape[-1], dtype=stack.dtype)
    with one_blas_thread():
        inverses = np.stack([linalg.solve_triangular(u, identity, lower=False) for u in stack])
    covariances = np.swapaxes(inverses, -1, -2) @ inverses
    return covariances[0] if covariance_type == "tied" else covariances


def log_det_factors(factors, covariance_type, n_components, n_features):
    """``log det U_k`` for every component, which is ``-log det(Sigma_k) / 2``."""
    if covariance_type == "full":
        return np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.full(n_components, np.log(np.diagonal(factors)).sum())
    if covariance_type == "diag":
        return np.log(factors).sum(axis=1)
    return n_features * np.log(factors)


###############################################################################
# Threads: one BLAS thread while any engine works (shared safely between fits)


class _OneThread:
    """Hold a thread-pool library (BLAS or OpenMP) to one thread while anyone is inside.

    The first holder to enter sets the limit and the last to leave restores the previous
    setting, under a lock, so fits running in several threads at once never undo each other's
    limit. Why one thread: EM's BLAS calls are either tiny (a D x D factorisation) or run inside
    our own worker threads, and a multi-threaded OpenBLAS then spends far longer waking its
    threads than computing (a 5 x 5 triangular solve took 11 ms instead of 0.07 ms on a busy
    2-core machine).
    """

    _controller = None

    def __init__(self, user_api):
        self._user_api = user_api
        self._lock = threading.Lock()
        self._holders = 0
        self._limiter = None

    def __enter__(self):
        with self._lock:
            if self._holders == 0:
                if _OneThread._controller is None:  # inspecting the libraries is slow: once
                    from threadpoolctl import ThreadpoolController

                    _OneThread._controller = ThreadpoolController()
                self._limiter = _OneThread._controller.limit(limits=1, user_api=self._user_api)
            self._holders += 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


_BLAS = _OneThread("blas")
_OPENMP = _OneThread("openmp")


def one_blas_thread():
    """Context manager: BLAS on one thread while inside (re-entrant and thread-safe)."""
    return _BLAS


def one_openmp_thread():
    """Context manager: OpenMP (scikit-learn's k-means) on one thread while inside.

    scikit-learn's k-means gives the same result for any number of threads; on the few
    thousand rows of an initialisation two OpenMP threads mostly wait for each other (KMeans(8)
    on 1,500 points: 0.65 s with two threads, 0.01 s with one, on a busy 2-core machine).
    """
    return _OPENMP


###############################################################################
# Statistics


@dataclass
class Statistics:
    """Sums over samples that EM needs, taken about a centre ``c``; they add up over chunks.

    With ``x`` a sample minus ``c``, ``w`` its sample weight (1 without weights) and ``g`` its
    responsibilities under the parameters of the E-step:

    Attributes
    ----------
    weight : float
        ``sum_n w_n`` (the number of samples without weights).
    log_norm : float
        ``sum_n w_n log sum_k rho_nk``, where ``rho_nk`` is the unnormalised posterior of the
        scoring plan; for a Gaussian mixture this is the log-likelihood.
    counts : ndarray of shape (K,)
        ``sum_n w_n g_nk``.
    first : ndarray of shape (K, D)
        ``sum_n w_n g_nk x_n``.
    second : ndarray
        ``sum_n w_n g_nk x_n x_n^T`` (K, D, D) for full, ``sum_n w_n x_n x_n^T`` (D, D) for tied,
        ``sum_n w_n g_nk x_n**2`` (K, D) for diag, ``sum_n w_n g_nk |x_n|^2`` (K,) for spherical.
    entropy : float
        ``sum_n w_n sum_k g_nk log g_nk`` when the pass was asked for it, else 0.
    origin : object
        What produced the responsibilities (a :class:`ScoringPlan` or given responsibilities),
        so :meth:`Engine.moments` can recompute components exactly; None once statistics of
        different origins have been mixed.
    """

    weight: float
    log_norm: float
    counts: np.ndarray
    first: np.ndarray
    second: np.ndarray
    entropy: float = 0.0
    origin: object = field(default=None, compare=False, repr=False)

    def __add__(self, other):
        return Statistics(
            self.weight + other.weight,
            self.log_norm + other.log_norm,
            self.counts + other.counts,
            self.first + other.first,
            self.second + other.second,
            self.entropy + other.entropy,
            self.origin if self.origin is other.origin else None,
        )

    def scaled(self, factor):
        """Every sum multiplied by ``factor`` (used by running averages in mini-batch EM)."""
        return Statistics(self.weight * factor, self.log_norm * factor, self.counts * factor,
                          self.first * factor, self.second * factor, self.entropy * factor)

    @property
    def mean_log_norm(self):
        """``log_norm / weight``: the mean log-likelihood per (weighted) sample."""
        return self.log_norm / self.weight


@dataclass
class Moments:
    """What the M-step makes of the statistics, per component.

    Attributes
    ----------
    counts : ndarray of shape (K,)
        ``N_k = sum_n w_n g_nk`` plus a guard of ``10 eps`` (so empty components divide safely).
    means : ndarray of shape (K, D)
        ``sum_n w_n g_nk x_n / N_k`` in the data's own coordinates.
    covariances : ndarray
        Weighted covariances about the means, plus ``reg_covar`` on the diagonal; tied pools
        the components' scatter and divides by ``sum_k N_k``.
    total_weight : float
        ``sum_n w_n``.
    """

    counts: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    total_weight: float


###############################################################################
# Scoring plans: parameters arranged for one matrix product per chunk


class ScoringPlan:
    """Unnormalised log-posteriors ``log rho_nk`` of every component, arranged for the kernel.

    ``log rho_nk = offset_k + log det U_k - D log(2 pi) / 2 - |U_k^T (x_n - mu_k)|^2 / 2``.

    For a Gaussian mixture ``offset_k = log pi_k`` and ``rho_nk = pi_k N(x_n | mu_k, Sigma_k)``;
    a variational E-step passes other offsets. Each covariance type gets the arrangement that
    makes one product with the chunk's *features* give all K values (``x`` below is a sample
    minus the centre ``c``, ``m_k = mu_k - c``, ``a_k`` the constant part):

    - full (and tied with widely spread data): the blocks ``[-U_k^T m_k, U_k^T]`` against
      features ``[1; x]`` give the whitened coordinates of every component; their squared
      lengths are summed. The rows are stored feature by feature, a (D, K, D + 1) array, so that
      the rows of features ``lo`` to ``hi`` form one matrix; as ``U_k^T`` is lower triangular,
      those rows need only the first ``hi`` features (see :func:`_feature_blocks`).
    - tied: ``-|U^T x|^2 / 2`` is the same for all components, so it is left out of the product
      (it cancels in the responsibilities and is added back to the log-likelihood); the rest is
      linear in ``x``: rows ``[a_k - m_k^T P m_k / 2, (P m_k)^T]`` against ``[1; x]``.
    - diag: rows ``[a_k - sum(p_k m_k^2) / 2, p_k m_k, -p_k / 2]`` against ``[1; x; x^2]``.
    - spherical: rows ``[a_k - p_k |m_k|^2 / 2, p_k m_k, -p_k / 2]`` against ``[1; x; |x|^2]``.

    Parameters
    ----------
    log_offsets : ndarray of shape (K,)
    means : ndarray of shape (K, D)
    factors : ndarray
        Precision factors ``U``, upper triangular for full and tied covariances (see
        :func:`precision_factors`): the log-determinant is read off their diagonals and the
        full-covariance product skips their zeros.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    centre : ndarray of shape (D,)
    """

    def __init__(self, log_offsets, means, factors, covariance_type, centre):
        means = np.asarray(means, dtype=np.float64)
        factors = np.asarray(factors, dtype=np.float64)
        K, D = means.shape
        self.covariance_type = covariance_type
        self.n_components, self.n_features = K, D
        shifted = means - centre
        with np.errstate(divide="ignore"):  # a zero weight is a log offset of -inf
            constant = (np.asarray(log_offsets, dtype=np.float64)
                        + log_det_factors(factors, covariance_type, K, D)
                        - 0.5 * D * math.log(2 * math.pi))
        self.tied_factor = self.tied_precision = None
        if covariance_type == "tied":
            precision = factors @ factors.T
            spread = D + np.max(np.einsum("kd,de,ke->k", shifted, precision, shifted))
            if spread <= _TIED_LINEAR_LIMIT:
                pulled = shifted @ precision  # rows (P m_k)^T
                last = constant - 0.5 * np.einsum("kd,kd->k", pulled, shifted)
                self.kind = "linear"
                self.matrix = np.hstack([last[:, np.newaxis], pulled])
                self.tied_factor, self.tied_precision = factors, precision
                return
            factors = np.broadcast_to(factors, (K, D, D))
        if covariance_type in ("full", "tied"):
            transposed = np.swapaxes(factors, 1, 2)  # U_k^T
            bias = -np.einsum("kij,kj->ki", transposed, shifted)
            self.kind = "whitened"
            rows = np.concatenate([bias[:, :, np.newaxis], transposed], axis=2)  # (K, D, D + 1)
            self.matrix = np.ascontiguousarray(np.swapaxes(rows, 0, 1))
            self.constant = constant[:, np.newaxis]
        elif covariance_type == "diag":
            precision = factors**2
            first = constant - 0.5 * np.sum(precision * shifted**2, axis=1)
            self.kind = "linear"
            self.matrix = np.hstack([first[:, np.newaxis], precision * shifted, -0.5 * precision])
        else:
            precision = factors**2
            first = constant - 0.5 * precision * np.sum(shifted**2, axis=1)
            self.kind = "linear"
            self.matrix = np.hstack([first[:, np.newaxis], precision[:, np.newaxis] * shifted,
                                     -0.5 * precision[:, np.newaxis]])

    def log_rho(self, features, workspace):
        """``log rho`` of one chunk, shape (K, n), without tied's common term (see the class)."""
        n = features.shape[1]
        if self.kind == "linear":
            return np.matmul(self.matrix, features, out=workspace.array("log_rho", (self.n_components, n)))
        K, D = self.n_components, self.n_features
        whitened = workspace.array("wide", (D, K, n))
        for lo, hi in _feature_blocks(D):
            # whitened coordinates lo..hi-1 of every component: features 0..hi (1 and x_<hi)
            np.matmul(self.matrix[lo:hi].reshape((hi - lo) * K, D + 1)[:, : hi + 1],
                      features[: hi + 1], out=whitened[lo:hi].reshape((hi - lo) * K, n))
        np.square(whitened, out=whitened)
        log_rho = np.sum(whitened, axis=0, out=workspace.array("log_rho", (K, n)))
        log_rho *= -0.5
        log_rho += self.constant
        return log_rho

    def common_term(self, features):
        """Tied, linear form: the per-row term ``-|U^T x|^2 / 2`` left out of :meth:`log_rho`."""
        if self.tied_factor is None:
            return None
        whitened = np.dot(self.tied_factor.T, features[1 : self.n_features + 1])
        return -0.5 * np.einsum("dn,dn->n", whitened, whitened)


@dataclass
class GivenResponsibilities:
    """Responsibilities chosen from outside (an initialisation), row-aligned with the data."""

    resp: np.ndarray  # (n_samples, K)


###############################################################################
# The chunk kernel


class Workspace:
    """Scratch arrays reused from chunk to chunk by one thread.

    A fresh multi-megabyte temporary per chunk is a fresh memory mapping whose pages are
    faulted in on first touch; that cost more than the arithmetic on it (2.9 ms instead of
    0.4 ms for the E-step product of a 3,000-row chunk).
    """

    def __init__(self):
        self._store = {}

    def array(self, name, shape):
        size = math.prod(shape)
        flat = self._store.get(name)
        if flat is None or flat.size < size:
            flat = self._store[name] = np.empty(size)
        return flat[:size].reshape(shape)


#: Largest memory (bytes) the per-chunk features of an in-memory data set are kept in between
#: EM passes; larger data build them afresh in every pass.
FEATURE_CACHE_BYTES = 256 << 20

# Rows of a chunk's feature matrix, per layout (see _features).
_FEATURE_ROWS = {"full": lambda D: D + 1, "tied": lambda D: D + 1,
                 "diag": lambda D: 2 * D + 1, "spherical": lambda D: D + 2}


def _features(X_chunk, centre, covariance_type, workspace):
    """The chunk's per-row features, laid out as (n_features_of_type, n); see :class:`ScoringPlan`.

    Every layout starts with a row of ones and the centred rows ``x`` (so one product with the
    responsibilities gives the counts and first moments at fixed places), followed by ``x^2``
    for diag and ``|x|^2`` for spherical.
    """
    n, D = X_chunk.shape
    features = workspace.array("features", (_FEATURE_ROWS[covariance_type](D), n))
    features[0] = 1.0
    centred = np.subtract(X_chunk.T, centre[:, np.newaxis], out=features[1 : D + 1])
    if covariance_type == "diag":
        np.square(centred, out=features[D + 1 :])
    elif covariance_type == "spherical":
        features[D + 1] = np.einsum("dn,dn->n", centred, centred)
    return features


def _feature_blocks(n_features):
    """Ranges ``(lo, hi)`` of :data:`_TRIANGLE_BLOCK` features that cover all of them."""
    edges = list(range(0, n_features, _TRIANGLE_BLOCK)) + [n_features]
    return list(zip(edges[:-1], edges[1:]))


def _symmetric_scatter(weighted, centred):
    """``S_k = sum_n weighted[:, k, n] x_n^T`` for every k, shape (K, D, D), for symmetric S_k.

    ``weighted`` (D, K, n) holds ``g_nk x_n`` feature by feature and ``centred`` (D, n) the rows
    ``x_n``. Block column ``lo:hi`` is computed from row ``lo`` down only; the rows above it are
    the mirror image of block rows computed before.
    """
    D, K, n = weighted.shape
    scatter = np.empty((K, D, D))
    for lo, hi in _feature_blocks(D):
        # np.dot, not @: see the first-moment product in chunk_statistics
        part = np.dot(weighted[lo:].reshape((D - lo) * K, n), centred[lo:hi].T)
        scatter[:, lo:, lo:hi] = np.swapaxes(part.reshape(D - lo, K, hi - lo), 0, 1)
        scatter[:, :lo, lo:hi] = np.swapaxes(scatter[:, lo:hi, :lo], 1, 2)
    return scatter


def _normalise(log_rho, with_entropy=False):
    """In place: ``log_rho`` (K, n) becomes the responsibilities ``g``.

    Returns the per-row ``log sum_k rho_nk`` and, with ``with_entropy``, the per-row
    ``sum_k g log g`` (else None).
    """
    top = log_rho.max(axis=0)
    finite = np.isfinite(top)
    all_finite = finite.all()
    if not all_finite:  # a row where every component has log rho = -inf
        top = np.where(finite, top, 0.0)
    log_rho -= top
    np.maximum(log_rho, _LOG_FLOOR, out=log_rho)
    shifted = log_rho.copy() if with_entropy else None
    resp = np.exp(log_rho, out=log_rho)
    total = resp.sum(axis=0)
    resp /= total
    log_total = np.log(total)
    entropy_rows = None
    if with_entropy:
        entropy_rows = np.einsum("kn,kn->n", resp, shifted) - log_total
    log_norm_rows = log_total + top
    if not all_finite:
        log_norm_rows[~finite] = -np.inf
    return log_norm_rows, entropy_rows


def chunk_statistics(X_chunk, sample_weight, centre, origin, covariance_type, *, entropy=False,
                     rows=None, workspace=None, features=None):
    """E-step of one chunk and its :class:`Statistics`.

    Parameters
    ----------
    X_chunk : ndarray of shape (n, D)
        Rows in the data's own coordinates (any float dtype; the work is done in float64).
    sample_weight : ndarray of shape (n,) or None
    centre : ndarray of shape (D,)
    origin : ScoringPlan or GivenResponsibilities
        Where the responsibilities come from.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    entropy : bool, default=False
        Also sum ``w g log g`` (needed by the variational bound).
    rows : slice, optional
        The chunk's rows in the whole data (for :class:`GivenResponsibilities`).
    workspace : Workspace, optional
    features : ndarray, optional
        The chunk's features, already built (see :meth:`Rows.prepared_features`).

    Returns
    -------
    Statistics
    """
    workspace = workspace or Workspace()
    D = X_chunk.shape[1]
    if features is None:
        features = _features(X_chunk, centre, covariance_type, workspace)
    if isinstance(origin, ScoringPlan):
        resp = origin.log_rho(features, workspace)
        log_norm_rows, entropy_rows = _normalise(resp, with_entropy=entropy)
    else:
        resp = np.ascontiguousarray(origin.resp[rows].T, dtype=np.float64)
        log_norm_rows, entropy_rows = np.zeros(resp.shape[1]), None
    if sample_weight is None:
        weight = float(resp.shape[1])
        log_norm = float(log_norm_rows.sum())
        entropy_sum = float(entropy_rows.sum()) if entropy_rows is not None else 0.0
    else:
        weight = float(sample_weight.sum())
        log_norm = float(np.dot(sample_weight, log_norm_rows))
        entropy_sum = float(np.dot(sample_weight, entropy_rows)) if entropy_rows is not None else 0.0
        resp *= sample_weight

    # Last column: counts; the D before it: first moments. np.dot, not @: for this shape (K rows,
    # a long inner dimension) numpy's matmul kept the GIL and two threads ran no faster than one.
    sums = np.dot(resp, features.T)
    counts = sums[:, 0].copy()
    first = sums[:, 1 : D + 1].copy()
    centred = features[1 : D + 1]
    if covariance_type == "full":
        weighted = np.multiply(resp, centred[:, np.newaxis, :],
                               out=workspace.array("wide", (D,) + resp.shape))
        second = _symmetric_scatter(weighted, centred)
    elif covariance_type == "tied":
        # every row counts once, whatever its responsibilities (they sum to one in EM)
        second = np.dot(centred if sample_weight is None else centred * sample_weight, centred.T)
        if getattr(origin, "tied_precision", None) is not None:
            # the term -|U^T x|^2 / 2 the linear plan left out, summed: -tr(P S2) / 2
            log_norm -= 0.5 * float(np.sum(origin.tied_precision * second))
    elif covariance_type == "diag":
        second = sums[:, D + 1 :].copy()
    else:
        second = sums[:, D + 1].copy()
    return Statistics(weight, log_norm, counts, first, second, entropy_sum, origin)


def chunk_rows_output(X_chunk, centre, plan, output, workspace=None):
    """Per-row results of the E-step for one chunk (what ``predict`` and friends return).

    ``output`` is ``"labels"`` (most probable component), ``"log_norm"`` (``log sum_k rho_nk``
    per row: :meth:`score_samples`) or ``"log_resp"`` (``(log_norm, log responsibilities
    (n, K))``). Nothing is clamped here: log-responsibilities are exact.
    """
    workspace = workspace or Workspace()
    features = _features(X_chunk, centre, plan.covariance_type, workspace)
    log_rho = plan.log_rho(features, workspace)
    if output == "labels":
        return np.argmax(log_rho, axis=0)
    top = log_rho.max(axis=0)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore", divide="ignore"):
        log_norm = np.log(np.exp(log_rho - finite_top).sum(axis=0)) + finite_top
    common = plan.common_term(features)
    if output == "log_norm":
        return log_norm if common is None else log_norm + common
    log_resp = (log_rho - log_norm).T
    return (log_norm if common is None else log_norm + common), log_resp


def _centred_scatter(X_chunk, sample_weight, centre, origin, covariance_type, means, which,
                     rows=None, workspace=None, features=None):
    """Exact scatter ``sum_n w_n g_nk (x_n - mu_k)(x_n - mu_k)^T`` of the components ``which``.

    The second pass of :meth:`Engine.moments`: responsibilities recomputed as in the first pass,
    differences taken in the data's own coordinates, as a two-pass variance does. Returns an
    array of shape (len(which), D, D) (full, tied) or (len(which), D) (diag, spherical).
    """
    workspace = workspace or Workspace()
    X64 = np.asarray(X_chunk, dtype=np.float64)
    if isinstance(origin, ScoringPlan):
        if features is None:
            features = _features(X_chunk, centre, covariance_type, workspace)
        resp = origin.log_rho(features, workspace)
        _normalise(resp)
    else:
        resp = np.ascontiguousarray(origin.resp[rows].T, dtype=np.float64)
    if sample_weight is not None:
        resp = resp * sample_weight
    parts = []
    for k in which:
        difference = X64 - means[k]
        weighted = difference * resp[k][:, np.newaxis]
        if covariance_type in ("full", "tied"):
            parts.append(np.dot(weighted.T, difference))
        else:
            parts.append(np.einsum("nd,nd->d", weighted, difference))
    return np.stack(parts)


###############################################################################
# Data sources


def checked_sample_weight(sample_weight, n_samples):
    """Sample weights as float64 of shape (n_samples,), or None; a scalar applies to all.

    Raises a ValueError, in plain words, for weights that are not numbers, of the wrong shape,
    not finite, negative, or all zero.
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.ndim == 0:
        weights = np.full(n_samples, weights)
    if weights.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must hold numbers; it has dtype {weights.dtype}.")
    weights = weights.astype(np.float64)
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight must have one weight per sample, shape ({n_samples},); "
                         f"it has shape {weights.shape}.")
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight must be finite: it contains NaN or infinity.")
    if np.any(weights < 0):
        raise ValueError(f"sample_weight must be non-negative; the smallest is {weights.min():g}.")
    if not weights.sum() > 0:
        raise ValueError("sample_weight must not be all zero.")
    return weights


class Rows:
    """Data held as one array (in memory or memory-mapped): chunks are slices of its rows.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_samples, n_features)
        Validated data (float32 or float64). It is never copied: every pass reads it chunk by
        chunk, so a memory map is read from disk as the pass goes.
    sample_weight : array-like of shape (n_samples,), optional
        Checked by :func:`checked_sample_weight`.
    centre : ndarray of shape (n_features,), optional
        The point the statistics are taken about; by default the (weighted) mean of ``X``.
    """

    def __init__(self, X, sample_weight=None, centre=None):
        self.X = X
        self.n_samples, self.n_features = X.shape
        self.sample_weight = checked_sample_weight(sample_weight, self.n_samples)
        if centre is None:
            centre = self._mean()
        self.centre = np.asarray(centre, dtype=np.float64)
        self._prepared = {}

    def prepared_features(self, rows, layout, workspace):
        """The features of the chunk ``rows`` in ``layout`` (a covariance type), from blocks
        built on the first pass and kept for the next ones (centring and transposing the rows
        is a fifth of a spherical pass). They are kept only while they take no more than 1.5
        times the memory of the data and :data:`FEATURE_CACHE_BYTES` in all: the centred rows
        ``[1; x]`` for full, tied and diag (diag squares them into ``workspace`` in every pass)
        and ``[1; x; |x|^2]`` for spherical. None when they are not kept."""
        kept = "spherical" if layout == "spherical" else "full"
        size = _FEATURE_ROWS[kept](self.n_features) * self.n_samples * 8
        if size > min(FEATURE_CACHE_BYTES, 1.5 * self.X.nbytes):
            return None
        key = (kept, rows.start, rows.stop)
        block = self._prepared.get(key)
        if block is None:
            block = self._prepared[key] = _features(self.X[rows], self.centre, kept, Workspace())
        if layout != "diag":
            return block
        D, n = self.n_features, block.shape[1]
        features = workspace.array("features", (2 * D + 1, n))
        features[: D + 1] = block
        np.square(block[1:], out=features[D + 1 :])
        return features

    def _mean(self):
        total = np.zeros(self.n_features)
        step = 1 << 16  # a pass in slices keeps a memory map's footprint small
        for start in range(0, self.n_samples, step):
            block = self.X[start : start + step]
            if self.sample_weight is None:
                total += block.sum(axis=0, dtype=np.float64)
            else:
                total += self.sample_weight[start : start + step] @ block
        weight = self.n_samples if self.sample_weight is None else self.sample_weight.sum()
        return total / weight

    def slices(self, size):
        return [slice(start, min(start + size, self.n_samples))
                for start in range(0, self.n_samples, size)]

    def map_reduce(self, engine, work):
        """``work(X_chunk, weights_chunk, rows, workspace)`` on every chunk; results added."""
        size = engine.rows_per_chunk
        parts = engine.run_static(
            self.slices(size),
            lambda rows, workspace: work(
                self.X[rows], None if self.sample_weight is None else self.sample_weight[rows],
                rows, workspace),
        )
        return _add_all(parts)

    def map_rows(self, engine, work, out_shapes):
        """``work(X_chunk, workspace)`` on every chunk; results written into arrays of
        ``out_shapes`` (first axis: rows)."""
        outputs = [np.empty(shape) for shape in out_shapes]

        def one(rows, workspace):
            result = work(self.X[rows], workspace)
            for out, part in zip(outputs, result if isinstance(result, tuple) else (result,)):
                out[rows] = part

        engine.run_static(self.slices(engine.rows_per_chunk), one)
        return outputs


class ChunkStream:
    """Data arriving as a stream of chunks: ``make_chunks()`` starts a new pass each time.

    Parameters
    ----------
    make_chunks : callable
        Returns a fresh iterable of 2-D arrays, or of pairs ``(X_chunk, weights_chunk)``.
    centre : ndarray of shape (n_features,)
    n_samples, n_features : int
    weighted : bool
        Whether the chunks come with weights.
    """

    def __init__(self, make_chunks, centre, n_samples, n_features, weighted):
        self.make_chunks = make_chunks
        self.centre = np.asarray(centre, dtype=np.float64)
        self.n_samples, self.n_features = n_samples, n_features
        self.weighted = weighted

    def _pieces(self, size):
        """Every chunk of the stream, cut into pieces of at most ``size`` rows."""
        for item in self.make_chunks():
            X_chunk, weights = item if isinstance(item, tuple) else (item, None)
            X_chunk = np.asarray(X_chunk)
            if weights is not None:
                weights = np.asarray(weights, dtype=np.float64)
            for start in range(0, len(X_chunk), size):
                yield (X_chunk[start : start + size],
                       None if weights is None else weights[start : start + size])

    def map_reduce(self, engine, work):
        parts = engine.run_streaming(
            self._pieces(engine.rows_per_chunk),
            lambda piece, workspace: work(piece[0], piece[1], None, workspace),
        )
        return _add_all(parts)


def _add_all(parts):
    total = None
    for part in parts:
        if part is not None:
            total = part if total is None else total + part
    return total


###############################################################################
# The engine


def effective_threads(n_jobs):
    """Worker threads for ``n_jobs`` with scikit-learn's meaning: None is 1 (unless a joblib
    ``parallel_backend`` context says otherwise), -1 all CPUs, -2 all but one."""
    from joblib import effective_n_jobs

    return max(1, int(effective_n_jobs(n_jobs)))


class Engine:
    """Runs the passes of EM over a data source, with one thread pool for the whole fit.

    Use it as a context manager: entering starts the worker threads (when ``n_jobs`` asks for
    more than one) and holds the BLAS to one thread; leaving stops them. Outside a ``with``
    block every pass runs in the calling thread.

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_components, n_features : int
    n_jobs : int or None, default=None
        Worker threads, with scikit-learn's meaning (see :func:`effective_threads`).
    """

    def __init__(self, covariance_type, n_components, n_features, *, n_jobs=None):
        _check_type(covariance_type)
        self.covariance_type = covariance_type
        self.n_components, self.n_features = n_components, n_features
        self.n_threads = effective_threads(n_jobs)
        self.rows_per_chunk = chunk_rows(n_features, n_components, covariance_type)
        # Our own threads each want a one-thread BLAS. With one thread of ours, only the wide
        # product of a full-covariance E-step at large D gains from BLAS threads.
        self.pins_blas = self.n_threads > 1 or not (
            covariance_type == "full" and n_features >= _WIDE_FEATURES)
        self._pool = None
        self._local = threading.local()
        self._caller_workspace = Workspace()

    # -- threads ------------------------------------------------------------------------------

    def __enter__(self):
        if self.pins_blas:
            _BLAS.__enter__()
        if self.n_threads > 1:
            self._pool = ThreadPoolExecutor(self.n_threads, thread_name_prefix="gmmlib")
        return self

    def __exit__(self, *exc_info):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.pins_blas:
            _BLAS.__exit__(*exc_info)

    def _workspace(self):
        workspace = getattr(self._local, "workspace", None)
        if workspace is None:
            workspace = self._local.workspace = Workspace()
        return workspace

    def run_static(self, items, work):
        """``work(item, workspace)`` for every item; thread ``t`` always takes items ``t``,
        ``t + T``, ... and results come back in item order, so sums do not depend on timing."""
        if self._pool is None or len(items) < 2:
            return [work(item, self._caller_workspace) for item in items]
        n = min(self.n_threads, len(items))

        def share(t):
            workspace = self._workspace()
            return [work(item, workspace) for item in items[t::n]]

        shares = list(self._pool.map(share, range(n)))
        ordered = [None] * len(items)
        for t, results in enumerate(shares):
            ordered[t::n] = results
        return ordered

    def run_streaming(self, items, work):
        """Like :meth:`run_static` for an iterator read once: at most two items per thread
        are in flight, so memory stays bounded, and results come back in order."""
        if self._pool is None:
            for item in items:
                yield work(item, self._caller_workspace)
            return
        in_flight = []
        for item in items:
            if len(in_flight) >= 2 * self.n_threads:
                yield in_flight.pop(0).result()
            in_flight.append(self._pool.submit(lambda it: work(it, self._workspace()), item))
        for future in in_flight:
            yield future.result()

    # -- passes -------------------------------------------------------------------------------

    def plan(self, data, log_offsets, means, factors):
        """A :class:`ScoringPlan` for these parameters about the data's centre."""
        return ScoringPlan(log_offsets, means, factors, self.covariance_type, data.centre)

    def e_step(self, data, log_offsets, means, factors, *, entropy=False):
        """One E-step over all the data: the summed :class:`Statistics`.

        ``log_offsets`` are added to each component's log-density (``log pi_k`` for EM).
        """
        return self.statistics(data, self.plan(data, log_offsets, means, factors),
                               entropy=entropy)

    def statistics(self, data, origin, *, entropy=False, layout=None):
        """Summed :class:`Statistics` of all chunks under a plan or given responsibilities.

        ``layout`` takes the sums of another covariance type (the spherical initial M-step
        needs the per-feature sums of 'diag').
        """
        covariance_type, centre = layout or self.covariance_type, data.centre
        prepared = getattr(data, "prepared_features", None)

        def work(X_chunk, weights, rows, workspace):
            if len(X_chunk) == 0:
                return None
            features = (prepared(rows, covariance_type, workspace)
                        if prepared is not None else None)
            return chunk_statistics(X_chunk, weights, centre, origin, covariance_type,
                                    entropy=entropy, rows=rows, workspace=workspace,
                                    features=features)

        stats = data.map_reduce(self, work)
        if stats is None:
            raise ValueError("The data have no rows.")
        stats.origin = origin
        return stats

    def moments(self, data, stats, reg_covar, *, dtype=np.float64):
        """Counts, means and covariances (+ ``reg_covar``) from summed statistics.

        Components whose covariance the fast formula cannot give to about 12 digits are
        recomputed exactly about their own means, in one more pass over ``data`` with the
        responsibilities that produced ``stats`` (when ``stats.origin`` is known).
        """
        counts, means, covariances, inexact = _moments(stats, data.centre, self.covariance_type)
        which = np.flatnonzero(inexact)
        if which.size and stats.origin is not None:
            covariances = covariances.copy()
            exact = self._exact_scatter(data, stats.origin, means, which)
            kind = self.covariance_type
            if kind == "tied":
                covariances = np.sum(exact, axis=0) / np.sum(counts)
            elif kind == "spherical":
                covariances[which] = exact.mean(axis=1) / counts[which]
            else:
                covariances[which] = exact / counts[which].reshape((-1,) + (1,) * (exact.ndim - 1))
        covariances = _drop_rounding_noise(covariances, means, self.covariance_type)
        _add_to_diagonal(covariances, reg_covar, self.covariance_type)
        return Moments(counts, means, covariances, float(stats.weight))

    def initial_moments(self, data, stats, reg_covar):
        """The M-step that starts EM from given responsibilities, as scikit-learn defines it.

        For the same ``init_params`` and seed to give both libraries the same start, the
        initial M-step evaluates scikit-learn's formulas: for diag, spherical and tied
        covariances ``E[x x^T] - mu mu^T`` with sums about the origin (``data.centre`` must be
        zero; spherical takes the 'diag' statistics) and the guarded count ``N_k + 10 eps`` in
        the first term, the tied sum ``E[x x^T]`` over every row; for full covariances the
        scatter about each mean. Where that difference keeps fewer than six digits (after
        ``reg_covar`` is added) or is not positive, the exact scatter replaces it.
        """
        if np.any(data.centre != 0):
            raise ValueError("initial_moments needs statistics taken about the origin.")
        counts = stats.counts + _EMPTY_GUARD
        means = stats.first / counts[:, np.newaxis]
        covariance_type = self.covariance_type
        if covariance_type == "full":
            scatter = self._exact_scatter(data, stats.origin, means, np.arange(len(counts)))
            covariances = scatter / counts[:, np.newaxis, np.newaxis]
        else:
            if covariance_type == "tied":
                second_moment = stats.second / np.sum(counts)
                covariances = second_moment - (counts[:, np.newaxis] * means).T @ means / np.sum(counts)
                variances, moments_about_zero = np.diagonal(covariances), np.diagonal(second_moment)
            else:
                moments_about_zero = stats.second / counts[:, np.newaxis]
                variances = moments_about_zero - means**2
                covariances = variances.mean(axis=1) if covariance_type == "spherical" else variances
            rounding = 8 * np.finfo(np.float64).eps * moments_about_zero
            unreliable = (variances <= 0) | (rounding > 1e-6 * (variances + reg_covar))
            if np.any(unreliable):
                covariances = covariances.copy()
                which = (np.arange(len(counts)) if covariance_type == "tied"
                         else np.flatnonzero(unreliable.any(axis=1)))
                exact = self._exact_scatter(data, stats.origin, means, which)
                if covariance_type == "tied":
                    covariances = np.sum(exact, axis=0) / np.sum(counts)
                elif covariance_type == "spherical":
                    covariances[which] = exact.mean(axis=1) / counts[which]
                else:
                    covariances[which] = exact / counts[which][:, np.newaxis]
        covariances = _drop_rounding_noise(covariances, means, covariance_type)
        _add_to_diagonal(covariances, reg_covar, covariance_type)
        return Moments(counts, means, covariances, float(stats.weight))

    def _exact_scatter(self, data, origin, means, which):
        covariance_type, centre = self.covariance_type, data.centre
        if covariance_type == "tied":
            which = np.arange(self.n_components)
        prepared = getattr(data, "prepared_features", None)

        def work(X_chunk, weights, rows, workspace):
            if len(X_chunk) == 0:
                return None
            features = (prepared(rows, covariance_type, workspace)
                        if prepared is not None else None)
            return _centred_scatter(X_chunk, weights, centre, origin, covariance_type, means,
                                    which, rows=rows, workspace=workspace, features=features)

        return data.map_reduce(self, work)

    def row_output(self, data, plan, output):
        """Per-row E-step results over in-memory ``data`` (a :class:`Rows`): see
        :func:`chunk_rows_output`."""
        n, K = data.n_samples, self.n_components
        centre = data.centre

        def work(X_chunk, workspace):
            return chunk_rows_output(X_chunk, centre, plan, output, workspace)

        if output == "labels":
            (labels,) = data.map_rows(self, work, [(n,)])
            return labels.astype(np.intp)
        if output == "log_norm":
            (log_norm,) = data.map_rows(self, work, [(n,)])
            return log_norm
        return tuple(data.map_rows(self, work, [(n,), (n, K)]))


###############################################################################
# Statistics -> moments


def _moments(stats, centre, covariance_type):
    """Counts, means and unregularised covariances from statistics, by the fast formulas.

    Returns ``(counts, means, covariances, inexact)``, where ``inexact`` flags components (or,
    for tied, the pooled covariance) whose variance is so small next to the second moment it
    was computed from that cancellation may have cost more than ~4 of 16 digits.
    """
    counts = stats.counts + _EMPTY_GUARD
    # The mean in the data's coordinates is (sum g x_raw) / counts, with x_raw = x + c and
    # sum g = counts - guard; about the centre that is (first - guard * c) / counts, computed
    # here without forming the large raw sums.
    shifted = (stats.first - _EMPTY_GUARD * centre) / counts[:, np.newaxis]
    means = shifted + centre
    raw_counts = stats.counts
    if covariance_type in ("full", "tied"):
        # sum g (x - m)(x - m)^T = S2 - S1 m^T - m S1^T + N m m^T, per component
        cross = stats.first[:, :, np.newaxis] * shifted[:, np.newaxis, :]
        outer = shifted[:, :, np.newaxis] * shifted[:, np.newaxis, :]
        if covariance_type == "full":
            scatter = (stats.second - cross - np.swapaxes(cross, 1, 2)
                       + raw_counts[:, np.newaxis, np.newaxis] * outer)
            covariances = scatter / counts[:, np.newaxis, np.newaxis]
            variances = np.diagonal(covariances, axis1=1, axis2=2)
            about_centre = np.diagonal(stats.second, axis1=1, axis2=2) / counts[:, np.newaxis]
            inexact = np.any(variances < _CANCELLATION_RATIO * about_centre, axis=1)
        else:
            pooled = (stats.second - np.sum(cross + np.swapaxes(cross, 1, 2), axis=0)
                      + np.einsum("k,kij->ij", raw_counts, outer))
            covariances = pooled / np.sum(counts)
            about_centre = np.diagonal(stats.second) / np.sum(counts)
            inexact = np.atleast_1d(np.any(np.diagonal(covariances)
                                           < _CANCELLATION_RATIO * about_centre))
    else:
        second = stats.second if covariance_type == "diag" else stats.second[:, np.newaxis]
        first_sq = stats.first * shifted
        if covariance_type == "spherical":
            first_sq = first_sq.sum(axis=1, keepdims=True)
            square = raw_counts[:, np.newaxis] * np.sum(shifted**2, axis=1, keepdims=True)
        else:
            square = raw_counts[:, np.newaxis] * shifted**2
        variances = (second - 2 * first_sq + square) / counts[:, np.newaxis]
        inexact = np.any(variances < _CANCELLATION_RATIO * second / counts[:, np.newaxis], axis=1)
        if covariance_type == "spherical":
            variances = variances[:, 0] / means.shape[1]
        covariances = variances
    return counts, means, covariances, inexact


def _drop_rounding_noise(covariances, means, covariance_type):
    """Variances below the rounding error of their own coordinates become zero (see 2. above)."""
    noise = (_ROUNDING_ULPS * np.finfo(np.float64).eps * np.abs(means)) ** 2  # (K, D)
    if covariance_type == "full":
        flat = np.diagonal(covariances, axis1=1, axis2=2) <= noise
        if flat.any():
            covariances = covariances.copy()
            covariances[flat[:, :, np.newaxis] | flat[:, np.newaxis, :]] = 0.0
    elif covariance_type == "tied":
        flat = np.diagonal(covariances) <= noise.max(axis=0)
        if flat.any():
            covariances = covariances.copy()
            covariances[flat[:, np.newaxis] | flat[np.newaxis, :]] = 0.0
    elif covariance_type == "diag":
        covariances = np.where(covariances <= noise, 0.0, covariances)
    else:
        covariances = np.where(covariances <= noise.mean(axis=1), 0.0, covariances)
    return covariances


def _add_to_diagonal(covariances, value, covariance_type):
    if covariance_type == "full":
        covariances[:, np.arange(covariances.shape[1]), np.arange(covariances.shape[1])] += value
    elif covariance_type == "tied":
        covariances.flat[:: covariances.shape[0] + 1] += value
    else:
        covariances += value


def moments_from_statistics(stats, centre, covariance_type, reg_covar):
    """:class:`Moments` from statistics by the fast formulas alone (no second pass).

    For statistics that no longer correspond to one pass over available data, such as the
    running averages of mini-batch EM; :meth:`Engine.moments` is the accurate version.
    """
    counts, means, covariances, _ = _moments(stats, np.asarray(centre, dtype=np.float64),
                                             covariance_type)
    covariances = _drop_rounding_noise(covariances, means, covariance_type)
    _add_to_diagonal(covariances, reg_covar, covariance_type)
    return Moments(counts, means, covariances, float(stats.weight))
