"""Type names shared across the stages."""

from __future__ import annotations

import jax
import numpy as np

#: An array on the device or on the host: the containers that hold data
#: and metrics carry either, depending on which side of a transfer they are.
Array = jax.Array | np.ndarray
