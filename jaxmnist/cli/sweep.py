"""``python -m jaxmnist.sweep [CONFIG.toml] [options]``: train the grid.

The options are derived from :class:`~jaxmnist.sweep.config.SweepConfig`'s
fields (each also a key of a TOML file; the command line wins), plus the
flags that only steer this process.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from jaxmnist.cli import OneLineParser, run_main
from jaxmnist.errors import Interrupted
from jaxmnist.sweep import config as sweep_config
from jaxmnist.sweep import config_file
from jaxmnist.sweep.config import SweepConfig

PROG = "python -m jaxmnist.sweep"


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
    process.add_argument("--num-processes", type=int)
    process.add_argument("--process-id", type=int)
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
    values: dict[str, Any] = (config_file.read_toml(args.config)
                              if hasattr(args, "config") else {})
    for name in sweep_config.FIELDS:
        if hasattr(args, name):
            values[name] = sweep_config.coerce(name, getattr(args, name))
    return SweepConfig(**values), args


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
    from jaxmnist.sweep import distributed  # noqa: PLC0415

    distributed.initialize(args.coordinator, args.num_processes,
                           args.process_id, args.distributed_timeout)


def resume_command(argv: list[str] | None, out: Path) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--out" not in argv:
        argv += ["--out", str(out)]
    return f"{PROG} {shlex.join(argv)}"


def run(argv: list[str] | None = None) -> int:
    cfg, args = config_from_args(argv)
    if args.distributed:
        init_distributed(args)
        from jaxmnist.sweep import distributed  # noqa: PLC0415

        distributed.check_same_sweep({n: getattr(cfg, n) for n in
                                      sweep_config.numeric_fields()},
                                     args.num_processes)
    from jaxmnist.report.summary import WALL_TIME_KEY  # noqa: PLC0415
    from jaxmnist.results.tables import cells_table, summary_table  # noqa: PLC0415
    from jaxmnist.sweep.run import check_run_dir, run_sweep  # noqa: PLC0415

    out = out_dir(cfg)
    check_run_dir(cfg, out, args.overwrite)
    check_writable(out)
    try:
        run_records = run_sweep(cfg, out, progress=args.progress)
    except Interrupted as e:
        print(f"\ninterrupted: {e}; finished epochs and groups are saved in "
              f"{out}.\nresume with: {resume_command(argv, out)}",
              file=sys.stderr)
        return 130
    members, cells = run_records.members, run_records.cells
    print()
    if len(members) > sum(c.chosen for c in cells):  # seeds or a grid
        print(cells_table(cells, cfg.target, members))
    else:
        print(summary_table(members))
    seconds = run_records.meta.get(WALL_TIME_KEY, float("nan"))
    print(f"\n{len(members)} models trained in {seconds:.1f} s (the groups' "
          f"wall time, compilation included, as summary.md gives it); "
          f"results, models, figures and summary.md in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    code = run_main("jaxmnist.sweep", run, argv)
    from jaxmnist.sweep.distributed import leave  # noqa: PLC0415

    leave(code)  # a failed distributed process does not wait for its peers
    return code


if __name__ == "__main__":
    sys.exit(main())
