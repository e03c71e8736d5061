import pytest

from audiocnn.testing import make_tone_csv

SR = 16000


@pytest.fixture
def make_tones():
    return make_tone_csv


@pytest.fixture
def tone_csv(tmp_path):
    return make_tone_csv(tmp_path / "data")


@pytest.fixture
def tiny_config():
    from audiocnn.train import TrainConfig

    return TrainConfig(model="test_cnn", epochs=2, batch_size=8, lr=3e-3, patience=0, progress=False, clip_seconds=0.5)
