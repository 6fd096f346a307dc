"""The sweep: its config, one vmapped group per optimizer, checkpoints,
sharding over devices, saved models and the end-to-end run.

``python -m jaxmnist.sweep`` runs :mod:`jaxmnist.cli.sweep`.
"""
