"""Tests for gmmlib.plotting: artists drawn (counts, geometry, colours, labels), not pixels."""

import base64
import struct
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb, to_rgba  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from gmmlib import GaussianMixture  # noqa: E402
from gmmlib.plotting import (  # noqa: E402
    PALETTE,
    draw_ellipse,
    draw_gmm_ellipses,
    plot_density,
    plot_gmm,
    plot_image_grid,
    use_book_style,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture
def restore_rc():
    with mpl.rc_context():
        yield


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=300, centers=3, random_state=42)
    return X


@pytest.fixture(scope="module")
def fitted(blobs):
    return {
        ct: GaussianMixture(n_components=3, covariance_type=ct, random_state=0).fit(blobs)
        for ct in COVARIANCE_TYPES
    }


def full_covariance(model, k):
    cov = np.asarray(model.covariances_)
    D = model.means_.shape[1]
    return {
        "full": lambda: cov[k],
        "tied": lambda: cov,
        "diag": lambda: np.diag(cov[k]),
        "spherical": lambda: cov[k] * np.eye(D),
    }[model.covariance_type]()


def boundary_mahalanobis(ellipse, mean, covariance):
    """Mahalanobis distances from ``mean`` of points on the drawn ellipse's outline."""
    t = np.linspace(0, 2 * np.pi, 50)
    # An Ellipse patch is the unit circle mapped by its patch transform.
    vertices = ellipse.get_patch_transform().transform(np.column_stack([np.cos(t), np.sin(t)]))
    diff = vertices - np.asarray(mean)
    precision = np.linalg.inv(covariance)
    return np.sqrt(np.einsum("ni,ij,nj->n", diff, precision, diff))


# --- palette and style ---------------------------------------------------------------------


def test_palette_is_seaborn_colorblind():
    assert len(PALETTE) == 10
    assert all(isinstance(c, str) and c.startswith("#") and len(c) == 7 for c in PALETTE)
    sns = pytest.importorskip("seaborn")
    assert PALETTE == sns.color_palette("colorblind").as_hex()


