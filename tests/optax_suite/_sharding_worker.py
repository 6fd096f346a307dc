"""Runs the selected cases of optax's sharding_test.py on 8 CPU devices.

Usage: ``python _sharding_worker.py OUT.json``; writes
``{"Class.method": [outcome, detail]}`` with outcome passed, failed or
skipped. Started by test_sharding_suite.py.
"""

import json
import os
import sys
import unittest
from pathlib import Path

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
from packaging.version import Version

from optax_suite import _harness


class _ComparableVersion(str):
    """``jax.__version__`` that compares as a version, not as a string.

    sharding_test skips unless ``jax.__version__ >= '0.7.2'`` as *strings*,
    which is False for jax '0.10.2'; with this, its sharding-in-types tests
    run as intended (the value is unchanged).
    """

    def __lt__(self, other):
        return Version(self) < Version(other)


def main(out: str) -> None:
    jax.__version__ = _ComparableVersion(jax.__version__)
    module = _harness.load("sharding_test")
    results = {}
    for cls, name in _harness.test_cases(module, "sharding_test"):
        result = unittest.TestResult()
        with _harness.swapped():
            cls(name).run(result)
        problems = result.failures + result.errors
        if problems:
            results[f"{cls.__name__}.{name}"] = ["failed", problems[0][1]]
        elif result.skipped:
            results[f"{cls.__name__}.{name}"] = ["skipped",
                                                 result.skipped[0][1]]
        else:
            results[f"{cls.__name__}.{name}"] = ["passed", ""]
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
