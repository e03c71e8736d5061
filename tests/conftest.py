import numpy as np
import pytest
import torch

from audiocnn.testing import shared_data_dir


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Test-size models gain nothing from intra-op threads, and on a shared CPU (or with
    # pytest-xdist's workers side by side) threads spinning against each other are many times
    # slower than one.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
