"""python -m jaxmnist.bench [--members 1,4,24] [--quick] [--json FILE]
[--scaling 1,4,24,96,384,1536 [--scaling-fraction F]]

How fast the sweep's vmapped groups train on this device, against the same
members one after another, and how far from a large matmul's throughput;
with --scaling, how a group's cost grows with its member count. Every
figure is measured in this one run (medians after a warm-up, compile time
apart); --json writes them with the command, date and machine.
"""

from __future__ import annotations

import argparse
import sys

from jaxmnist.cli import OneLineParser, run_main


def table(r: dict) -> str:
    """The figures as the bench prints them."""
    m = r["machine"]
    lines = [f"device: {m['device']} x{m['device_count']} ({m['platform']},"
             f" {m['cpu']}), jax {m['jax']}; adam, batch 128, "
             f"{r['train_images']} train images",
             f"large f32 matmul: {r['large_matmul_gflops']:.1f} GFLOP/s",
             "",
             "   K  (a) group  (b) sequential  (a)/(b)  epoch s  GFLOP/s  "
             "of large matmul  MiB/member  chunks  compile s",
             "----  ---------  --------------  -------  -------  -------  "
             "---------------  ----------  ------  ---------"]
    for g in r["groups"]:
        lines.append(
            f"{g['members']:>4}  {g['model_epochs_per_s']:>9.2f}  "
            f"{g['sequential']['model_epochs_per_s']:>14.2f}  "
            f"{g['group_over_sequential']:>7.2f}  {g['epoch_s']:>7.2f}  "
            f"{g['gflops']:>7.1f}  {g['fraction_of_large_matmul']:>15.0%}  "
            f"{g['bytes_per_member'] / 2**20:>10.2f}  {g['chunks']:>6}  "
            f"{g['compile_s']:>9.1f}")
    c = r["cnn"]
    lines += ["", "(a) the sweep's group of K members (GFLOP/s: every matmul"
              " of its epochs, evaluation included); (b) the same members "
              "one after another (make_epoch, jitted once)",
              f"LeNet-5 CNN, a group of {c['members']} (adam, the four "
              f"activations): {c['model_epochs_per_s']:.2f} model-epochs/s "
              f"({c['epoch_s']:.1f} s per epoch, compile "
              f"{c['compile_s']:.1f} s)"]
    if "scaling" in r:
        from jaxmnist.bench.scaling import table as scaling_table  # noqa: PLC0415

        lines += ["", scaling_table(r["scaling"])]
    return "\n".join(lines)


def run(argv: list[str] | None) -> int:
    p = OneLineParser(prog="python -m jaxmnist.bench",
                      description=(__doc__ or "").split("\n\n")[1])
    p.add_argument("--members", default="1,4,24", type=_int_list,
                   metavar="K,K", help="group sizes K (members trained at "
                   "once) to measure, comma list")
    p.add_argument("--reps", type=int, default=3, metavar="N",
                   help="timed repetitions after the warm-up (median)")
    p.add_argument("--quick", action="store_true", default=argparse.SUPPRESS,
                   help="2,048 training images (256, and 1,000 to "
                   "evaluate, for the CNN) and one repetition: checks it "
                   "runs")
    p.add_argument("--scaling", default=[], type=_int_list, metavar="K,K",
                   help="also the scaling table for these K (e.g. "
                   "1,4,24,96,384,1536): one group of K Adam members as the "
                   "sweep runs it, chunked when over the memory budget")
    p.add_argument("--scaling-fraction", type=_fraction, default=1.0,
                   metavar="F", help="time the scaling rows on this "
                   "fraction of every split (rates scaled to whole epochs)")
    p.add_argument("--json", metavar="FILE", default=argparse.SUPPRESS,
                   help="write the figures, with the command, date and "
                   "machine, to this file too")
    p.add_argument("--manual-dir", metavar="DIR", default=argparse.SUPPRESS,
                   help="folder with the MNIST files (default "
                   "$JAXMNIST_MANUAL_DIR, else download)")
    args = p.parse_args(argv)
    for name, absent in (("quick", False), ("json", None),
                         ("manual_dir", None)):
        setattr(args, name, getattr(args, name, absent))
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from jaxmnist import bench  # noqa: PLC0415

    r = bench.run(args)
    print(table(r))
    if args.json:
        from jaxmnist import files  # noqa: PLC0415

        files.write_json(args.json, r)
    return 0


def _int_list(text: str) -> list[int]:
    values = [int(x) for x in text.split(",")]
    if min(values) < 1:
        raise ValueError(f"{text!r}: member counts must be positive")
    return values


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError(f"{text!r} is not a fraction in (0, 1]")
    return value


def main(argv: list[str] | None = None) -> int:
    return run_main("jaxmnist.bench", run, argv)


if __name__ == "__main__":
    sys.exit(main())
