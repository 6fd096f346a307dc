"""``python -m jaxmnist.sweep [CONFIG.toml] [options]``: train the grid.

Thin entry point: parse the options, hand them to
:func:`jaxmnist.experiment.run_sweep`, print the summary table.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from jaxmnist.errors import DataError, UsageError
from jaxmnist.sweep_config import SweepConfig, config_from_args


def out_dir(cfg: SweepConfig) -> Path:
    if cfg.out:
        return Path(cfg.out)
    return Path("runs") / (cfg.name or datetime.now().strftime("%Y%m%d-%H%M%S"))


def prepare_out(path: Path) -> None:
    """Create the output dir or fail with one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"output dir {str(path)!r} cannot be written "
                         f"({e.strerror or type(e).__name__})") from None


def run(argv: list[str] | None = None) -> int:
    cfg, args = config_from_args(argv)
    out = out_dir(cfg)
    prepare_out(out)
    from jaxmnist.experiment import run_sweep  # noqa: PLC0415  (imports jax)
    from jaxmnist import results  # noqa: PLC0415

    start = time.perf_counter()
    rows = run_sweep(cfg, out, progress=args.progress)
    print()
    if len(rows) > len(cfg.optimizers) * len(cfg.activations):
        print(results.cells_table(results.cell_rows(rows), cfg.target))
    else:
        print(results.summary_table(rows))
    print(f"\n{len(rows)} models trained in {time.perf_counter() - start:.1f} s"
          f"; results, models, figures and summary.md in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except (UsageError, DataError) as e:
        print(f"jaxmnist.sweep: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
