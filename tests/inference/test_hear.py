import numpy as np
import pytest
import torch

from audiocnn import hear

from inference_helpers import SR


@pytest.fixture(scope="module", params=["test_cnn", "test_cnn_sed"])
def hmodel(request):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return hear.load_model("", model_name=request.param)


def test_attributes(hmodel):
    assert hmodel.network_sample_rate == SR
    assert hmodel.sample_rate == 44100  # 32 kHz is no HEAR rate: the lowest HEAR rate above it
    assert hmodel.scene_embedding_size == 16 and hmodel.timestamp_embedding_size == 16


@pytest.mark.parametrize("network, expected", [(16000, 16000), (22050, 22050), (32000, 44100), (12000, 16000), (44100, 44100), (96000, 48000)])
def test_hear_sample_rate(network, expected):
    assert hear.hear_sample_rate(network) == expected


def test_scene_embeddings_shape_and_batch_independence(hmodel):
    audio = 0.1 * torch.randn(3, int(1.2 * hmodel.sample_rate))
    emb = hear.get_scene_embeddings(audio, hmodel)
    assert emb.shape == (3, hmodel.scene_embedding_size)
    torch.testing.assert_close(hear.get_scene_embeddings(audio[1:2], hmodel)[0], emb[1], atol=1e-5, rtol=1e-4)
    # the network sees the sounds resampled to its own rate
    import soxr

    at_network_rate = torch.from_numpy(np.stack([soxr.resample(x, hmodel.sample_rate, SR) for x in audio.numpy()]))
    assert at_network_rate.shape[1] == int(1.2 * SR)
    with torch.no_grad():
        ref = hmodel.model(at_network_rate)["embedding"]
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-4)


def test_a_hear_rate_network_takes_audio_as_it_is():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hear.load_model(model_name="test_cnn", sample_rate=SR)
    assert m.sample_rate == m.network_sample_rate == SR
    audio = 0.1 * torch.randn(2, SR)
    with torch.no_grad():
        ref = m.model(audio)["embedding"]
    torch.testing.assert_close(hear.get_scene_embeddings(audio, m), ref, atol=1e-5, rtol=1e-4)


def test_timestamp_embeddings_shapes_and_monotonic(hmodel):
    audio = 0.1 * torch.randn(2, int(1.3 * hmodel.sample_rate))
    n = int(1.3 * SR)  # samples at the network's rate
    emb, ts = hear.get_timestamp_embeddings(audio, hmodel)
    assert emb.dim() == 3 and emb.shape[0] == 2 and emb.shape[2] == hmodel.timestamp_embedding_size
    assert ts.shape == emb.shape[:2]
    assert torch.all(ts[:, 1:] > ts[:, :-1])
    assert ts.min() >= 0 and ts.max() <= n / SR * 1000
    torch.testing.assert_close(ts[0], ts[1])
    if not hmodel.frame_features:  # sliding windows centred every 250 ms
        np.testing.assert_allclose(ts[0].numpy(), np.arange(1 + n // (SR // 4)) * 250.0)


def test_timestamp_embedding_of_a_window_equals_the_model_on_that_window():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hear.load_model(model_name="test_cnn", window_seconds=0.5, hop_seconds=0.25, sample_rate=SR)
    audio = 0.1 * torch.randn(1, SR)
    emb, ts = hear.get_timestamp_embeddings(audio, m)
    # window k = 2 is centred at 500 ms: samples [0.25 s, 0.75 s)
    assert ts[0, 2].item() == pytest.approx(500.0)
    with torch.no_grad():
        ref = m.model(audio[:, SR // 4 : 3 * SR // 4])["embedding"][0]
    torch.testing.assert_close(emb[0, 2], ref, atol=1e-5, rtol=1e-4)


def test_long_scene_audio_is_averaged_over_windows():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hear.load_model(model_name="test_cnn", scene_window_seconds=1.0, sample_rate=SR)
    audio = 0.1 * torch.randn(1, int(2.5 * SR))
    with torch.no_grad():
        parts = [m.model(audio[:, s : s + SR])["embedding"] for s in (0, SR, int(1.5 * SR))]
    torch.testing.assert_close(hear.get_scene_embeddings(audio, m), torch.stack(parts).mean(0), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", __import__("audiocnn").list_models("test_*", include_test=True))
def test_every_family_gives_hear_embeddings(name):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        m = hear.load_model(model_name=name)
    audio = 0.1 * torch.randn(2, int(1.1 * m.sample_rate))
    scene = hear.get_scene_embeddings(audio, m)
    emb, ts = hear.get_timestamp_embeddings(audio, m)
    assert scene.shape == (2, m.scene_embedding_size) and torch.isfinite(scene).all()
    assert emb.shape[0] == 2 and emb.shape[2] == m.timestamp_embedding_size and ts.shape == emb.shape[:2]
    assert torch.all(ts[:, 1:] > ts[:, :-1])
