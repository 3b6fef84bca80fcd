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
"""

from . import anomaly, checks, datasets, em, engine, gaussian, model_selection, plotting
from .bayesian import BayesianGaussianMixture
from .minibatch import MiniBatchGaussianMixture
from .mixture import GaussianMixture

__version__ = "0.1.0"

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
    "model_selection",
    "plotting",
]
