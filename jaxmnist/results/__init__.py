"""Results: typed records of a run (one schema for memory, CSV and JSON),
their statistics over seeds, and text tables."""
