import csv

import numpy as np
import pytest

from audiocnn.testing import write_wav

SR = 16000
FREQS = {"low": 400.0, "mid": 1200.0, "high": 3000.0}


def make_tone_csv(root, per_class=6, folds=3, seconds=0.5, multilabel=False, extra_rows=()):
    """Tiny dataset: 3 classes of noisy tones, CSV with filename,label,fold[,labels]."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, f in FREQS.items():
        for j in range(per_class):
            t = np.arange(int(SR * seconds * rng.uniform(0.8, 1.2))) / SR
            x = 0.3 * np.sin(2 * np.pi * f * rng.uniform(0.95, 1.05) * t) + 0.02 * rng.standard_normal(t.size)
            fn = f"{name}_{j}.wav"
            write_wav(root / fn, x.astype(np.float32), SR)
            rows.append({"filename": fn, "label": name, "fold": str(j % folds + 1)})
    if multilabel:
        for r in rows:  # every "high" clip is also tagged "bright"
            r["labels"] = r["label"] + (";bright" if r["label"] == "high" else "")
            del r["label"]
    rows += list(extra_rows)
    path = root / "meta.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return path


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


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # test-size models gain nothing from intra-op threads, and on a shared CPU two threads
    # spinning against each other are many times slower than one
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