def test_import_has_no_side_effects():
    code = (
        "import matplotlib as mpl\n"
        "before = {k: repr(v) for k, v in mpl.rcParams.items()}\n"
        "import gmmlib.plotting\n"
        "after = {k: repr(v) for k, v in mpl.rcParams.items()}\n"
        "changed = [k for k in before if before[k] != after[k]]\n"
        "assert not changed, changed\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_use_book_style(restore_rc):
    use_book_style()
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"] == PALETTE
    assert mpl.rcParams["font.size"] >= 10
    assert mpl.rcParams["axes.labelsize"] >= 10
    assert mpl.rcParams["figure.dpi"] <= 100
    assert mpl.rcParams["savefig.bbox"] == "tight"
    width, height = mpl.rcParams["figure.figsize"]
    assert 5 <= width <= 8 and 3 <= height <= 6
    snapshot = {k: repr(v) for k, v in mpl.rcParams.items()}
    use_book_style()  # idempotent
    assert snapshot == {k: repr(v) for k, v in mpl.rcParams.items()}


def test_book_style_lines_use_palette(restore_rc):
    use_book_style()
    fig, ax = plt.subplots()
    lines = [ax.plot([0, 1], [i, i])[0] for i in range(3)]
    assert [line.get_color() for line in lines] == PALETTE[:3]
    plt.close(fig)


def test_book_style_sends_retina_figures_from_a_kernel(tmp_path):
    """In a notebook, figures arrive as double-resolution PNGs tagged with their display size."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "from gmmlib.plotting import use_book_style\n"
            "use_book_style()"
        ),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\nplt.show()"),
    ]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    [output] = [o for o in notebook.cells[1].outputs if "image/png" in o.get("data", {})]
    metadata = output["metadata"]["image/png"]
    png = base64.b64decode(output["data"]["image/png"])
    pixel_width, pixel_height = struct.unpack(">II", png[16:24])  # the PNG header (IHDR)
    assert pixel_width // 2 == metadata["width"]
    assert 500 <= metadata["width"] <= 640 and 300 <= pixel_height // 2 <= 400
    # no height: the book's <img> would keep it while narrowing the width on a narrow page
    assert "height" not in metadata


def test_book_style_keeps_pngs_small(restore_rc, blobs, fitted, tmp_path):
    use_book_style()
    fig, ax = plt.subplots()
    plot_gmm(fitted["full"], blobs, ax=ax)
    path = tmp_path / "figure.png"
    fig.savefig(path)
    plt.close(fig)
    assert path.stat().st_size < 150_000


# --- draw_ellipse --------------------------------------------------------------------------


def rotated_covariance(degrees, variances):
    theta = np.radians(degrees)
    R = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return R @ np.diag(variances) @ R.T


def test_draw_ellipse_geometry(ax):
    cov = rotated_covariance(30, [4.0, 1.0])
    ellipse = draw_ellipse([1.0, -2.0], cov, ax=ax, n_std=2.0)
    assert isinstance(ellipse, Ellipse)
    assert ellipse in ax.patches
    assert ellipse.center == pytest.approx((1.0, -2.0))
    assert ellipse.width == pytest.approx(2 * 2.0 * 2.0)  # 2 * n_std * sqrt(4)
    assert ellipse.height == pytest.approx(2 * 2.0 * 1.0)
    assert ellipse.angle == pytest.approx(30.0)
    np.testing.assert_allclose(boundary_mahalanobis(ellipse, [1.0, -2.0], cov), 2.0, rtol=1e-9)


@pytest.mark.parametrize("n_std", [1.0, 2.0, 3.0])
def test_draw_ellipse_outline_is_at_n_std(ax, n_std):
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    ellipse = draw_ellipse([0.0, 0.0], cov, ax=ax, n_std=n_std)
    np.testing.assert_allclose(boundary_mahalanobis(ellipse, [0, 0], cov), n_std, rtol=1e-9)


def test_draw_ellipse_covariance_forms_agree(ax):
    full = draw_ellipse([0, 0], np.diag([3.0, 0.5]), ax=ax)
    diag = draw_ellipse([0, 0], [3.0, 0.5], ax=ax)
    assert (diag.width, diag.height) == pytest.approx((full.width, full.height))
    assert diag.angle % 180 == pytest.approx(full.angle % 180)
    circle = draw_ellipse([0, 0], 0.25, ax=ax, n_std=2)
    matrix = draw_ellipse([0, 0], 0.25 * np.eye(2), ax=ax, n_std=2)
    assert circle.width == pytest.approx(2.0) and circle.height == pytest.approx(2.0)
    assert (matrix.width, matrix.height) == pytest.approx((2.0, 2.0))


def test_draw_ellipse_default_style_and_kwargs(ax):
    plain = draw_ellipse([0, 0], np.eye(2), ax=ax)
    assert not plain.get_fill()
    assert plain.get_edgecolor() == pytest.approx(to_rgba(PALETTE[0]))
    styled = draw_ellipse([0, 0], np.eye(2), ax=ax, facecolor=PALETTE[2], alpha=0.3, label="a")
    assert styled.get_facecolor()[:3] == pytest.approx(to_rgb(PALETTE[2]))
    assert styled.get_alpha() == 0.3
    assert styled.get_label() == "a"


def test_draw_ellipse_uses_current_axes():
    fig, ax = plt.subplots()
    ellipse = draw_ellipse([0, 0], np.eye(2))
    assert ellipse in ax.patches
    plt.close(fig)


def test_draw_ellipse_updates_limits(ax):
    draw_ellipse([10.0, 10.0], np.eye(2), ax=ax, n_std=2)
    xmin, xmax = ax.get_xlim()
    assert xmin <= 8.0 and xmax >= 12.0


@pytest.mark.parametrize(
    "mean, covariance",
    [
        ([0, 0], np.eye(3)),  # 3-D
        ([0, 0, 0], np.eye(2)),  # mean of the wrong shape
        ([0, 0], [[1.0, 2.0], [2.0, 1.0]]),  # not positive semi-definite
        ([0, 0], [[1.0, 0.5], [0.0, 1.0]]),  # not symmetric
        ([0, 0], [[np.nan, 0.0], [0.0, 1.0]]),
    ],
)
def test_draw_ellipse_rejects_bad_input(ax, mean, covariance):
    with pytest.raises(ValueError):
        draw_ellipse(mean, covariance, ax=ax)


# --- draw_gmm_ellipses ---------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_draw_gmm_ellipses_all_covariance_types(ax, fitted, covariance_type):
    model = fitted[covariance_type]
    ellipses = draw_gmm_ellipses(model, ax=ax)
    assert len(ellipses) == 3 * 3
    assert all(e in ax.patches for e in ellipses)
    alphas = []
    for k in range(3):
        group = ellipses[3 * k : 3 * k + 3]
        cov = full_covariance(model, k)
        for n_std, ellipse in zip((1, 2, 3), group):
            assert ellipse.get_facecolor()[:3] == pytest.approx(to_rgb(PALETTE[k]))
            np.testing.assert_allclose(
                boundary_mahalanobis(ellipse, model.means_[k], cov), n_std, rtol=1e-8
            )
        alphas.append(group[0].get_facecolor()[3])
    # opacity proportional to the weight, 0.2 for the heaviest component
    np.testing.assert_allclose(alphas, 0.2 * model.weights_ / model.weights_.max())
    if covariance_type == "tied":
        shapes = {(round(e.width, 9), round(e.height, 9), round(e.angle, 6)) for e in ellipses[::3]}
        assert len(shapes) == 1
    if covariance_type == "spherical":
        assert all(e.width == pytest.approx(e.height) for e in ellipses)
    if covariance_type == "diag":
        assert all(round(e.angle) % 90 == 0 for e in ellipses)


def test_draw_gmm_ellipses_n_std(ax, fitted):
    assert len(draw_gmm_ellipses(fitted["full"], ax=ax, n_std=2)) == 3
    assert len(draw_gmm_ellipses(fitted["full"], ax=ax, n_std=(1, 2))) == 6


def test_draw_gmm_ellipses_many_components_cycle_palette(ax):
    X, _ = make_blobs(n_samples=240, centers=12, random_state=0)
    model = GaussianMixture(n_components=12, random_state=0).fit(X)
    ellipses = draw_gmm_ellipses(model, ax=ax, n_std=1)
    assert [e.get_facecolor()[:3] for e in ellipses] == [
        pytest.approx(to_rgb(PALETTE[k % 10])) for k in range(12)
    ]


def test_draw_gmm_ellipses_requires_fitted_2d(ax):
    with pytest.raises(NotFittedError):
        draw_gmm_ellipses(GaussianMixture(n_components=2), ax=ax)
    X3, _ = make_blobs(n_samples=60, n_features=3, centers=2, random_state=0)
    model3 = GaussianMixture(n_components=2, random_state=0).fit(X3)
    with pytest.raises(ValueError, match="2-D"):
        draw_gmm_ellipses(model3, ax=ax)


def test_draw_gmm_ellipses_accepts_sklearn_model(ax, blobs):
    from sklearn.mixture import GaussianMixture as SklearnGM

    model = SklearnGM(n_components=3, covariance_type="diag", random_state=0).fit(blobs)
    assert len(draw_gmm_ellipses(model, ax=ax)) == 9


# --- plot_gmm ------------------------------------------------------------------------------


def test_plot_gmm_labels_and_colours(ax, blobs, fitted):
    model = fitted["full"]
    assert plot_gmm(model, blobs, ax=ax) is ax
    assert len(ax.collections) == 3
    assert len(ax.patches) == 9
    labels = model.predict(blobs)
    for k, scatter in enumerate(ax.collections):
        assert scatter.get_label() == f"component {k + 1}"
        assert scatter.get_facecolor()[0][:3] == pytest.approx(to_rgb(PALETTE[k]))
        np.testing.assert_allclose(scatter.get_offsets(), blobs[labels == k])
        assert scatter.get_zorder() > ax.patches[0].get_zorder()
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"
    assert ax.get_aspect() == 1.0
    handles, legend_labels = ax.get_legend_handles_labels()
    assert legend_labels == ["component 1", "component 2", "component 3"]


def test_plot_gmm_without_labels(ax, blobs, fitted):
    plot_gmm(fitted["diag"], blobs, ax=ax, label=False)
    assert len(ax.collections) == 1
    assert ax.collections[0].get_facecolor()[0][:3] == pytest.approx(to_rgb(PALETTE[7]))
    assert len(ax.collections[0].get_offsets()) == len(blobs)
    assert len(ax.patches) == 9


def test_plot_gmm_fits_unfitted_model_and_keeps_labels(ax, blobs):
    model = GaussianMixture(n_components=3, random_state=0)
    ax.set_xlabel("first feature")
    plot_gmm(model, blobs, ax=ax)
    assert hasattr(model, "means_")
    assert ax.get_xlabel() == "first feature"
    assert ax.get_ylabel() == "$x_2$"


def test_plot_gmm_current_axes(blobs, fitted):
    fig, ax = plt.subplots()
    assert plot_gmm(fitted["spherical"], blobs) is ax
    plt.close(fig)


@pytest.mark.parametrize("share", [{"sharex": True, "sharey": True}, {"sharey": True}, {}])
def test_plot_gmm_and_density_on_shared_axes(blobs, fitted, share):
    fig, axes = plt.subplots(1, 2, **share)
    plot_gmm(fitted["full"], blobs, ax=axes[0])
    plot_density(fitted["full"], blobs, ax=axes[1], grid_size=30)
    fig.canvas.draw()  # the aspect is applied at draw time
    assert all(a.get_aspect() == 1.0 for a in axes)
    plt.close(fig)


def test_plot_gmm_panel_has_no_empty_margin(blobs, fitted):
    """Equal scales shrink the panel to the data; they do not pad the data with empty space."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))  # wider than the data, which are taller than wide
    plot_gmm(fitted["full"], blobs, ax=ax)
    fig.canvas.draw()
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    for (lo, hi), values in [((xmin, xmax), blobs[:, 0]), ((ymin, ymax), blobs[:, 1])]:
        data_span = values.max() - values.min()
        assert hi - lo < 1.4 * data_span, "more than a fifth of the panel is empty"
    bbox = ax.get_position()
    ratio = (bbox.width * fig.get_figwidth()) / (bbox.height * fig.get_figheight())
    assert ratio == pytest.approx((xmax - xmin) / (ymax - ymin), rel=1e-6)
    plt.close(fig)


def test_plot_gmm_rejects_wrong_dimension(ax, fitted):
    with pytest.raises(ValueError):
        plot_gmm(fitted["full"], np.zeros((5, 3)), ax=ax)


# --- plot_density --------------------------------------------------------------------------


def contour_sets(ax):
    from matplotlib.contour import ContourSet

    return [c for c in ax.collections if isinstance(c, ContourSet)]


def test_plot_density_2d(ax, blobs, fitted):
    assert plot_density(fitted["full"], blobs, ax=ax, levels=7, grid_size=50) is ax
    (contours,) = contour_sets(ax)
    assert len(contours.levels) == 7
    assert np.all(np.diff(contours.levels) > 0)
    # levels are log-densities between the data's low end and the peak
    scores = fitted["full"].score_samples(blobs)
    assert contours.levels[0] == pytest.approx(np.percentile(scores, 1))
    assert contours.levels[-1] < scores.max() + 1
    scatter = [c for c in ax.collections if c not in contour_sets(ax)]
    assert len(scatter) == 1 and len(scatter[0].get_offsets()) == len(blobs)
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"


def test_plot_density_explicit_levels_and_no_data(ax, fitted):
    plot_density(fitted["tied"], ax=ax, levels=[-8.0, -6.0, -4.0], grid_size=40)
    (contours,) = contour_sets(ax)
    np.testing.assert_allclose(contours.levels, [-8.0, -6.0, -4.0])
    assert len(ax.collections) == 1  # no data points


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_plot_density_range_without_data(ax, fitted, covariance_type):
    model = fitted[covariance_type]
    plot_density(model, ax=ax, grid_size=30)
    xmin, xmax = ax.get_xlim()
    assert xmin < model.means_[:, 0].min() and xmax > model.means_[:, 0].max()


def test_plot_density_1d(ax):
    x = np.random.default_rng(0).normal(size=(200, 1))
    model = GaussianMixture(n_components=2, random_state=0).fit(x)
    plot_density(model, x, ax=ax, grid_size=100)
    (line,) = ax.lines
    xs, ys = line.get_data()
    assert len(xs) == 100
    np.testing.assert_allclose(ys, np.exp(model.score_samples(xs[:, None])))
    assert line.get_color() == PALETTE[0]
    assert len(ax.patches) > 0  # the histogram
    assert ax.get_ylabel() == "density $p(x)$"


def test_plot_density_kernel_density_needs_data(ax, blobs):
    from sklearn.neighbors import KernelDensity

    kde = KernelDensity(bandwidth=0.5).fit(blobs)
    with pytest.raises(ValueError, match="pass X"):
        plot_density(kde, ax=ax)
    plot_density(kde, blobs, ax=ax, grid_size=30)
    assert len(contour_sets(ax)) == 1


def test_plot_density_rejects_3d(ax):
    X3, _ = make_blobs(n_samples=60, n_features=3, centers=2, random_state=0)
    model3 = GaussianMixture(n_components=2, random_state=0).fit(X3)
    with pytest.raises(ValueError):
        plot_density(model3, X3, ax=ax)


# --- plot_image_grid -----------------------------------------------------------------------


def test_plot_image_grid_flat_images(ax):
    images = np.arange(6 * 64, dtype=float).reshape(6, 64)
    assert plot_image_grid(images, 2, 3, ax=ax) is ax
    (image,) = ax.images
    mosaic = image.get_array()
    assert mosaic.shape == (2 * 8 + 1, 3 * 8 + 2)
    np.testing.assert_array_equal(mosaic[:8, :8], images[0].reshape(8, 8))
    np.testing.assert_array_equal(mosaic[9:17, 18:26], images[5].reshape(8, 8))
    assert np.all(np.isnan(np.ma.filled(mosaic.astype(float), np.nan)[8, :]))  # the gap
    assert image.get_cmap().name == "gray_r"
    assert image.get_clim() == (images.min(), images.max())
    assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0


def test_plot_image_grid_3d_images_and_blank_cells(ax):
    images = np.ones((3, 4, 5))
    plot_image_grid(images, 2, 2, ax=ax)
    mosaic = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    assert mosaic.shape == (2 * 4 + 1, 2 * 5 + 1)
    assert np.all(np.isnan(mosaic[5:, 6:]))  # fourth cell is blank


def test_plot_image_grid_takes_first_images(ax):
    images = np.random.default_rng(0).random((30, 16))
    plot_image_grid(images, 2, 2, ax=ax, image_shape=(4, 4))
    mosaic = ax.images[0].get_array()
    np.testing.assert_allclose(mosaic[:4, :4], images[0].reshape(4, 4))
    assert mosaic.shape == (9, 9)


def test_plot_image_grid_rejects_bad_shapes(ax):
    with pytest.raises(ValueError, match="pixels"):
        plot_image_grid(np.zeros((4, 60)), 2, 2, ax=ax)
    with pytest.raises(ValueError):
        plot_image_grid(np.zeros(64), 1, 1, ax=ax)
    with pytest.raises(ValueError):
        plot_image_grid(np.zeros((4, 64)), 0, 2, ax=ax)


def test_doctests_run():
    import doctest

    import gmmlib.plotting

    result = doctest.testmod(gmmlib.plotting)
    assert result.failed == 0 and result.attempted > 0
    plt.close("all")
