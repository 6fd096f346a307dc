"""optax 0.2.8's contrib/_schedule_free_test.py on our optimizers."""

import pytest

from optax_suite import _harness

if _harness.skip_reason():
    pytest.skip(_harness.skip_reason(), allow_module_level=True)

pytestmark = pytest.mark.slow

globals().update(_harness.restricted(_harness.load("contrib/_schedule_free_test"),
                                     "contrib/_schedule_free_test"))
