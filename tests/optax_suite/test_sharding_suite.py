"""optax 0.2.8's sharding_test.py on our optimizers (see _harness).

Its tests need 8 devices (``--xla_force_host_platform_device_count=8``, set
before JAX starts), so they run in one subprocess (``_sharding_worker.py``)
and each case here reports that run's outcome. The worker also lets its
``jax.__version__ < '0.7.2'`` guard compare versions rather than strings
(as strings, jax 0.10.2 is "older" and the sharding-in-types tests skip).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optax_suite import _harness

if _harness.skip_reason():
    pytest.skip(_harness.skip_reason(), allow_module_level=True)

CASES = [f"{cls.__name__}.{name}" for cls, name in _harness.test_cases(
    _harness.load("sharding_test"), "sharding_test")]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding") / "outcomes.json"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    worker = Path(__file__).with_name("_sharding_worker.py")
    proc = subprocess.run([sys.executable, str(worker), str(out)], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("case", CASES)
def test_sharding(case, outcomes):
    outcome, detail = outcomes[case]
    if outcome == "skipped":
        pytest.skip(detail)
    assert outcome == "passed", detail
