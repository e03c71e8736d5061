import pytest

from audiocnn.testing import make_tone_csv

SR = 16000


@pytest.fixture
def make_tones():
    return make_tone_csv


@pytest.fixture
def tone_csv(tmp_path):
    return make_tone_csv(tmp_path / "data")

