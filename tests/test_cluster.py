"""The cluster object: a no-op for one process; members sharded over 4
(forced) CPU devices equal a 1-device run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT
from jaxmnist.sweep.cluster import cluster, join_failure, pad_members

SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import jax, numpy as np
from helpers import synthetic_dataset
from jaxmnist.core.config import stack_hparams
from jaxmnist.core.train import member_key
from jaxmnist.sweep.cluster import along, cluster, pad_members
from jaxmnist.sweep.config import SweepConfig
from jaxmnist.sweep.group import train_group
from jaxmnist.sweep.placed import group_programs

data = synthetic_dataset(n_train=128, n_val=32, n_test=32)
cfg = SweepConfig(activations=("relu", "tanh", "elu"), optimizers=("adam",),
                  learning_rates=(("adam", (1e-3, 3e-3)),), epochs=2,
                  batch_size=32, probe_every=1)
(spec,) = cfg.groups()
group = train_group(spec, data, progress=False)
# the device-side arrays of the same programs, to inspect their shardings
mesh = cluster.mesh()
init = group_programs(spec.config, data, mesh).init
hp = jax.device_put(pad_members(
    stack_hparams([c.hparams(()) for c in spec.cells]),
    -(-6 // mesh.size) * mesh.size), along(mesh, 1, 0))
keys = jax.vmap(member_key, in_axes=(None, 0))(0, np.arange(1))
state = init(keys, hp, data)
w1 = state.params[0]["w"]
print(json.dumps({
    "devices": jax.device_count(),
    "w1_devices": len(w1.sharding.device_set),
    "w1_shard_shapes": sorted({tuple(s.data.shape)
                               for s in w1.addressable_shards}),
    "val_loss": np.asarray(group.history.val_loss).tolist(),
    "members": [list(map(str, m)) for m in group.members],
    "w2": np.asarray(group.params[1]["w"]).sum(axis=(1, 2)).tolist(),
    "sharpness": np.asarray(group.dynamics.sharpness).tolist(),
}))
"""


def run(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}")
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "tests")],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # subprocesses with 1 and 4 host devices
def test_members_are_spread_and_results_match():
    one, four = run(1), run(4)
    assert one["devices"] == 1 and four["devices"] == 4
    assert four["w1_devices"] == 4
    # 6 members padded to 8 over 4 devices: each holds 2 along the member axis
    # (W1 keeps its member axis in the middle: [seed, 784, member, 128])
    assert four["w1_shard_shapes"] == [[1, 784, 2, 128]]
    assert one["members"] == four["members"] and len(four["members"]) == 6
    np.testing.assert_allclose(four["val_loss"], one["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(four["w2"], one["w2"], rtol=1e-4, atol=1e-4)
    # the probe program, its members merged over the split cell axis
    assert np.isfinite(four["sharpness"]).all()
    assert np.shape(four["sharpness"]) == (6, 2)  # members, epochs
    np.testing.assert_allclose(four["sharpness"], one["sharpness"],
                               rtol=1e-3)


def test_pad_members_repeats_the_last_row():
    out = pad_members({"a": np.arange(3)}, 5)
    np.testing.assert_array_equal(out["a"], [0, 1, 2, 2, 2])


def test_one_process_answers_locally():
    assert cluster.size == 1 and cluster.index == 0 and cluster.main
    assert cluster.gathered(7) == [7]
    assert cluster.everyone(True) and not cluster.everyone(False)
    assert cluster.agreed_min(12345) == 12345  # not rounded to MiB alone
    host = cluster.to_host({"a": np.arange(3)})
    np.testing.assert_array_equal(host["a"], [0, 1, 2])
    cluster.check_same_sweep("digest")  # nothing to compare with
    cluster.leave(1)  # not distributed: returns


def test_a_failed_join_is_one_line_naming_the_coordinator():
    line = join_failure(RuntimeError("refused\nmore"), "h:1", 2.0, 60)
    assert "\n" not in line and "h:1" in line and "refused" in line
    assert "failed after 2.0 s" in line
    assert "no answer within 60 s" in join_failure(
        RuntimeError(""), None, 60.0, 60)
