"""``python -m jaxmnist.sweep [CONFIG.toml] [options]``: train the grid.

The options are derived from :class:`~jaxmnist.sweep.config.SweepConfig`'s
fields (each also a key of a TOML file; the command line wins), plus the
flags that only steer this process. A signal (Ctrl-C, SIGTERM, SIGHUP), a
full or unwritable disk, or another sweep in the same --out stops it with
one message saying what is saved and how to resume.
"""

from __future__ import annotations

import argparse
import errno
import os
import shlex
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from jaxmnist.cli import OneLineParser, debugging, run_main
from jaxmnist.cli.signals import exit_status, stop_on_signals
from jaxmnist.errors import Interrupted, StopRequest
from jaxmnist.sweep import config as sweep_config
from jaxmnist.sweep.config import SweepConfig

PROG = "python -m jaxmnist.sweep"
NAME = "jaxmnist.sweep"
#: A write that fails for one of these is the disk's fault, not the sweep's.
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                         errno.EACCES, errno.EPERM})


def build_parser() -> argparse.ArgumentParser:
    """One flag per SweepConfig field, then the process flags."""
    p = OneLineParser(prog=PROG, description="Train an activation x "
                      "optimizer grid as vmapped groups, one compiled "
                      "program per optimizer.")
    p.add_argument("config", nargs="?", default=argparse.SUPPRESS,
                   help="a sweep TOML file (see sweeps/*.toml); its keys are "
                   "the options below without the leading --")
    config = p.add_argument_group("sweep options (also TOML keys)")
    for name, field in sweep_config.FIELDS.items():
        add_option(config, name, field)
    process = p.add_argument_group("this process")
    process.add_argument("--no-progress", dest="progress",
                         action="store_false", help="hide the progress bars")
    process.add_argument("--overwrite", action="store_true",
                         help="start over in an --out that holds another "
                         "sweep")
    process.add_argument("--distributed", action="store_true",
                         help="call jax.distributed.initialize() first "
                         "(multi-host)")
    process.add_argument("--coordinator", help="HOST:PORT of process 0 "
                         "(default: from the cluster environment)")
    process.add_argument("--num-processes", type=int, metavar="N",
                         help="how many processes take part, all hosts "
                         "together (default: from the cluster environment)")
    process.add_argument("--process-id", type=int, metavar="I",
                         help="this process's index, 0..N-1; process 0 is "
                         "the coordinator (default: from the cluster "
                         "environment)")
    process.add_argument("--distributed-timeout", type=int, default=60,
                         metavar="S", help="seconds to join the other "
                         "processes, and after which a silent one counts as "
                         "lost (this process then exits with one line)")
    return p


def add_option(group, name: str, field) -> None:
    """The flag of SweepConfig field ``name``, typed from its annotation."""
    opt = sweep_config.declared(name)
    default = field.default
    flag = "--" + name.replace("_", "-")
    kind = sweep_config.field_type(name)
    if kind is bool:
        group.add_argument(flag, dest=name,
                           action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS,
                           help=f"{opt.help} (default: "
                           f"{'on' if default else 'off'})")
        return
    shown = opt.shown or ("none" if default is None else
                          ",".join(default) if isinstance(default, tuple)
                          and default and isinstance(default[0], str)
                          else default)
    help_text = f"{opt.help} (default: {shown})" if default != () \
        or opt.shown else opt.help
    extra = {"nargs": opt.nargs} if opt.nargs else {}
    if opt.const is not None:
        extra["const"] = opt.const
    group.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                       type=kind if kind in (int, float) else str,
                       metavar=opt.metavar, help=help_text, **extra)


def config_from_args(argv: list[str] | None = None
                     ) -> tuple[SweepConfig, argparse.Namespace]:
    """Merge defaults, the TOML file and the command line; validate."""
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = (sweep_config.read_toml(args.config)
                              if hasattr(args, "config") else {})
    given = {name: sweep_config.coerce(name, getattr(args, name))
             for name in sweep_config.FIELDS if hasattr(args, name)}
    try:  # what the file sets and the command line leaves: its errors
        if values:
            SweepConfig(**{k: v for k, v in values.items() if k not in given})
    except ValueError as e:
        raise ValueError(f"config file {str(args.config)!r}: {e}") from e
    return SweepConfig(**{**values, **given}), args


def out_dir(cfg: SweepConfig) -> Path:
    if cfg.out:
        return Path(cfg.out)
    return Path("runs") / (cfg.name or datetime.now().strftime("%Y%m%d-%H%M%S"))


