"""Tests for gmmlib.model_selection: parameter counts, AIC/BIC/ICL and sweeps."""

import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture as SklearnGM

import gmmlib.model_selection
from gmmlib import GaussianMixture
from gmmlib.model_selection import aic, bic, icl, n_parameters, sweep

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
COLUMNS = ["n_components", "covariance_type", "log_likelihood", "aic", "bic", "icl",
           "n_parameters", "converged"]


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=200, centers=3, random_state=42)
    return X


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components", [1, 2, 5])
@pytest.mark.parametrize("n_features", [1, 2, 3, 10])
def test_n_parameters_matches_sklearn(covariance_type, n_components, n_features):
    model = SklearnGM(n_components=n_components, covariance_type=covariance_type)
    model.means_ = np.zeros((n_components, n_features))  # all _n_parameters() looks at
    assert n_parameters(n_components, n_features, covariance_type) == model._n_parameters()


def test_n_parameters_formulas():
    K, D = 4, 3
    assert n_parameters(K, D) == K * D * (D + 1) // 2 + K * D + K - 1
    assert n_parameters(K, D, "tied") == D * (D + 1) // 2 + K * D + K - 1
    assert n_parameters(K, D, "diag") == K * D + K * D + K - 1
    assert n_parameters(K, D, "spherical") == K + K * D + K - 1
    assert isinstance(n_parameters(np.int64(2), np.int64(2)), int)


@pytest.mark.parametrize(
    "args", [(0, 2, "full"), (2, 0, "full"), (2.5, 2, "full"), (2, 2, "ful"), (2, 2, None),
             (True, 2, "full")]
)
def test_n_parameters_rejects_bad_input(args):
    with pytest.raises(ValueError):
        n_parameters(*args)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_aic_bic_formulas_match_model(blobs, covariance_type):
    model = GaussianMixture(n_components=3, covariance_type=covariance_type, random_state=0)
    model.fit(blobs)
    total = model.score(blobs) * len(blobs)
    p = n_parameters(3, 2, covariance_type)
    assert aic(total, p) == pytest.approx(model.aic(blobs), rel=1e-12)
    assert bic(total, p, len(blobs)) == pytest.approx(model.bic(blobs), rel=1e-12)


def test_icl_is_bic_plus_the_map_log_responsibilities():
    rng = np.random.default_rng(0)
    resp = rng.dirichlet(np.ones(4), size=50)
    expected = -2.0 * (-120.0 + np.log(resp.max(axis=1)).sum()) + 7 * np.log(50)
    assert icl(-120.0, 7, resp) == pytest.approx(expected, rel=1e-14)
    assert icl(-120.0, 7, resp) == pytest.approx(
        bic(-120.0, 7, 50) - 2.0 * np.log(resp.max(axis=1)).sum(), rel=1e-14
    )


def test_icl_equals_bic_for_certain_assignments_and_exceeds_it_otherwise():
    certain = np.eye(3)[[0, 1, 2, 2, 1]]
    assert icl(-50.0, 8, certain) == pytest.approx(bic(-50.0, 8, 5), rel=1e-14)
    assert icl(-50.0, 8, np.ones((5, 1))) == pytest.approx(bic(-50.0, 8, 5), rel=1e-14)  # K = 1
    halves = np.full((4, 2), 0.5)  # every point split 50/50: 2 log 2 each
    assert icl(-50.0, 8, halves) - bic(-50.0, 8, 4) == pytest.approx(8 * np.log(2), rel=1e-12)


def test_icl_separates_overlapping_components_from_separated_ones():
    """Two well-separated groups: ICL is close to BIC. The same two components on top of each
    other: BIC barely changes, ICL pays about 2 log 2 per point."""
    rng = np.random.default_rng(1)
    far = np.vstack([rng.normal(-10, 1, (200, 1)), rng.normal(10, 1, (200, 1))])
    near = np.vstack([rng.normal(-0.1, 1, (200, 1)), rng.normal(0.1, 1, (200, 1))])
    for X, gap_bounds in [(far, (0.0, 1.0)), (near, (100.0, 2 * 400 * np.log(2) + 1e-9))]:
        model = GaussianMixture(n_components=2, random_state=0).fit(X)
        total = model.score(X) * len(X)
        gap = icl(total, 5, model.predict_proba(X)) - bic(total, 5, len(X))
        assert gap_bounds[0] <= gap <= gap_bounds[1]


@pytest.mark.parametrize(
    "resp",
    [np.ones(5), np.empty((0, 2)), np.log(np.full((3, 2), 0.5)), np.array([[0.5, 0.6]]),
     np.array([[np.nan, 1.0]]), np.array([[1.5, -0.5]])],
    ids=["1-D", "empty", "log-probabilities", "rows-not-summing-to-1", "nan", "negative"],
)
def test_icl_rejects_what_are_not_responsibilities(resp):
    with pytest.raises(ValueError, match="responsibilities"):
        icl(-10.0, 3, resp)


