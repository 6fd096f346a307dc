"""python -m jaxmnist.bench [--members 1,4,24] [--quick] [--json FILE]
[--scaling 1,4,24,96,384,1536 [--scaling-fraction F]] [--classic]

How fast the sweep's vmapped groups train against the same members one
after another, a plain jitted-step Python loop and a plain-JAX vmapped
trainer, how far from the machine's matmul roofline, and per-sample SGD
against a NumPy loop; every figure measured in this one run (medians after
a warm-up, compile time apart).
"""

from __future__ import annotations

import argparse
import sys

from jaxmnist.cli import OneLineParser, run_main


def table(r: dict) -> str:
    lines = [f"device: {r['device']} x{r['devices']} ({r['platform']}), jax "
             f"{r['jax']}; adam, batch 128, {r['train_images']} train images",
             f"rooflines: large f32 matmul "
             f"{r['roofline']['large_matmul_gflops']:.1f} GFLOP/s; MLP "
             f"batch-128 matmuls (24 models) "
             f"{r['roofline']['mlp_matmul_gflops']:.1f} GFLOP/s",
             f"(c) jitted step + Python loop: "
             f"{r['python_loop']['model_epochs_per_s']:.2f} model-epochs/s",
             "(d) plain JAX: vmap(grad), lax.scan, no evaluation or guard",
             "",
             "   K  (a) group  (b) sequential  (d) plain  (a)/(b)  (a)/(c)  "
             "(a)/(d)  GFLOP/s  of MLP roofline  compile s",
             "----  ---------  --------------  ---------  -------  -------  "
             "-------  -------  ---------------  ---------"]
    for g in r["groups"]:
        lines.append(
            f"{g['members']:>4}  {g['group']['model_epochs_per_s']:>9.2f}  "
            f"{g['sequential']['model_epochs_per_s']:>14.2f}  "
            f"{g['reference']['model_epochs_per_s']:>9.2f}  "
            f"{g['group_over_sequential']:>7.2f}  "
            f"{g['group_over_python_loop']:>7.2f}  "
            f"{g['group_over_reference']:>7.2f}  {g['gflops']:>7.1f}  "
            f"{g['fraction_of_mlp_roofline']:>15.0%}  "
            f"{g['group']['compile_s']:>9.1f}")
    s = r["per_sample_sgd"]
    lines += ["", f"per-sample SGD (batch 1), 4 activations: {s['epoch_s']:.2f}"
              f" s per epoch of {s['train_images']} images (compile "
              f"{s['compile_s']:.1f} s): {s['group_model_epoch_s']:.2f} s per "
              f"model-epoch; NumPy loop (float64, {s['numpy_samples_timed']} "
              f"samples timed): {s['numpy_model_epoch_s']:.2f} s per "
              f"model-epoch; group {s['speedup_over_numpy']:.1f}x faster",
              f"LeNet-5 CNN, a group of {r['cnn']['members']} (adam, the "
              f"four activations): {r['cnn']['model_epochs_per_s']:.2f} "
              f"model-epochs/s ({r['cnn']['epoch_s']:.1f} s per epoch, "
              f"compile {r['cnn']['compile_s']:.1f} s)",
              "compiled group-epoch memory: " + ", ".join(
                  f"K={k}: {mb:.0f} MB" for k, mb in r["memory_mb"].items())]
    if "scaling" in r:
        from jaxmnist.sweep.scaling import table as scaling_table  # noqa: PLC0415

        lines += ["", scaling_table(r["scaling"])]
    if "classic" in r:
        lines += ["", f"classic grid end to end: {r['classic']['seconds']:.1f}"
                  f" s ({r['classic']['command']})"]
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
                   "evaluate, for per-sample SGD and the CNN) and one "
                   "repetition: checks it runs")
    p.add_argument("--scaling", default=[], type=_int_list, metavar="K,K",
                   help="also the scaling table for these K (e.g. "
                   "1,4,24,96,384,1536): one group of K Adam members as the "
                   "sweep runs it, chunked when over the memory budget")
    p.add_argument("--scaling-fraction", type=_fraction, default=1.0,
                   metavar="F", help="time the scaling rows on this "
                   "fraction of every split (rates scaled to whole epochs)")
    p.add_argument("--classic", action="store_true",
                   help="also time the classic grid end to end "
                   "(sweeps/classic.toml --no-dynamics, a few minutes)")
    p.add_argument("--json", metavar="FILE", default=argparse.SUPPRESS,
                   help="write the figures to this file too")
    p.add_argument("--manual-dir", metavar="DIR", default=argparse.SUPPRESS,
                   help="folder with the MNIST files (default "
                   "$JAXMNIST_MANUAL_DIR, else download)")
    args = p.parse_args(argv)
    for name, absent in (("quick", False), ("json", None),
                         ("manual_dir", None)):
        setattr(args, name, getattr(args, name, absent))
    from jaxmnist.sweep import bench  # noqa: PLC0415

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
