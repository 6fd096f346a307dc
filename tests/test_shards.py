"""A sweep split into shards: the plan, the shard's name, the merge's checks.

Training shards and merging them is tested end to end in
tests/test_shards_run.py (slow) and, as Slurm array tasks, in
tests/slurm/test_sharded.py.
"""

import json

import pytest

from jaxmnist.cli import merge, shard, sweep
from jaxmnist.cli.shard import COUNT_ENV, from_environment
from jaxmnist.merge import Incomplete, check_shards, merge_run
from jaxmnist.sweep import checkpoint, cluster, shards
from jaxmnist.sweep.cluster import Shard
from jaxmnist.sweep.config import SweepConfig, digest, to_toml
from jaxmnist.sweep.shards import pieces_of

SMOKE = SweepConfig(activations=("relu", "tanh"),
                    optimizers=("minibatch_sgd", "adam"), epochs=1)


def members(pieces) -> list:
    return [m for p in pieces for m in p.spec.members]


@pytest.mark.parametrize("cfg", [
    SMOKE, SweepConfig(seeds=3, epochs=2), SweepConfig(
        optimizers=("adam",), activations=("relu", "tanh", "sigmoid"),
        seeds=2, learning_rates=(("adam", (1e-3, 3e-3)),))],
    ids=["smoke", "classic-3-seeds", "one-group"])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 12])
def test_the_shards_split_every_member_once(cfg, count):
    every = [m for g in cfg.groups() for m in g.members]
    if count > len(every):
        pytest.skip("more shards than members: refused (tested below)")
    plan = shards.plan(cfg.groups(), count)
    assert len(plan) == count and all(plan)
    got = [m for pieces in plan for m in members(pieces)]
    assert sorted(got) == sorted(every) and len(set(got)) == len(every)
    assert plan == shards.plan(cfg.groups(), count)  # the same in each task


def test_whole_groups_go_to_the_least_loaded_shard():
    cfg = SweepConfig(optimizers=("adam", "sgd", "momentum"),
                      activations=("relu",), seeds=1,
                      learning_rates=(("sgd", (0.01, 0.03, 0.1)),))
    names = [[p.spec.name for p in pieces]
             for pieces in shards.plan(cfg.groups(), 2)]
    assert names == [["sgd"], ["adam", "momentum"]]  # 3 members against 2


def test_fewer_groups_than_shards_cut_groups_into_pieces():
    plan = shards.plan(SMOKE.groups(), 3)
    assert [[p.spec.name for p in pieces] for pieces in plan] == [
        ["minibatch_sgd.part1of2"], ["minibatch_sgd.part2of2"], ["adam"]]
    assert [p.spec.cells[0].activation for p in plan[0] + plan[1]] == [
        "relu", "tanh"]


def test_a_group_splits_into_whole_seeds_first_then_cells():
    cfg = SweepConfig(optimizers=("adam",), activations=("relu", "tanh",
                                                         "sigmoid"), seeds=2)
    (spec,) = cfg.groups()
    two = shards.split_group(spec, 2)
    assert [(p.seeds, len(p.cells)) for p in two] == [((0,), 3), ((1,), 3)]
    five = shards.split_group(spec, 5)  # seed 0: 3 blocks, seed 1: 2
    assert [(p.seeds, [c.activation for c in p.cells]) for p in five] == [
        ((0,), ["relu"]), ((0,), ["tanh"]), ((0,), ["sigmoid"]),
        ((1,), ["relu", "tanh"]), ((1,), ["sigmoid"])]
    assert five[0].name == "adam.part1of5"


def test_more_shards_than_members_are_refused():
    with pytest.raises(ValueError, match="5 shards for a sweep of 4 members: "
                       "use at most 4"):
        shards.plan(SMOKE.groups(), 5)


@pytest.mark.parametrize("text,message", [
    ("3/3", "I must be in 0..2, got 3"), ("-1/3", "I must be in 0..2, got -1"),
    ("0/0", "the shard count N must be >= 1, got 0"),
    ("1", "must be I/N"), ("a/b", "must be I/N"), ("1/2/3", "must be I/N")])
def test_a_bad_shard_is_refused_in_one_line(text, message):
    with pytest.raises(ValueError, match=message) as e:
        cluster.parse(text)
    assert "\n" not in str(e.value)


def test_shard_names_and_forms():
    assert cluster.parse(" 2/5 ") == Shard(2, 5)
    assert Shard(2, 5).name == "2-of-5" and str(Shard(2, 5)) == "2/5"
    assert cluster.of(None) is None and cluster.of("off") is None


SLURM = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3",
         "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2"}
RESUBMITTED = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "1",
               "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "1"}


@pytest.mark.parametrize("env,expected", [
    ({}, None), (SLURM, "2/3"),
    ({**RESUBMITTED, COUNT_ENV: "3"}, "1/3"),
    ({"JOB_COMPLETION_INDEX": "4", COUNT_ENV: "6"}, "4/6"),
], ids=["none", "slurm-array", "resubmitted-with-count", "kubernetes"])
def test_the_shard_from_the_environment(env, expected):
    assert from_environment(env) == expected


