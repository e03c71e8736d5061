import numpy as np
import pytest
import torch

from audiocnn.testing import make_tone_csv, shared_data_dir


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


def _tiny_train_config():
    from audiocnn.train import TrainConfig

    return TrainConfig(model="test_cnn", epochs=2, batch_size=8, lr=3e-3, patience=0, progress=False, clip_seconds=0.5)


@pytest.fixture
def tiny_config():
    """The training recipe of the tests: test_cnn, 2 epochs of 0.5-s crops."""
    return _tiny_train_config()


@pytest.fixture(scope="session")
def tone_data(tmp_path_factory):
    """make_tone_csv's default set (3 classes x 6 clips, folds 1-3), written once for the session:
    the CSV path. Read it, do not write beside it."""
    return make_tone_csv(tmp_path_factory.mktemp("tone_data") / "data")


@pytest.fixture(scope="session")
def tiny_run(tone_data, tmp_path_factory):
    """One 3-fold run of ``tiny_config`` on ``tone_data`` (run_experiment), trained once and shared
    by the tests that only read it: ``(run folder, returned metrics)``. A test that changes a run
    copies the folder first."""
    from audiocnn.evaluate.protocol import run_experiment

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    return out, run_experiment(tone_data, _tiny_train_config(), out)


@pytest.fixture(scope="session")
def seeded_checkpoint(tmp_path_factory):
    """``make(num_classes)`` -> path of a ``test_cnn`` checkpoint with weights drawn from seed 0,
    so that every worker, run and reference model of a test loads the same network."""

    def make(num_classes: int) -> str:
        import torch

        from audiocnn.models import create_model, save_checkpoint

        torch.manual_seed(0)
        path = tmp_path_factory.mktemp("ckpt") / "test_cnn.pth"
        save_checkpoint(create_model("test_cnn", num_classes=num_classes), path)
        return str(path)

    return make
