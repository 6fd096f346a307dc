"""optax 0.2.8's transform_test.py on our optimizers (see _harness)."""

import pytest

from optax_suite import _harness

if _harness.skip_reason():
    pytest.skip(_harness.skip_reason(), allow_module_level=True)

globals().update(_harness.restricted(_harness.load("transform_test"),
                                     "transform_test"))
