import numpy as np
import pytest

import audiocnn
from audiocnn.testing import tone, write_wav

from inference_helpers import SR


@pytest.fixture(scope="module")
def tiny_cnn():
    """test_cnn with fixed random weights (shared by the module's tests; eval mode)."""
    import torch

    torch.manual_seed(1)
    return audiocnn.create_model("test_cnn", num_classes=10).eval()


@pytest.fixture(scope="module")
def tiny_sed():
    import torch

    torch.manual_seed(2)
    return audiocnn.create_model("test_cnn_sed", num_classes=6).eval()


@pytest.fixture
def wavs(tmp_path):
    """Three good 32-kHz files of different lengths and content."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (f, sec) in enumerate([(440, 1.5), (1200, 2.0), (3000, 1.0)]):
        x = tone(f, sec, SR) + 0.05 * rng.standard_normal(int(sec * SR)).astype(np.float32)
        paths.append(write_wav(tmp_path / f"good{i}.wav", x, SR))
    return paths

