"""Stand-in cupy.fft."""

import numpy as _np

from cupy import _populate

_names = _populate(globals(), _np.fft, set())
