import os

import numpy as np
import pytest
import torch

from audiocnn.testing import shared_data_dir

# With pytest-xdist each worker gets one thread so that 2 workers do not oversubscribe 2 cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def shared_data():
    d = shared_data_dir()
    if d is None:
        pytest.skip("needs ../shared/data (the Free Spoken Digit Dataset beside the repository); not present in this checkout")
    return d


@pytest.fixture(scope="session")
def fsdd_dir(shared_data):
    return shared_data / "fsdd"
