"""TensorBoard event files without TensorFlow: framing, protobuf, values."""

import math
import struct

import numpy as np
import pytest

from helpers import synthetic_run
from jaxmnist.report import tensorboard as tb
from jaxmnist.results.records import DynamicsRow, HistoryRow
from jaxmnist.sweep.group import Member


def test_crc32c_known_answers():
    # RFC 3720 B.4 and the classic check value
    assert tb.crc32c(b"123456789") == 0xE3069283
    assert tb.crc32c(bytes(32)) == 0x8A9136AA
    assert tb.crc32c(bytes([0xFF] * 32)) == 0x62A8AB43
    assert tb.crc32c(bytes(range(32))) == 0x46DD794E


def test_event_bytes_match_a_hand_encoded_event():
    got = tb.encode_event(1.5, 3, [("accuracy/val", 0.5)])
    value = b"\x0a\x0caccuracy/val" + b"\x15" + struct.pack("<f", 0.5)
    want = (b"\x09" + struct.pack("<d", 1.5) + b"\x10\x03"
            + b"\x2a" + bytes([len(value) + 2]) + b"\x0a"
            + bytes([len(value)]) + value)
    assert got == want


def test_events_read_back_equal_history(tmp_path):
    run = synthetic_run(["adam", "sgd"], ["relu"], seeds=2, epochs=3,
                        nan_cell=("sgd", "relu"))
    paths = tb.write_run_events(tmp_path, run.history)
    assert len(paths) == 4
    for m in run.members:
        d = tb.member_dir(tmp_path, m)
        assert d.relative_to(tmp_path).parts[:3] == (
            "tensorboard", m.optimizer, m.activation)
        (path,) = d.glob("events.out.tfevents.*")
        got = {(s.tag, s.step): s.value for s in tb.read_events(path)}
        rows = [h for h in run.history if (h.optimizer, h.activation,
                h.learning_rate, h.seed) == (m.optimizer, m.activation,
                                             m.learning_rate, m.seed)]
        assert len(got) == len(rows) * 7
        for h in rows:
            for column, tag in (("train_loss", "loss/train"),
                                ("val_accuracy", "accuracy/val"),
                                ("test_accuracy", "accuracy/test"),
                                ("diverged", "diverged")):
                want = np.float32(float(getattr(h, column)))
                value = got[(tag, h.epoch)]
                assert (math.isnan(value) and math.isnan(want)) or \
                    value == want, (m.name, h.epoch, tag)


def test_extra_scalars_and_rewriting(tmp_path):
    rows = [HistoryRow("adam", "relu", 1e-3, 0, e, 0.5, 0.9, 0.6, 0.8, 0.6,
                       0.8, False) for e in (1, 2)]
    extra = {"dynamics/grad_norm": [(1, 2.5), (2, 1.25), (3, 0.5)]}
    first = tb.write_member_events(tmp_path, rows[0], rows, extra,
                                   wall_time=100.0, host="h")
    assert first.name == "events.out.tfevents.100.h"
    second = tb.write_member_events(tmp_path, rows[0], rows, extra,
                                    wall_time=200.0, host="h")
    assert [p.name for p in second.parent.iterdir()] == [second.name]
    scalars = tb.read_events(second)
    grad = [(s.step, s.value) for s in scalars
            if s.tag == "dynamics/grad_norm"]
    assert grad == [(1, 2.5), (2, 1.25), (3, 0.5)]
    assert {s.wall_time for s in scalars} == {200.0}


def test_a_damaged_file_is_refused(tmp_path):
    rows = [HistoryRow("adam", "relu", 1e-3, 0, 1, 0.5, 0.9, 0.6, 0.8, 0.6,
                       0.8, False)]
    path = tb.write_member_events(tmp_path, rows[0], rows)
    data = bytearray(path.read_bytes())
    data[-6] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        tb.read_events(path)


def test_dynamics_rows_become_extra_scalars(tmp_path):
    rows = [DynamicsRow("adam", "relu", 1e-3, 0, e, layer, q, v)
            for e, layer, q, v in ((1, 1, "grad_norm", 0.5),
                                   (2, 1, "grad_norm", 0.25),
                                   (1, None, "sharpness", 7.0))]
    extra = tb.dynamics_scalars(rows)
    assert extra == {tuple(Member("adam", "relu", 1e-3, 0)): {
        "dynamics/grad_norm/layer1": [(1, 0.5), (2, 0.25)],
        "dynamics/sharpness": [(1, 7.0)]}}
    history = [HistoryRow("adam", "relu", 1e-3, 0, e, 0.5, 0.9, 0.6, 0.8,
                          0.6, 0.8, False) for e in (1, 2)]
    (path,) = tb.write_run_events(tmp_path, history, extra)
    got = {(s.tag, s.step): s.value for s in tb.read_events(path)}
    assert got[("dynamics/grad_norm/layer1", 2)] == 0.25
    assert got[("dynamics/sharpness", 1)] == 7.0