@pytest.mark.parametrize("env,message", [
    (RESUBMITTED, "array task 1 of the array 1-1 is not one of a whole array"
     " 0..N-1 .*give --shard 1/N or set JAXMNIST_SHARD_COUNT"),
    ({**SLURM, "SLURM_ARRAY_TASK_MIN": "1"}, "of the array 1-2 is not"),
    ({"JOB_COMPLETION_INDEX": "4"}, "JOB_COMPLETION_INDEX=4 is set but no "
     "shard count: set JAXMNIST_SHARD_COUNT"),
])
def test_an_environment_without_a_count_is_refused(env, message):
    with pytest.raises(ValueError, match=message):
        from_environment(env)


def test_an_explicit_shard_wins_over_the_environment(monkeypatch):
    for k, v in SLURM.items():
        monkeypatch.setenv(k, v)
    assert shard.from_args(SMOKE, False) == Shard(2, 3)
    cfg = SweepConfig(shard="0/2")
    assert shard.from_args(cfg, False) == Shard(0, 2)
    assert shard.from_args(SweepConfig(shard="off"), False) is None
    assert shard.from_args(SMOKE, True) is None  # --distributed: not read
    with pytest.raises(ValueError, match="--shard 0/2 and --distributed do "
                       "not combine"):
        shard.from_args(cfg, True)


@pytest.mark.parametrize("argv,message", [
    (["--shard", "3/3"], "shard '3/3': I must be in 0..2, got 3"),
    (["--shard", "0/0"], "the shard count N must be >= 1"),
    (["--shard", "x"], "must be I/N"),
    (["--shard", "0/9", "--epochs", "1", "--optimizers", "adam",
      "--activations", "relu"], "9 shards for a sweep of 1 members"),
    (["--shard", "0/2", "--distributed", "--coordinator", "x"],
     "--shard 0/2 and --distributed do not combine"),
])
def test_the_sweep_command_refuses_a_bad_shard(argv, message, capsys,
                                               tmp_path):
    code = sweep.main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------
# The merge's checks, on shard dirs written by hand
# --------------------------------------------------------------------------

def fake_shard(run, cfg: SweepConfig, index: int, count: int,
               finished: bool = True) -> None:
    """What a shard dir holds for the checks: config, shard.json, mark."""
    d = shards.shard_dir(run, Shard(index, count))
    d.mkdir(parents=True)
    (d / "config.toml").write_text(to_toml(cfg))
    pieces = pieces_of(cfg, Shard(index, count))
    (d / shards.SHARD_FILE).write_text(json.dumps({
        "shard": index, "count": count, "digest": digest(cfg),
        "pieces": [p.spec.name for p in pieces]}))
    if finished:
        checkpoint.finish(d, keep_checkpoints=True)


def test_complete_shards_of_one_sweep_pass(tmp_path):
    for i in range(3):
        fake_shard(tmp_path, SMOKE, i, 3)
    checked = check_shards(tmp_path)
    assert (checked.config, checked.count) == (SMOKE, 3)


def test_missing_and_unfinished_shards_are_named(tmp_path):
    fake_shard(tmp_path, SMOKE, 0, 3)
    fake_shard(tmp_path, SMOKE, 2, 3, finished=False)
    with pytest.raises(Incomplete, match=r"shard\(s\) 1 of 3 missing; 2 of 3"
                       r" unfinished: resubmit array task\(s\) 1,2 "
                       r"\(--shard I/3") as e:
        check_shards(tmp_path)
    assert "\n" not in str(e.value)


def test_shards_of_different_counts_are_refused(tmp_path):
    fake_shard(tmp_path, SMOKE, 0, 2)
    fake_shard(tmp_path, SMOKE, 0, 3)
    with pytest.raises(ValueError, match=r"shards of different counts "
                       r"\(N = 2, 3\)"):
        check_shards(tmp_path)


def test_shards_of_different_sweeps_are_refused(tmp_path):
    fake_shard(tmp_path, SMOKE, 0, 2)
    fake_shard(tmp_path, SweepConfig(activations=("relu", "tanh"), optimizers=(
        "minibatch_sgd", "adam"), epochs=2), 1, 2)
    with pytest.raises(ValueError, match=r"shard 1-of-2 trained another sweep"
                       r" than 0-of-2 \(epochs: 1 -> 2\)"):
        check_shards(tmp_path)


def test_no_shards_is_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no shards"):
        check_shards(tmp_path)


def test_an_incomplete_merge_writes_nothing(tmp_path, capsys):
    """The command: one line naming the task, exit 2, the run dir as it
    was (only its shards)."""
    fake_shard(tmp_path, SMOKE, 0, 2)
    fake_shard(tmp_path, SMOKE, 1, 2, finished=False)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(Incomplete):
        merge_run(tmp_path)
    assert merge.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resubmit array task(s) 1 " in err
    assert sorted(p.relative_to(tmp_path)
                  for p in tmp_path.rglob("*")) == before