def check_writable(path: Path) -> None:
    """Fail with one line unless ``path`` can be created and written; creates
    nothing (the run dir is made once the data has loaded, so a failed load
    leaves no empty run dir behind)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    reason = ("Not a directory" if not probe.is_dir() else
              "Permission denied" if not os.access(probe, os.W_OK | os.X_OK)
              else None)
    if reason:
        raise ValueError(f"output dir {str(path)!r} cannot be written "
                         f"({reason})")


def init_distributed(args: argparse.Namespace) -> None:
    """jax.distributed.initialize() from the flags, else the environment."""
    from jaxmnist.sweep.cluster import cluster  # noqa: PLC0415

    cluster.join(args.coordinator, args.num_processes, args.process_id,
                 args.distributed_timeout)


def resume_command(argv: list[str] | None, out: Path) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--out" not in argv:
        argv += ["--out", str(out)]
    return f"{PROG} {shlex.join(argv)}"


def run(argv: list[str] | None = None) -> int:
    cfg, args = config_from_args(argv)
    from jaxmnist import compile_cache  # noqa: PLC0415
    from jaxmnist.cli import shard  # noqa: PLC0415

    compile_cache.enable(cfg.compile_cache)  # before anything compiles

    if (one := shard.from_args(cfg, args.distributed)) is not None:
        return shard.run(cfg, one, args, argv)
    if args.distributed:
        init_distributed(args)
    from jaxmnist.sweep.cluster import cluster  # noqa: PLC0415

    cluster.check_same_sweep(sweep_config.digest(cfg), args.num_processes)

    from jaxmnist.report.summary import WALL_TIME_KEY  # noqa: PLC0415
    from jaxmnist.results.tables import cells_table, summary_table  # noqa: PLC0415
    from jaxmnist.sweep.checkpoint import check_free  # noqa: PLC0415
    from jaxmnist.sweep.run import check_run_dir  # noqa: PLC0415

    out = out_dir(cfg)
    if cluster.main:
        check_free(out)  # before --overwrite removes anything
    check_run_dir(cfg, out, args.overwrite)
    check_writable(out)
    from jaxmnist.sweep.checkpoint import run_finished as finished  # noqa: PLC0415

    trained_before = finished(out) is not None
    run_records, status = sweep(cfg, out, args.progress, argv)
    if run_records is None:
        return status
    members, cells = run_records.members, run_records.cells
    print()
    if len(members) > sum(c.chosen for c in cells):  # seeds or a grid
        print(cells_table(cells, cfg.target, members))
    else:
        print(summary_table(members))
    seconds = run_records.meta.get(WALL_TIME_KEY, float("nan"))
    print(f"\n{trained_line(len(members), seconds, trained_before)}; "
          f"results, models, figures and summary.md in {out}")
    return 0


def trained_line(models: int, seconds: float, before: bool) -> str:
    """How many models this command trained, and in how long."""
    if before:
        return (f"nothing trained: the run had finished already ({models} "
                f"models, trained in {seconds:.1f} s then)")
    return (f"{models} models trained in {seconds:.1f} s (the groups' wall "
            f"time, compilation included, as summary.md gives it)")


def sweep(cfg: SweepConfig, out: Path, progress: bool,
          argv: list[str] | None,
          work: Callable[[StopRequest], Any] | None = None):
    """(records, 0) of the finished sweep (or what ``work(stop)`` returns,
    run instead of the sweep), or (None, exit status) with one message when
    a signal or the disk stopped it."""
    from jaxmnist.sweep.run import run_sweep  # noqa: PLC0415

    resume, stop = resume_command(argv, out), StopRequest()
    if not debugging(argv):
        quiet_closed_event_loops()
    try:  # before the run dir exists there is nothing to finish: at once
        with stop_on_signals(stop, NAME, at_once=lambda: not out.exists()):
            if work is not None:
                return work(stop), 0
            return run_sweep(cfg, out, progress=progress, stop=stop), 0
    except (Interrupted, KeyboardInterrupt) as e:
        where, name = ((e.where, e.signal_name) if isinstance(e, Interrupted)
                       else ("stopped at once", stop.signal_name or "SIGINT"))
        say(interrupted_message(out, where, name, resume))
        if not out.exists():
            exit_now(exit_status(name))
        return None, exit_status(name)
    except OSError as e:
        if e.errno not in DISK_ERRORS:
            raise
        what = f" {e.filename!r}" if e.filename else ""
        say(f"{NAME}: error: cannot write{what}: {e.strerror}; everything "
            f"saved before it is intact; make room (or make it writable), "
            f"then resume with: {resume}")
        return None, 2


def interrupted_message(out: Path, where: str, signal_name: str,
                        resume: str) -> str:
    """What an interrupted sweep says it saved: only what it did."""
    if not out.exists():
        return (f"\ninterrupted ({signal_name}) before training started; "
                f"nothing was saved (no run dir was created)")
    if not saved_anything(out):
        return (f"\ninterrupted: {where} ({signal_name}); no epoch had "
                f"finished, so nothing is saved in {out} yet.\nstart again "
                f"with: {resume}")
    return (f"\ninterrupted: {where} ({signal_name}); finished epochs and "
            f"groups are saved in {out}.\nresume with: {resume}")


def saved_anything(out: Path) -> bool:
    """Whether ``out`` holds a checkpoint or a result to resume from."""
    from jaxmnist.sweep.checkpoint import CHECKPOINTS_DIR  # noqa: PLC0415

    return (out / "results.csv").is_file() or any(
        p.is_file() for p in (out / CHECKPOINTS_DIR).rglob("*"))


def exit_now(status: int) -> None:
    """Exit with ``status`` now: stopped before its run dir exists, this
    process has saved nothing, and a download in flight (on tfds's worker
    threads, which the interpreter would wait for) is dropped."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def quiet_closed_event_loops() -> None:
    """Drop the 'Event loop is closed' errors of a failed orbax write: the
    writes it had in flight complete after orbax closed their event loop,
    and Python would print each as an ignored exception after the one line
    that says what failed (this process's hook; --debug keeps them)."""
    default = sys.unraisablehook

    def hook(unraisable) -> None:
        e = unraisable.exc_value
        if not (isinstance(e, RuntimeError)
                and str(e) == "Event loop is closed"):
            default(unraisable)
    sys.unraisablehook = hook


def say(text: str) -> None:
    """Print to stderr, if there is still a terminal (not after SIGHUP)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    code = run_main("jaxmnist.sweep", run, argv)
    from jaxmnist.sweep.cluster import cluster  # noqa: PLC0415

    cluster.leave(code)  # a failed process does not wait for its peers
    return code


if __name__ == "__main__":
    sys.exit(main())
