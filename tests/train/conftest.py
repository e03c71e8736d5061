import pytest
import torch

from audiocnn.testing import make_tone_csv

SR = 16000


@pytest.fixture
def make_tones():
    return make_tone_csv


@pytest.fixture
def tone_csv(tmp_path):
    return make_tone_csv(tmp_path / "data")



class _Clips:
    """What :class:`~audiocnn.train.determinism.EpochCrops` reads of a ``ClipDataset``: given
    waveforms, a clip length, and item ``i``'s target ``i``."""

    def __init__(self, waves, clip_samples: int):
        self.waves, self.clip_samples = waves, clip_samples

    def __len__(self):
        return len(self.waves)

    def waveform(self, i):
        return self.waves[i]

    def target(self, i):
        return torch.tensor(i)


@pytest.fixture
def make_clips():
    """``make_clips(waves, clip_samples)``: a stand-in training dataset for ``EpochCrops``."""
    return _Clips
