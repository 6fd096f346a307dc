"""summary.md reads as the study's report."""

import dataclasses
import re

from helpers import synthetic_run
from jaxmnist.report.figures import figures_for
from jaxmnist.report.summary import (
    WALL_TIME_KEY,
    summary_markdown,
    write_report,
)
from jaxmnist.results.stats import best_member, cell_results

GROUPS = [{"optimizer": "adam", "members": 4, "seconds": 30.0,
           "compile_seconds": 2.0},
          {"optimizer": "sgd", "members": 4, "seconds": 90.0,
           "compile_seconds": 10.0}]


def seeded_run():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=2)
    return run._replace(meta={"device": "cuda:0", "train_seconds": 123.4,
                              "data_load_seconds": 0.9, "groups": GROUPS,
                              "versions": {"jax": "0.10.2"}})


def sections(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, re.M)


def test_summary_sections_in_order():
    text = summary_markdown(seeded_run(), has_predictions=True)
    assert sections(text) == ["Verdict", "Setup", "Result",
                              "Cells ranked by mean test accuracy",
                              "Optimizer groups: settings and timing",
                              "Figures", "Members"]


def test_setup_states_the_run_and_one_wall_time():
    run = seeded_run()
    text = summary_markdown(run, True)
    for want in ("| dataset | MNIST;", "| model | MLP 784-128-64-10 |",
                 "| epochs | 4 |", "| seeds | 2 per cell (root seed 0) |",
                 "| device | cuda:0 |", "| versions | jax 0.10.2 |",
                 f"| wall time | 123.4 s (`{WALL_TIME_KEY}` in "
                 f"results.json"):
        assert want in text, want
    assert WALL_TIME_KEY == "train_seconds"
    seconds = re.findall(r"(\d+\.\d) s\b", text.split("## Result")[0])
    assert seconds.count("123.4") == 1  # one wall time, no second figure


def test_the_best_model_is_chosen_by_validation_not_test():
    run = seeded_run()
    top_test = max(run.members, key=lambda m: m.test_accuracy)
    members = [m._replace(val_accuracy=0.5) if m == top_test else m
               for m in run.members]
    run = run._replace(members=members, cells=cell_results(members))
    best = best_member(members)
    assert best is not None and best != top_test
    result = summary_markdown(run, True).split("## Result")[1].split("##")[0]
    assert (f"**Best model: {best.optimizer} / {best.activation}, lr "
            f"{best.learning_rate:.3g}, seed {best.seed}**") in result
    assert "highest final validation accuracy" in result


def test_group_timing_table():
    text = summary_markdown(seeded_run(), True)
    # adam: (30 - 2) s of training / (4 members x 4 epochs) = 1.75
    assert "| adam | 128 | 0.01 | 4 | 30.0 | 2.0 | 1.750 |" in text
    assert "| sgd | 1 | 0.01 | 4 | 90.0 | 10.0 | 5.000 |" in text


def test_every_figure_is_inline_with_a_sentence():
    run = seeded_run()
    text = summary_markdown(run, has_predictions=True)
    for f in figures_for(run, True):
        block = text.split(f"![{f[:-4]}](figures/{f})")[1]
        sentence = block.strip().split("\n")[0]
        assert sentence.endswith(".") and len(sentence) > 30, f
    assert "lr_sensitivity" not in text
    assert "![confusion_matrix](figures/confusion_matrix.png)" in text
    grid = synthetic_run(["adam"], ["relu"], seeds=2, lrs=(0.01, 0.1, 1.0))
    assert "chosen rates sit at an edge" in summary_markdown(grid, False)


def test_one_cell_without_predictions():
    one = summary_markdown(synthetic_run(["adam"], ["relu"]), False)
    assert "confusion_matrix" not in one and "## Members" not in one
    assert "versions | not recorded by this run" in one


def test_fashion_mnist_is_named():
    run = synthetic_run(["adam"], ["relu"])
    run = run._replace(config=dataclasses.replace(run.config,
                                                  dataset="fashion_mnist"))
    assert summary_markdown(run, False).startswith(
        "# Sweep: Fashion-MNIST, 1 activation x 1 optimizer\n")


def test_the_verdict_opens_the_summary_with_its_numbers():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=3,
                        lrs=(0.001, 0.01))
    verdict = summary_markdown(run).split("## Verdict\n")[1].split("\n## ")[0]
    assert "**Ranking** over 2 tasks (relu, tanh), 3 seeds each" in verdict
    assert re.search(r"\| 1 \| (adam|sgd) \| \d\.\d{3} \| \[\d\.\d{3}, "
                     r"\d\.\d{3}\] \| 0\.\d{4} \|", verdict)
    assert "**Tuning budget**" in verdict and "budget 1:" in verdict
    assert "## Why" not in summary_markdown(run)  # no probes, no why


def test_one_seed_and_one_rate_print_no_interval_but_say_why():
    run = synthetic_run(["adam", "sgd"], ["relu", "tanh"], seeds=1)
    text = summary_markdown(run)
    verdict = text.split("## Verdict\n")[1].split("\n## ")[0]
    assert "with one seed per cell, nothing separates" in verdict
    assert "one learning rate per optimizer" in verdict
    assert "one run per task: nothing to resample" in verdict
    assert "test acc (one run: no CI)" in text and "95% CI" not in text
    assert "one seed per cell: a single run's accuracy" in text


def test_the_report_writes_comparisons_and_the_figures_follow(tmp_path):
    grid = synthetic_run(["adam", "sgd"], ["relu"], seeds=2,
                         lrs=(0.001, 0.01))
    names = figures_for(grid, True)
    assert {"tuning_budget.png", "aggregate_iqm.png"} <= set(names)
    assert "tuning_budget.png" not in figures_for(seeded_run(), True)
    written = write_report(tmp_path, grid, True)
    assert [p.name for p in written] == ["summary.md", "comparisons.csv"]
    header = (tmp_path / "comparisons.csv").read_text().splitlines()[0]
    assert header.startswith("family,cell_a,cell_b,seeds,mean_difference")
