"""The report: figures drawn from a run's records, summary.md, and
TensorBoard event files of its per-epoch metrics (:mod:`.tensorboard`)."""
