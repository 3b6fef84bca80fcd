"""The book's figure style and the plots the chapters share.

Every chapter calls :func:`use_book_style` once in its imports cell, so all figures share one
colour-blind-safe palette (:data:`PALETTE`, seaborn's ``"colorblind"``), readable font sizes and
sharp, double-resolution ("retina") PNGs. Importing this module changes nothing: the style is set
only when :func:`use_book_style` is called.

The helpers draw onto a Matplotlib ``Axes`` (the current one when ``ax`` is omitted) and return
what they drew, so a chapter can label, colour or annotate the result further:

- :func:`draw_ellipse` -- the ``n_std`` contour of one 2-D Gaussian.
- :func:`draw_gmm_ellipses` -- the 1, 2 and 3 standard-deviation ellipses of every component of a
  fitted mixture, for all four covariance types.
- :func:`plot_gmm` -- data coloured by the predicted component, plus the ellipses.
- :func:`plot_density` -- log-density contours of a fitted 2-D model (density curve in 1-D).
- :func:`plot_image_grid` -- a grid of small images, e.g. digits sampled from a mixture.
"""

from __future__ import annotations

import numpy as np
import seaborn

__all__ = [
    "PALETTE",
    "use_book_style",
    "draw_ellipse",
    "draw_gmm_ellipses",
    "plot_gmm",
    "plot_density",
    "plot_image_grid",
]

#: The book's colours: seaborn's colour-blind-safe ``"colorblind"`` palette, as 10 hex strings
#: (blue, orange, green, vermillion, pink, brown, light pink, grey, yellow, sky blue). Component
#: ``k`` of a mixture is drawn in ``PALETTE[k % 10]``. Introduced in {ref}`ch-quick-tour`.
PALETTE = [str(colour) for colour in seaborn.color_palette("colorblind").as_hex()]

# Settings applied by use_book_style(). Figures are 6.4 x 4 inches at 100 dpi; in a notebook they
# are sent as PNGs of twice that resolution, displayed at 640 x 400 (see _use_retina_figures).
_BOOK_RC = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": "figure",
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.labelsize": 12,
    "axes.titlesize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    "lines.linewidth": 2.0,
}


def use_book_style():
    """Set the book's Matplotlib style: palette, font sizes, figure size and resolution.

    Call it once, after importing :mod:`matplotlib.pyplot`, in the imports cell of each chapter.
    It updates :data:`matplotlib.rcParams` so that

    - the axes colour cycle is :data:`PALETTE` (seaborn's colour-blind-safe ``"colorblind"``);
    - fonts are readable (11 pt text, 12 pt axis labels, 10 pt tick labels and legends);
    - figures are 6.4 x 4 inches at 100 dpi, saved with a tight bounding box;
    - the top and right spines are hidden, and images use the ``viridis`` colour map.

    In a Jupyter kernel it also shows figures as "retina" PNGs: twice the pixels in each direction,
    tagged with their display width, so they stay sharp on high-density screens. MyST-NB copies
    that width into the book's ``<img>`` tags, so a figure shows at its usual size, only sharper,
    and narrows with its proportions kept on a narrow page. Outside a kernel (scripts, tests)
    only ``rcParams`` change.

    Nothing happens when :mod:`gmmlib.plotting` is merely imported. Calling it twice is harmless.
    Introduced in {ref}`ch-quick-tour`.

    Returns
    -------
    None

    Examples
    --------
    >>> import matplotlib as mpl
    >>> from gmmlib.plotting import PALETTE, use_book_style
    >>> use_book_style()
    >>> mpl.rcParams["axes.prop_cycle"].by_key()["color"] == PALETTE
    True
    """
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(_BOOK_RC)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)
    _use_retina_figures()


