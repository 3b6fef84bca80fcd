"""Self-checks for the exercises.

Each ``check_*`` function calls the reader's function on fresh random inputs, compares the result
with a reference computed by :mod:`gmmlib`, and either prints a short success message or raises
:class:`SelfCheckError` saying, in plain words, what is wrong.
"""

from ._core import SelfCheckError
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
