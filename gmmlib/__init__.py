"""gmmlib: Gaussian mixture models, fast and scikit-learn compatible.

The package behind the course *Gaussian Mixtures, from One Bell Curve to Generated Digits*.
Its estimator, :class:`gmmlib.GaussianMixture`, is a drop-in replacement for
:class:`sklearn.mixture.GaussianMixture`; its modules expose the mathematics one step at a time
so the chapters can call the same code they explain:

- :mod:`gmmlib.gaussian` -- one Gaussian: log-density via Cholesky, maximum likelihood, sampling.
- :mod:`gmmlib.em` -- the E-step, the M-step and the log-likelihood of a mixture, as derived.
- :mod:`gmmlib.engine` -- the fast EM engine behind every estimator (sufficient statistics).
- :mod:`gmmlib.model_selection` -- parameter counts, AIC/BIC/ICL and sweeps over the number of components.
- :mod:`gmmlib.anomaly` -- anomaly detection: a scaler and a mixture in one pipeline, trimmed refits.
- :mod:`gmmlib.plotting` -- the book's figure style, ellipses, densities and image grids.
- :mod:`gmmlib.datasets` -- the data sets the chapters use.
- :mod:`gmmlib.checks` -- self-checks for the exercises.
- :mod:`gmmlib.scaling` -- EM on memory maps, streams of chunks and Dask arrays (and
  :class:`gmmlib.MiniBatchGaussianMixture`, online EM).
- :mod:`gmmlib.memory` -- the memory a computation needs, per process and per Dask worker.

The estimators are imported with the package; the other modules load when first used.
"""

import importlib

from .bayesian import BayesianGaussianMixture
from .minibatch import MiniBatchGaussianMixture
from .mixture import GaussianMixture

# The teaching modules load on first use (PEP 562): plotting, datasets and the checks bring
# matplotlib, pandas and seaborn, which a fit does not need -- and every Dask worker imports
# gmmlib before its first task.
_SUBMODULES = ("anomaly", "checks", "datasets", "em", "engine", "gaussian", "memory",
               "model_selection", "plotting", "scaling")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gmmlib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))


__version__ = "0.2.1"

__all__ = [
    "BayesianGaussianMixture",
    "GaussianMixture",
    "MiniBatchGaussianMixture",
    "anomaly",
    "checks",
    "datasets",
    "em",
    "engine",
    "gaussian",
    "memory",
    "model_selection",
    "plotting",
    "scaling",
]