def _use_retina_figures():
    """In a running Jupyter kernel, show figures as double-resolution PNGs of their normal width.

    The PNG has twice the pixels in each direction and carries only its display *width* as
    metadata: MyST-NB copies that into the book's ``<img>`` style, and the browser derives the
    height from the picture. (IPython's own "retina" format also fixes the height, and a fixed
    height distorts a figure that the page narrows to fit.)
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the book's extra
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from matplotlib.figure import Figure

    # Importing the inline backend sets up its figure formatters now (it would otherwise do so
    # at the first figure, replacing ours).
    import matplotlib_inline.backend_inline  # noqa: F401

    shell.display_formatter.formatters["image/png"].for_type(Figure, _retina_png)


def _retina_png(figure):
    """Base64 PNG at twice the figure's dpi, with its display width (pixels at the figure's dpi)."""
    import base64
    import io

    if not figure.axes and not figure.lines and not figure.patches and not figure.images:
        return None  # an empty figure shows nothing, as in Jupyter's own formatter
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=2 * figure.dpi, bbox_inches="tight")
    png = buffer.getvalue()
    pixel_width = int.from_bytes(png[16:20], "big")  # from the PNG header (IHDR)
    return base64.b64encode(png).decode("ascii"), {"width": pixel_width // 2}


def _get_ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _equal_aspect(ax):
    """Equal scales on both axes (ellipses keep their shape) without empty margins.

    The axes box shrinks to the data's proportions (``adjustable="box"``); widening the data
    limits instead (``"datalim"``) would fill a wide panel with empty space beside tall data.
    """
    ax.set_aspect("equal", adjustable="box")


def _ellipse_geometry(covariance):
    """Width, height (both for n_std = 1, i.e. 2 standard deviations across) and angle (degrees)."""
    cov = np.asarray(covariance, dtype=float)
    if cov.ndim == 0 or cov.shape == (1,):
        cov = float(cov.reshape(())) * np.eye(2)
    elif cov.shape == (2,):
        cov = np.diag(cov)
    elif cov.shape != (2, 2):
        raise ValueError(
            "covariance must be a (2, 2) matrix, a (2,) diagonal or a scalar variance; "
            f"got an array of shape {cov.shape}. Ellipses are drawn for 2-D data only."
        )
    if not np.all(np.isfinite(cov)):
        raise ValueError("covariance contains NaN or infinite values.")
    if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(cov).max())):
        raise ValueError("covariance must be symmetric.")
    eigvals, eigvecs = np.linalg.eigh((cov + cov.T) / 2)
    if eigvals[0] < 0:
        raise ValueError(
            "covariance must be positive semi-definite; its smallest eigenvalue is "
            f"{eigvals[0]:.3g}."
        )
    # eigh sorts eigenvalues in ascending order: the last eigenvector is the major axis.
    major = eigvecs[:, 1]
    angle = float(np.degrees(np.arctan2(major[1], major[0])))
    angle = (angle + 90.0) % 180.0 - 90.0  # the same ellipse, with an angle in [-90, 90)
    width, height = 2 * float(np.sqrt(eigvals[1])), 2 * float(np.sqrt(eigvals[0]))
    return width, height, angle


def draw_ellipse(mean, covariance, ax=None, n_std=2.0, **kwargs):
    """Draw the ``n_std`` standard-deviation ellipse of a 2-D Gaussian.

    The ellipse is the set of points at Mahalanobis distance ``n_std`` from ``mean``: its axes
    point along the eigenvectors of the covariance, with half-lengths ``n_std`` times the square
    roots of the eigenvalues. Introduced in {ref}`ch-one-gaussian`.

    Parameters
    ----------
    mean : array-like of shape (2,)
        Centre of the ellipse, :math:`\\mu`.
    covariance : array-like of shape (2, 2), (2,) or scalar
        Covariance :math:`\\Sigma`: a full matrix, its diagonal (``"diag"`` covariance type) or a
        single variance shared by both coordinates (``"spherical"``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current axes by default.
    n_std : float, default=2.0
        Mahalanobis radius of the ellipse (number of standard deviations).
    **kwargs
        Passed to :class:`matplotlib.patches.Ellipse` (e.g. ``edgecolor``, ``facecolor``,
        ``alpha``, ``linewidth``, ``label``). Without colour arguments the ellipse is an unfilled
        outline in ``PALETTE[0]``.

    Returns
    -------
    matplotlib.patches.Ellipse
        The ellipse, already added to ``ax``. The axes limits are updated to include it.

    Raises
    ------
    ValueError
        If ``covariance`` has another shape, is not symmetric or not positive semi-definite.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from gmmlib.plotting import draw_ellipse
    >>> fig, ax = plt.subplots()
    >>> ellipse = draw_ellipse([0, 0], [[2.0, 0.6], [0.6, 0.5]], ax=ax, n_std=2)
    >>> round(float(ellipse.width), 3), round(float(ellipse.height), 3)
    (5.947, 2.152)
    >>> ellipse = draw_ellipse([3, 1], 0.25, ax=ax, edgecolor="k")  # spherical: a circle
    >>> ellipse.width == ellipse.height == 2.0
    True
    >>> plt.close(fig)
    """
    from matplotlib.patches import Ellipse

    ax = _get_ax(ax)
    mean = np.asarray(mean, dtype=float)
    if mean.shape != (2,):
        raise ValueError(f"mean must have shape (2,); got shape {mean.shape}.")
    width, height, angle = _ellipse_geometry(covariance)
    colour_keys = {"color", "c", "edgecolor", "ec", "facecolor", "fc", "fill"}
    if not colour_keys.intersection(kwargs):
        kwargs["fill"] = False
        kwargs["edgecolor"] = PALETTE[0]
    ellipse = Ellipse(
        xy=mean, width=n_std * width, height=n_std * height, angle=angle, **kwargs
    )
    ax.add_patch(ellipse)
    ax.autoscale_view()
    return ellipse


def _check_fitted_2d(model, what):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, ["means_", "covariances_", "weights_"])
    n_features = model.means_.shape[1]
    if n_features != 2:
        raise ValueError(
            f"{what} draws 2-D mixtures only; this model has {n_features} features. "
            "Project the data to two dimensions first (e.g. with PCA)."
        )


def _component_covariances(model):
    """One covariance per component in the forms draw_ellipse accepts."""
    cov_type = model.covariance_type
    covariances = np.asarray(model.covariances_)
    n_components = len(model.weights_)
    if cov_type == "tied":
        return [covariances] * n_components
    if cov_type in ("full", "diag", "spherical"):
        return list(covariances)
    raise ValueError(f"unknown covariance_type {cov_type!r}.")


def draw_gmm_ellipses(model, ax=None, n_std=(1, 2, 3)):
    """Draw the ellipses of every component of a fitted 2-D Gaussian mixture.

    Component ``k`` gets one filled ellipse per entry of ``n_std``, in colour ``PALETTE[k % 10]``,
    with an opacity proportional to its weight :math:`\\pi_k` (the heaviest component has
    opacity 0.2 per ellipse, so nested ellipses darken towards the mean, as in the *Python Data
    Science Handbook*). Works for the four covariance types: ``"full"`` (one matrix per
    component), ``"tied"`` (one matrix shared by all), ``"diag"`` (axis-aligned ellipses) and
    ``"spherical"`` (circles). Introduced in {ref}`ch-quick-tour`.

    Parameters
    ----------
    model : GaussianMixture
        A fitted :class:`gmmlib.GaussianMixture` (or scikit-learn's) with 2 features.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current axes by default.
    n_std : float or sequence of float, default=(1, 2, 3)
        Mahalanobis radii of the ellipses drawn for each component.

    Returns
    -------
    list of matplotlib.patches.Ellipse
        The ellipses, component by component (``len(n_std)`` per component).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    ValueError
        If the model does not have exactly 2 features.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import make_blobs
    >>> from gmmlib import GaussianMixture
    >>> from gmmlib.plotting import draw_gmm_ellipses
    >>> X, _ = make_blobs(n_samples=300, centers=3, random_state=42)
    >>> model = GaussianMixture(n_components=3, covariance_type="tied", random_state=0).fit(X)
    >>> fig, ax = plt.subplots()
    >>> ellipses = draw_gmm_ellipses(model, ax=ax)
    >>> len(ellipses)
    9
    >>> plt.close(fig)
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Ellipse

    _check_fitted_2d(model, "draw_gmm_ellipses")
    ax = _get_ax(ax)
    radii = np.atleast_1d(np.asarray(n_std, dtype=float))
    weights = np.asarray(model.weights_, dtype=float)
    alpha_scale = 0.2 / weights.max()
    ellipses = []
    for k, (mean, cov, weight) in enumerate(
        zip(model.means_, _component_covariances(model), weights)
    ):
        colour = PALETTE[k % len(PALETTE)]
        width, height, angle = _ellipse_geometry(cov)
        for radius in radii:
            ellipse = Ellipse(
                xy=mean,
                width=radius * width,
                height=radius * height,
                angle=angle,
                facecolor=to_rgba(colour, weight * alpha_scale),
                edgecolor="none",
                zorder=1,
            )
            ax.add_patch(ellipse)
            ellipses.append(ellipse)
    ax.autoscale_view()
    return ellipses


def plot_gmm(model, X, ax=None, label=True):
    """Scatter the data coloured by predicted component and draw the mixture's ellipses.

    The *Python Data Science Handbook* figure, updated for today's scikit-learn: points are
    coloured by ``model.predict(X)`` (component ``k`` in ``PALETTE[k % 10]``, legend label
    ``"component k+1"``), and each component gets its 1, 2 and 3 standard-deviation ellipses with
    an opacity proportional to its weight (see :func:`draw_gmm_ellipses`). Axes are labelled
    :math:`x_1`, :math:`x_2` (unless already labelled) and use equal scales, so the ellipses keep
    their true shape. Introduced in {ref}`ch-quick-tour`.

    Parameters
    ----------
    model : GaussianMixture
        A :class:`gmmlib.GaussianMixture` (or scikit-learn's) for 2-D data. If it is not fitted
        yet, it is fitted to ``X`` first (as in the Handbook).
    X : array-like of shape (N, 2)
        Data points :math:`x_n`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current axes by default.
    label : bool, default=True
        Colour the points by predicted component. With ``False`` all points are grey
        (``PALETTE[7]``) and only the ellipses show the components.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import make_blobs
    >>> from gmmlib import GaussianMixture
    >>> from gmmlib.plotting import plot_gmm
    >>> X, _ = make_blobs(n_samples=300, centers=3, random_state=42)
    >>> model = GaussianMixture(n_components=3, random_state=0).fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_gmm(model, X, ax=ax)
    >>> len(ax.patches), len(ax.collections)
    (9, 3)
    >>> plt.close(fig)
    """
    from sklearn.utils.validation import check_is_fitted
    from sklearn.exceptions import NotFittedError

    ax = _get_ax(ax)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2); got shape {X.shape}.")
    try:
        check_is_fitted(model, ["means_", "covariances_", "weights_"])
    except NotFittedError:
        model.fit(X)
    _check_fitted_2d(model, "plot_gmm")
    if label:
        labels = model.predict(X)
        for k in range(len(model.weights_)):
            points = X[labels == k]
            ax.scatter(
                points[:, 0],
                points[:, 1],
                s=16,
                color=PALETTE[k % len(PALETTE)],
                label=f"component {k + 1}",
                zorder=2,
            )
    else:
        ax.scatter(X[:, 0], X[:, 1], s=16, color=PALETTE[7], zorder=2)
    draw_gmm_ellipses(model, ax=ax)
    _equal_aspect(ax)
    if not ax.get_xlabel():
        ax.set_xlabel("$x_1$")
    if not ax.get_ylabel():
        ax.set_ylabel("$x_2$")
    return ax


def _grid_limits(values, pad=0.1):
    lo, hi = values.min(axis=0), values.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo - pad * span, hi + pad * span


def plot_density(model, X=None, ax=None, levels=10, grid_size=200):
    """Draw the log-density of a fitted model as contour lines (or its density curve in 1-D).

    For 2-D data the log-density :math:`\\log p(x)` (``model.score_samples``) is evaluated on a
    ``grid_size`` x ``grid_size`` grid covering the data (or, without data, three standard
    deviations around every component mean) and drawn as contour lines with the ``viridis``
    colour map; the data, if given, are drawn as small grey points. For 1-D data the density
    :math:`p(x)` itself is drawn as a curve over a grey density histogram of the data.
    Introduced in {ref}`ch-density-estimation`.

    Parameters
    ----------
    model : estimator
        A fitted density model with ``score_samples`` (e.g. :class:`gmmlib.GaussianMixture`,
        :class:`sklearn.neighbors.KernelDensity`) on 1 or 2 features.
    X : array-like of shape (N, D), optional
        Data to show under the contours and to set the plotting range. Required when the model
        has no ``means_`` (e.g. a kernel density estimate).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current axes by default.
    levels : int or array-like, default=10
        2-D only. An int gives that many contour levels, evenly spaced in log-density from a
        floor up to just below the maximum over the grid. The floor is the 1st percentile of the
        log-density of the data ``X`` (so the contours enclose nearly all points), or without
        data 10 below the maximum (density :math:`e^{-10}` times the peak). An array gives the
        levels themselves.
    grid_size : int, default=200
        Number of grid points per axis.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on. In 2-D, ``ax.collections`` holds the contour set, so
        ``plt.colorbar(ax.collections[-1], ax=ax)`` adds a colour bar.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from gmmlib import GaussianMixture
    >>> from gmmlib.datasets import make_two_moons
    >>> from gmmlib.plotting import plot_density
    >>> X, _ = make_two_moons(random_state=0)
    >>> model = GaussianMixture(n_components=6, random_state=0).fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_density(model, X, ax=ax, levels=8)
    >>> len(ax.collections[-1].levels)
    8
    >>> plt.close(fig)
    """
    ax = _get_ax(ax)
    if X is not None:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array of shape (N, D); got shape {X.shape}.")
        n_features = X.shape[1]
        lo, hi = _grid_limits(X)
    else:
        if not hasattr(model, "means_"):
            raise ValueError("pass X: the plotting range cannot be read from this model.")
        means = np.asarray(model.means_, dtype=float)
        n_features = means.shape[1]
        spread = 3 * np.sqrt(_max_variances(model))
        lo, hi = means.min(axis=0) - spread, means.max(axis=0) + spread
    if n_features == 1:
        grid = np.linspace(lo[0], hi[0], grid_size)
        density = np.exp(model.score_samples(grid[:, None]))
        if X is not None:
            ax.hist(X[:, 0], bins="auto", density=True, color=PALETTE[7], alpha=0.5)
        ax.plot(grid, density, color=PALETTE[0])
        if not ax.get_xlabel():
            ax.set_xlabel("$x$")
        if not ax.get_ylabel():
            ax.set_ylabel("density $p(x)$")
        return ax
    if n_features != 2:
        raise ValueError(f"plot_density draws 1-D or 2-D models only; got {n_features} features.")
    xs = np.linspace(lo[0], hi[0], grid_size)
    ys = np.linspace(lo[1], hi[1], grid_size)
    xx, yy = np.meshgrid(xs, ys)
    log_density = model.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))
    log_density = log_density.reshape(xx.shape)
    if np.ndim(levels) == 0:
        n_levels = int(levels)
        if n_levels < 1:
            raise ValueError(f"levels must be at least 1; got {levels}.")
        top = log_density.max()
        if X is not None:  # down to the density of the least typical data points
            bottom = np.percentile(model.score_samples(X), 1)
        else:  # down to e^-10 times the peak density
            bottom = top - 10.0
        bottom = min(bottom, top - 1e-6)
        levels = np.linspace(bottom, top, n_levels + 1)[:-1]
    if X is not None:
        ax.scatter(X[:, 0], X[:, 1], s=6, color=PALETTE[7], zorder=1)
    ax.contour(xx, yy, log_density, levels=levels, cmap="viridis", zorder=2)
    _equal_aspect(ax)
    if not ax.get_xlabel():
        ax.set_xlabel("$x_1$")
    if not ax.get_ylabel():
        ax.set_ylabel("$x_2$")
    return ax


