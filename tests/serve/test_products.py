import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import audiocnn  # noqa: E402
from audiocnn.models import ModelBundle, save_checkpoint  # noqa: E402
from audiocnn.serve import ServeConfig, create_app, load_served_model  # noqa: E402
from audiocnn.testing import tone  # noqa: E402

from serve_helpers import SR, wav_bytes  # noqa: E402


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """A test_cnn checkpoint with a bundle as `audiocnn train` writes it: 3 named classes,
    single-label, 1-s clips with a 0.5-s hop."""
    torch.manual_seed(4)
    net = audiocnn.create_model("test_cnn", num_classes=3).eval()
    bundle = ModelBundle.for_model(net, labels=["dog", "rain", "siren"], task="single-label", clip_seconds=1.0, hop_seconds=0.5)
    return save_checkpoint(net, tmp_path_factory.mktemp("ckpt") / "best.pth", bundle=bundle)


def test_a_checkpoint_alone_gives_the_whole_bundle(trained_checkpoint):
    served = load_served_model(checkpoint=trained_checkpoint, precision="fp32")
    with TestClient(create_app(ServeConfig(), model=served)) as c:
        m = c.get("/v1/models").json()["models"][0]
        assert (m["name"], m["labels"], m["task"], m["activation"], m["clip_seconds"]) == ("test_cnn", ["dog", "rain", "siren"], "single-label", "softmax", 1.0)
        r = c.post("/v1/tag?probabilities=true", content=wav_bytes(tone(500, 2.2, SR)))
    probs = r.json()["probabilities"]
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)  # softmax over mutually exclusive classes
    assert {t["label"] for t in r.json()["tags"]} == {"dog", "rain", "siren"}


def test_embedding_uses_the_bundle_windows(trained_checkpoint):
    served = load_served_model(checkpoint=trained_checkpoint, precision="fp32")
    x = tone(500, 2.2, SR) + 0.1 * np.random.default_rng(2).standard_normal(int(2.2 * SR)).astype(np.float32)
    (emb,) = served.embed_batch([x])
    # 1-s windows every 0.5 s, the last aligned with the end: starts 0, 0.5, 1.0, 1.2 s
    starts = [0, SR // 2, SR, int(2.2 * SR) - SR]
    rows = served.embedder.embed_batch(np.stack([x[s : s + SR] for s in starts]))
    np.testing.assert_allclose(emb, rows.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_neither_model_nor_checkpoint_is_an_error():
    with pytest.raises(ValueError, match="--model"):
        load_served_model()
