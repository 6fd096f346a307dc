"""``python -m jaxmnist.sweep [CONFIG.toml] [options]``: train the grid.

Thin entry point: parse the options, hand them to
:func:`jaxmnist.experiment.run_sweep`, print the summary table.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path

from jaxmnist.cli import run_main
from jaxmnist.errors import UsageError
from jaxmnist.sweep_config import SweepConfig, config_from_args


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
        raise UsageError(f"output dir {str(path)!r} cannot be written "
                         f"({reason})")


def init_distributed(args) -> None:
    """jax.distributed.initialize() from the flags, else the environment."""
    import jax  # noqa: PLC0415

    kwargs = {k: v for k, v in (("coordinator_address", args.coordinator),
                                ("num_processes", args.num_processes),
                                ("process_id", args.process_id))
              if v is not None}
    jax.distributed.initialize(**kwargs)


def run(argv: list[str] | None = None) -> int:
    cfg, args = config_from_args(argv)
    if args.distributed:
        init_distributed(args)
    out = out_dir(cfg)
    from jaxmnist.experiment import check_run_dir, run_sweep  # noqa: PLC0415
    from jaxmnist import results, runner  # noqa: PLC0415

    check_run_dir(cfg, out, args.overwrite)
    check_writable(out)
    start = time.perf_counter()
    try:
        rows = run_sweep(cfg, out, progress=args.progress)
    except runner.Interrupted as e:
        argv = list(sys.argv[1:] if argv is None else argv)
        if "--out" not in argv:
            argv += ["--out", str(out)]
        print(f"\ninterrupted: {e}; finished epochs and groups are saved in "
              f"{out}.\nresume with: python -m jaxmnist.sweep "
              f"{shlex.join(argv)}", file=sys.stderr)
        return 130
    print()
    if len(rows) > len(cfg.optimizers) * len(cfg.activations):
        print(results.cells_table(results.cell_rows(rows), cfg.target))
    else:
        print(results.summary_table(rows))
    print(f"\n{len(rows)} models trained in {time.perf_counter() - start:.1f} s"
          f"; results, models, figures and summary.md in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.sweep", run, argv)


if __name__ == "__main__":
    sys.exit(main())
