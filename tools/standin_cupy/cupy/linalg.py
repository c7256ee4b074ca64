"""Stand-in cupy.linalg."""

import numpy as _np

from cupy import _populate

_names = _populate(globals(), _np.linalg, {"LinAlgError"})
from numpy.linalg import LinAlgError  # noqa: E402,F401
