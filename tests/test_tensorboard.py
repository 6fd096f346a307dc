"""TensorBoard event files through tensorboardX, read back with
TensorBoard's own reader and its HParams dashboard's backend."""

import math

import numpy as np
from tensorboard import context
from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import (
    plugin_event_multiplexer as multiplexer,
)
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import (
    api_pb2,
    backend_context,
    list_session_groups,
)

from helpers import event_scalars, synthetic_run
from jaxmnist.report import tensorboard as tb
from jaxmnist.results.members import Member, member_of
from jaxmnist.results.records import DynamicsRow, HistoryRow


def _same(value: float, want: float) -> bool:
    want = float(np.float32(want))
    return (math.isnan(value) and math.isnan(want)) or value == want


def test_scalars_read_back_equal_history(tmp_path):
    run = synthetic_run(["adam", "sgd"], ["relu"], seeds=2, epochs=3,
                        nan_cell=("sgd", "relu"))
    paths = tb.write_run_events(tmp_path, run.history)
    assert len(paths) == 4
    for m in run.members:
        d = tb.member_dir(tmp_path, m)
        assert d.relative_to(tmp_path).parts[:3] == (
            "tensorboard", m.optimizer, m.activation)
        (path,) = d.glob("events.out.tfevents.*")
        got = event_scalars(path)
        rows = [h for h in run.history if member_of(h) == m.member]
        assert len(rows) == 3 and len(got) == len(rows) * 7
        for h in rows:
            for column, tag in (("train_loss", "loss/train"),
                                ("val_accuracy", "accuracy/val"),
                                ("test_accuracy", "accuracy/test"),
                                ("diverged", "diverged")):
                assert _same(got[(tag, h.epoch)], getattr(h, column)), (
                    m.name, h.epoch, tag)


def _session_groups(logdir):
    """What TensorBoard's HParams dashboard lists: name -> (hparams,
    metrics), through the plugin's own backend."""
    mux = multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    tb_context = base_plugin.TBContext(
        logdir=str(logdir), multiplexer=mux,
        data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)))
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=100,
        allowed_statuses=[api_pb2.STATUS_SUCCESS, api_pb2.STATUS_UNKNOWN])
    response = list_session_groups.Handler(
        context.RequestContext(), backend_context.Context(tb_context), "",
        request).run()
    assert response.total_size == len(response.session_groups)
    return {g.name: ({k: getattr(v, v.WhichOneof("kind"))
                      for k, v in g.hparams.items()},
                     {m.name.tag: m.value for m in g.metric_values})
            for g in response.session_groups}


def test_the_hparams_dashboard_compares_every_member(tmp_path):
    """One session per member: its hyperparameters, and as metrics its
    last epoch's figures (those results.csv holds)."""
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2, epochs=3,
                        nan_cell=("sgd", "tanh"))
    tb.write_run_events(tmp_path, run.history)
    groups = _session_groups(tmp_path / tb.TENSORBOARD_DIR)
    assert len(groups) == len(run.members) == 8
    for m in run.members:
        name = tb.member_dir(tmp_path, m).relative_to(
            tmp_path / tb.TENSORBOARD_DIR).as_posix()
        hparams, metrics = groups[name]
        assert hparams == {k: (float(v) if type(v) in (int, float) else v)
                           for k, v in m.member._asdict().items()}
        assert set(metrics) == set(tb.METRICS)
        last = max((h for h in run.history if member_of(h) == m.member),
                   key=lambda h: h.epoch)
        assert last.epoch == 3
        for tag, column in (("accuracy/val", "val_accuracy"),
                            ("accuracy/test", "test_accuracy"),
                            ("loss/train", "train_loss"),
                            ("diverged", "diverged")):
            assert _same(metrics[tag], getattr(last, column)), (m.name, tag)
    assert [metrics["diverged"] for _, metrics in groups.values()].count(
        1.0) == 2  # sgd/tanh's two seeds


def test_extra_scalars_and_rewriting(tmp_path):
    rows = [HistoryRow("adam", "relu", 1e-3, 0, e, 0.5, 0.9, 0.6, 0.8, 0.6,
                       0.8, False) for e in (1, 2)]
    extra = {"dynamics/grad_norm": [(1, 2.5), (2, 1.25), (3, 0.5)]}
    first = tb.write_member_events(tmp_path, rows[0], rows, extra,
                                   wall_time=100.0)
    second = tb.write_member_events(tmp_path, rows[0], rows, extra,
                                    wall_time=200.0)
    assert second.is_file() and [p.name for p in first.parent.iterdir()] \
        == [second.name]
    got = event_scalars(second)
    assert [(s, v) for (t, s), v in got.items()
            if t == "dynamics/grad_norm"] == [(1, 2.5), (2, 1.25), (3, 0.5)]
    assert got[("accuracy/val", 2)] == np.float32(0.8)


def test_dynamics_rows_become_extra_scalars(tmp_path):
    rows = [DynamicsRow("adam", "relu", 1e-3, 0, e, layer, q, v)
            for e, layer, q, v in ((1, 1, "grad_norm", 0.5),
                                   (2, 1, "grad_norm", 0.25),
                                   (1, None, "sharpness", 7.0))]
    extra = tb.dynamics_scalars(rows)
    assert extra == {Member("adam", "relu", 1e-3, 0): {
        "dynamics/grad_norm/layer1": [(1, 0.5), (2, 0.25)],
        "dynamics/sharpness": [(1, 7.0)]}}
    history = [HistoryRow("adam", "relu", 1e-3, 0, e, 0.5, 0.9, 0.6, 0.8,
                          0.6, 0.8, False) for e in (1, 2)]
    (path,) = tb.write_run_events(tmp_path, history, extra)
    got = event_scalars(path)
    assert got[("dynamics/grad_norm/layer1", 2)] == 0.25
    assert got[("dynamics/sharpness", 1)] == 7.0
