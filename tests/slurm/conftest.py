"""The `slurm` fixture: one private Slurm per test session (and worker)."""

import shutil
import tempfile
from pathlib import Path

import pytest
from cluster import Unavailable, start


@pytest.fixture(scope="session")
def slurm():
    """A one-node cluster in a short /tmp path (its unix sockets must fit
    108 bytes), skipped with the reason where it cannot run; stopped and
    removed afterwards. The first start may install slurm-wlm and munge."""
    state = Path(tempfile.mkdtemp(prefix="slurm-"))
    try:
        cluster = start(state)
    except Unavailable as error:
        shutil.rmtree(state)
        pytest.skip(str(error))
    yield cluster
    cluster.stop()
    shutil.rmtree(state)
