"""optax 0.2.8's contrib/_common_test.py on our optimizers (see _harness)."""

import pytest

from optax_suite import _harness

if _harness.skip_reason():
    pytest.skip(_harness.skip_reason(), allow_module_level=True)

pytestmark = pytest.mark.slow  # thousands of steps per case

globals().update(_harness.restricted(_harness.load("contrib/_common_test"),
                                     "contrib/_common_test"))
