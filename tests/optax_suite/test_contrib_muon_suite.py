"""optax 0.2.8's contrib/_muon_test.py on our optimizers (see _harness)."""

import pytest

from optax_suite import _harness

if _harness.skip_reason():
    pytest.skip(_harness.skip_reason(), allow_module_level=True)

pytestmark = pytest.mark.slow

globals().update(_harness.restricted(_harness.load("contrib/_muon_test"),
                                     "contrib/_muon_test"))
