"""optax 0.2.8's own tests run against our optimizers (see _harness)."""
