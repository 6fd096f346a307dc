"""optax 0.2.8's float64_test.py on our optimizers (see _harness)."""

import pytest

from optax_suite import _harness

if _harness.skip_reason():
    pytest.skip(_harness.skip_reason(), allow_module_level=True)

globals().update(_harness.restricted(_harness.load("float64_test"),
                                     "float64_test"))
