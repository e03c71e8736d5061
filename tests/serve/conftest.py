import numpy as np
import pytest

from audiocnn.testing import tone

from serve_helpers import SR, tiny_served_model, wav_bytes


@pytest.fixture(scope="package")
def served():
    """test_cnn_sed (frame-level, 527 classes) with fixed random weights, shared by the tests."""
    pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
    return tiny_served_model("test_cnn_sed")


@pytest.fixture
def clip() -> np.ndarray:
    """1.5 s of a 440-Hz tone with a little noise, at 32 kHz."""
    rng = np.random.default_rng(0)
    return tone(440, 1.5, SR) + 0.05 * rng.standard_normal(int(1.5 * SR)).astype(np.float32)


@pytest.fixture
def clip_wav(clip) -> bytes:
    return wav_bytes(clip)
