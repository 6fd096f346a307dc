"""``python -m jaxmnist.sweep [CONFIG.toml] [options]``: train the grid.

Thin entry point: parse the options, load the data, train each optimizer
group (see :mod:`jaxmnist.runner`), write results, print the summary.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from jaxmnist.errors import DataError, UsageError
from jaxmnist.sweep_config import SweepConfig, config_from_args, to_toml


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

    from jaxmnist.data import load_dataset  # noqa: PLC0415
    from jaxmnist import files, results, runner  # noqa: PLC0415
    import jax  # noqa: PLC0415

    t = time.perf_counter()
    try:
        data = load_dataset(cfg.dataset, manual_dir=cfg.manual_dir,
                            data_dir=cfg.data_dir, val_size=cfg.val_size,
                            seed=0, train_subset=cfg.train_subset)
    except ValueError as e:  # train_subset or val_size out of range
        raise UsageError(str(e)) from None
    load_s = time.perf_counter() - t
    for opt in cfg.optimizers:  # every group's config, before any training
        try:
            runner.steps_per_epoch(runner.train_config(cfg, opt),
                                   data.num_train)
        except ValueError as e:
            raise UsageError(f"{opt}: {e}") from None
    data = jax.device_put(data)
    print(f"{cfg.dataset}: {data.num_train} train / {len(data.val_labels)} val"
          f" / {len(data.test_labels)} test images, loaded in {load_s:.1f} s;"
          f" device {jax.devices()[0]}; output {out}", flush=True)
    files.write_text(out / "config.toml", to_toml(cfg))

    rows, history, groups = [], [], []
    start = time.perf_counter()
    for opt in cfg.optimizers:
        group = runner.train_group(cfg, opt, data, progress=args.progress)
        rows += results.result_rows(group)
        history += results.history_rows(group)
        groups.append({"optimizer": opt, "members": len(group.members),
                       "seconds": round(group.seconds, 3),
                       "compile_seconds": round(group.compile_seconds, 3)})
        meta = {"device": str(jax.devices()[0]), "data_load_seconds":
                round(load_s, 3), "groups": groups}
        results.write_results(out, rows, history, meta)  # after every group
    total = time.perf_counter() - start
    print()
    print(results.summary_table(rows))
    print(f"\n{len(rows)} models in {len(groups)} groups trained in "
          f"{total:.1f} s; results in {out}/results.csv")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except (UsageError, DataError) as e:
        print(f"jaxmnist.sweep: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
