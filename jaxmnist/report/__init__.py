"""The report: figures drawn from a run's records, and summary.md."""
