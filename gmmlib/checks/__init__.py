"""Self-checks for the exercises.

Each ``check_*`` function calls the reader's function on random inputs drawn from a seeded
generator (:func:`~gmmlib.checks._core.check_rng`), compares the result with a reference computed
by :mod:`gmmlib`, and either prints a short success message or raises :class:`SelfCheckError`
saying, in plain words, what is wrong. Every check exported here goes through
:func:`~gmmlib.checks._core.self_check`, so :class:`SelfCheckError` is the only error a reader
ever sees from a check.
"""

from ._core import SelfCheckError, self_check
from .anomaly import *  # noqa: F401,F403
from .bayesian import *  # noqa: F401,F403
from .covariance import *  # noqa: F401,F403
from .density import *  # noqa: F401,F403
from .digits import *  # noqa: F401,F403
from .em import *  # noqa: F401,F403
from .kmeans import *  # noqa: F401,F403
from .mixture import *  # noqa: F401,F403
from .one_gaussian import *  # noqa: F401,F403
from .practice import *  # noqa: F401,F403
from .scaling import *  # noqa: F401,F403
from .selection import *  # noqa: F401,F403

# The one error type a reader sees, for every check exported here.
for _name in [name for name in dir() if name.startswith("check_")]:
    globals()[_name] = self_check(globals()[_name])
del _name