def test_sweep_table(blobs):
    table = sweep(blobs, range(1, 5), covariance_types=COVARIANCE_TYPES, progress=False)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == COLUMNS
    assert len(table) == 16
    assert table["covariance_type"].tolist() == [ct for ct in COVARIANCE_TYPES for _ in range(4)]
    assert table["n_components"].tolist() == [1, 2, 3, 4] * 4
    assert table["n_components"].dtype == np.int64 and table["n_parameters"].dtype == np.int64
    assert table["converged"].dtype == bool
    for row in table.itertuples():
        model = GaussianMixture(
            n_components=row.n_components, covariance_type=row.covariance_type, random_state=0
        ).fit(blobs)
        assert row.log_likelihood == pytest.approx(model.score(blobs), rel=1e-12)
        assert row.aic == pytest.approx(model.aic(blobs), rel=1e-12)
        assert row.bic == pytest.approx(model.bic(blobs), rel=1e-12)
        assert row.icl == pytest.approx(
            icl(model.score(blobs) * len(blobs), row.n_parameters, model.predict_proba(blobs)),
            rel=1e-12,
        )
        assert row.n_parameters == model._n_parameters() == n_parameters(
            row.n_components, 2, row.covariance_type
        )
        assert row.converged == model.converged_
    best = table.loc[table["bic"].idxmin()]
    assert best["n_components"] == 3


def test_sweep_bic_matches_sklearn_estimator(blobs):
    table = sweep(blobs, [2, 3], covariance_types="diag", progress=False)
    for row in table.itertuples():
        ref = SklearnGM(n_components=row.n_components, covariance_type="diag", random_state=0)
        ref.fit(blobs)
        assert row.bic == pytest.approx(ref.bic(blobs), rel=1e-6)


def test_sweep_passes_options(blobs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # non-convergence is reported, not warned
        table = sweep(blobs, [3], max_iter=1, init_params="random", tol=1e-12, progress=False)
    assert not table["converged"].any()
    ref = GaussianMixture(n_components=3, max_iter=1, init_params="random", tol=1e-12,
                          random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(blobs)
    assert table["log_likelihood"].iloc[0] == pytest.approx(ref.score(blobs), rel=1e-12)


def test_sweep_n_init_and_random_state(blobs):
    a = sweep(blobs, [2, 3], n_init=2, random_state=1, progress=False)
    b = sweep(blobs, [2, 3], n_init=2, random_state=1, progress=False)
    pd.testing.assert_frame_equal(a, b)
    ref = GaussianMixture(n_components=2, n_init=2, random_state=1).fit(blobs)
    assert a["log_likelihood"].iloc[0] == pytest.approx(ref.score(blobs), rel=1e-12)


def test_sweep_accepts_dataframe(blobs):
    frame = pd.DataFrame(blobs, columns=["a", "b"])
    table = sweep(frame, [1, 2], progress=False)
    pd.testing.assert_frame_equal(table, sweep(blobs, [1, 2], progress=False))


@pytest.mark.parametrize(
    "kwargs", [{"n_components_range": [0, 1]}, {"n_components_range": [1.5]},
               {"n_components_range": [1], "covariance_types": ("full", "round")}]
)
def test_sweep_rejects_bad_input(blobs, kwargs):
    with pytest.raises(ValueError):
        sweep(blobs, progress=False, **kwargs)


def test_sweep_empty_range(blobs):
    table = sweep(blobs, [], progress=True)
    assert list(table.columns) == COLUMNS and len(table) == 0


def _bar_output(capsys):
    return capsys.readouterr().err


def test_progress_bar_on_and_off(blobs, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.delenv("GMMLIB_PROGRESS", raising=False)
    sweep(blobs, [1, 2], progress=True)
    assert "2/2" in _bar_output(capsys)
    sweep(blobs, [1, 2], progress=False)
    assert _bar_output(capsys) == ""
    sweep(blobs, [1, 2])  # None: on by default
    assert "2/2" in _bar_output(capsys)
    monkeypatch.setenv("GMMLIB_PROGRESS", "0")
    sweep(blobs, [1, 2])  # None: off when GMMLIB_PROGRESS=0
    assert _bar_output(capsys) == ""
    sweep(blobs, [1, 2], progress=True)  # explicit True wins
    assert "2/2" in _bar_output(capsys)


def test_progress_without_tqdm(blobs, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.delenv("GMMLIB_PROGRESS", raising=False)
    assert len(sweep(blobs, [1], progress=None)) == 1  # quietly without a bar
    with pytest.raises(ImportError, match="tqdm"):
        sweep(blobs, [1], progress=True)


def test_doctests_run():
    result = doctest.testmod(gmmlib.model_selection)
    assert result.failed == 0 and result.attempted > 0
