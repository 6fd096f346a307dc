"""optax's tests expect standard dtype promotion and x64 off between tests.

The project's tests run under strict promotion (tests/conftest.py); here
each test runs under standard promotion, with our implementations swapped
into optax's modules, and ``jax_enable_x64`` restored afterwards (optax's
float64 test turns it on and only turns it off when it passes).
"""

import jax
import pytest

from optax_suite import _harness


@pytest.fixture(autouse=True)
def _optax_test_environment():
    x64 = jax.config.jax_enable_x64
    try:
        with jax.numpy_dtype_promotion("standard"), _harness.swapped():
            yield
    finally:
        jax.config.update("jax_enable_x64", x64)