def _max_variances(model):
    """Largest variance along each feature over all components, shape (D,)."""
    cov = np.asarray(model.covariances_, dtype=float)
    n_features = np.asarray(model.means_).shape[1]
    cov_type = getattr(model, "covariance_type", "full")
    if cov_type == "full":
        return np.diagonal(cov, axis1=1, axis2=2).max(axis=0)
    if cov_type == "tied":
        return np.diag(cov)
    if cov_type == "diag":
        return cov.max(axis=0)
    return np.full(n_features, cov.max())  # spherical


def plot_image_grid(images, n_rows, n_cols, ax=None, image_shape=(8, 8)):
    """Show images side by side in a grid, on one axes.

    The first ``n_rows * n_cols`` images are tiled row by row into one picture, separated by a
    one-pixel gap, and shown in the ``gray_r`` colour map (dark ink on white paper, as the
    digits data are usually shown) on a common scale, so brightness is comparable between
    images. Missing cells (fewer images than cells) stay blank. Introduced in
    {ref}`ch-generating-digits`.

    Parameters
    ----------
    images : array-like of shape (n_images, H * W) or (n_images, H, W)
        The images, flattened (like rows of a data matrix, e.g. samples from a mixture fitted to
        digits) or already 2-D.
    n_rows, n_cols : int
        Size of the grid.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current axes by default. Its ticks are removed.
    image_shape : tuple of int, default=(8, 8)
        ``(H, W)`` of one image, used when ``images`` are flattened.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (one :class:`~matplotlib.image.AxesImage` in ``ax.images``).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from gmmlib.datasets import load_digit_images
    >>> from gmmlib.plotting import plot_image_grid
    >>> images, X, y = load_digit_images()
    >>> fig, ax = plt.subplots()
    >>> ax = plot_image_grid(X[:20], n_rows=4, n_cols=5, ax=ax)
    >>> ax.images[0].get_array().shape  # 4 * 8 + 3 gaps, 5 * 8 + 4 gaps
    (35, 44)
    >>> plt.close(fig)
    """
    ax = _get_ax(ax)
    n_rows, n_cols = int(n_rows), int(n_cols)
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"n_rows and n_cols must be at least 1; got {n_rows}, {n_cols}.")
    images = np.asarray(images, dtype=float)
    height, width = (int(s) for s in image_shape)
    if images.ndim == 2:
        if images.shape[1] != height * width:
            raise ValueError(
                f"flattened images have {images.shape[1]} pixels, but image_shape={image_shape} "
                f"needs {height * width}."
            )
        images = images.reshape(-1, height, width)
    elif images.ndim == 3:
        height, width = images.shape[1:]
    else:
        raise ValueError(
            f"images must have shape (n_images, H * W) or (n_images, H, W); got {images.shape}."
        )
    images = images[: n_rows * n_cols]
    mosaic = np.full((n_rows * (height + 1) - 1, n_cols * (width + 1) - 1), np.nan)
    for i, image in enumerate(images):
        row, col = divmod(i, n_cols)
        top, left = row * (height + 1), col * (width + 1)
        mosaic[top : top + height, left : left + width] = image
    finite = images[np.isfinite(images)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    ax.imshow(mosaic, cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax
