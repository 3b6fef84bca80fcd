"""``gmmlib.scaling_benchmark``, the code behind the scaling table of ``make bench`` and chapter
11, on a tiny store: every path fits the in-memory model, and the timing reads what
``verbose=2`` prints (nothing here is asserted about how long anything takes)."""

import sys

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gmmlib import GaussianMixture
from gmmlib.scaling_benchmark import iteration_seconds, per_iteration, scaling_rows, write_store

zarr = pytest.importorskip("zarr")


@pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)
def test_iteration_seconds_reads_the_lines_verbose_2_prints(capsys):
    X = np.random.default_rng(0).normal(size=(500, 2))
    GaussianMixture(2, tol=0.0, max_iter=3, verbose=2, verbose_interval=1, random_state=0).fit(X)
    seconds = iteration_seconds(capsys.readouterr().out)
    assert len(seconds) == 3 and all(s >= 0 for s in seconds)


def test_per_iteration_splits_a_fit_into_iterations_and_the_rest():
    X = np.random.default_rng(0).normal(size=(2000, 2))
    step, fixed, model = per_iteration(
        lambda n: GaussianMixture(2, tol=0.0, max_iter=n, verbose=2, verbose_interval=1,
                                  random_state=0).fit(X), n_iter=3)
    assert step >= 0 and model.n_iter_ == 3
    with pytest.raises(RuntimeError, match="iteration lines"):
        per_iteration(lambda n: GaussianMixture(2, max_iter=n).fit(X), n_iter=3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the capped path needs RLIMIT_DATA")
def test_every_path_fits_the_in_memory_model(tmp_path):
    store = str(tmp_path / "rows.zarr")
    write_store(store, 30_000, n_features=4, n_components=3, block_rows=7_000)
    assert zarr.open_array(store).shape == (30_000, 4)
    pilot = GaussianMixture(3, random_state=0).fit(zarr.open_array(store)[:5000])
    start = dict(weights_init=pilot.weights_, means_init=pilot.means_,
                 precisions_init=pilot.precisions_)
    rows = scaling_rows(store, [30_000], start, block_rows=7_000, workdir=str(tmp_path))
    assert [r["path"].split(" (")[0] for r in rows] == ["in memory", "out of core",
                                                        "capped process"]
    assert "could be loaded" in rows[2]["path"]  # 1 MB of rows fit under 400 MiB
    for row in rows:
        assert row["rows"] == 30_000 and row["means_diff"] < 1e-10
        assert row["seconds_per_iteration"] >= 0 and row["peak_mb"] >= 0
