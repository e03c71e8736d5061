import numpy as np
import pytest

from audiocnn.inference.sed import EventTracker, SoundEventDetector, extract_events, plot_sed
from audiocnn.testing import tone, write_wav

from inference_helpers import SR, quiet


def _curve(n, spans, high=0.9, low=0.1):
    p = np.full(n, low, dtype=np.float32)
    for s, e in spans:
        p[s:e] = high
    return p


def test_threshold_runs_become_events_in_seconds():
    p = _curve(100, [(10, 30), (50, 55)])
    p[20] = 0.95
    ev = extract_events(p[:, None], frame_rate=10.0, labels=["dog"], thresholds=0.5)
    assert [(e.onset, e.offset, e.label) for e in ev] == [(1.0, 3.0, "dog"), (5.0, 5.5, "dog")]
    assert ev[0].score == pytest.approx(0.95) and ev[1].score == pytest.approx(0.9)


def test_min_duration_drops_short_events():
    p = _curve(100, [(10, 12), (40, 60)])
    ev = extract_events(p[:, None], frame_rate=10.0, thresholds=0.5, min_duration=0.3)
    assert [(e.onset, e.offset) for e in ev] == [(4.0, 6.0)]


def test_gap_merging_before_min_duration():
    # two 0.2-s bursts 0.2 s apart: separately too short, merged they are 0.6 s
    p = _curve(50, [(10, 12), (14, 16), (30, 32)])
    assert extract_events(p[:, None], 10.0, thresholds=0.5, min_duration=0.5) == []
    ev = extract_events(p[:, None], 10.0, thresholds=0.5, min_duration=0.5, merge_gap=0.2)
    assert [(e.onset, e.offset) for e in ev] == [(1.0, 1.6)]
    ev = extract_events(p[:, None], 10.0, thresholds=0.5, merge_gap=0.1)  # gap of 0.2 s is too wide
    assert len(ev) == 3


def test_per_class_thresholds_and_time_offset():
    p = np.stack([_curve(20, [(2, 6)], high=0.4), _curve(20, [(8, 12)], high=0.4)], axis=1)
    ev = extract_events(p, 10.0, labels=["a", "b"], thresholds={"default": 0.5, "b": 0.3}, time_offset=1.0)
    assert [(e.label, e.onset, e.offset) for e in ev] == [("b", 1.8, 2.2)]
    with pytest.raises(ValueError, match="unknown label"):
        extract_events(p, 10.0, labels=["a", "b"], thresholds={"c": 0.3})


def test_streaming_in_blocks_equals_one_pass():
    rng = np.random.default_rng(0)
    p = (rng.random((997, 4)) > 0.7).astype(np.float32) * rng.random((997, 4))
    one = extract_events(p, 100.0, thresholds=0.2, min_duration=0.02, merge_gap=0.03)
    tr = EventTracker([f"class_{i}" for i in range(4)], 100.0, 0.2, 0.02, 0.03)
    for s in range(0, 997, 37):
        tr.update(p[s : s + 37])
    assert [e.to_dict() for e in tr.finish()] == [e.to_dict() for e in one]
    assert len(one) > 10


def test_chunked_file_equals_single_pass(tiny_sed, tmp_path):
    rng = np.random.default_rng(1)
    x = (0.05 * rng.standard_normal(int(9.3 * SR))).astype(np.float32)
    x[2 * SR : 4 * SR] += tone(800, 2.0, SR)
    path = write_wav(tmp_path / "long.wav", x, SR, subtype="FLOAT")
    whole = SoundEventDetector(tiny_sed, chunk_seconds=100).detect(x, keep_frames=True)
    chunked = SoundEventDetector(tiny_sed, chunk_seconds=2.0, margin_seconds=0.4)
    assert chunked.chunk < x.shape[0] / 3  # really several chunks
    res = chunked.detect(path, keep_frames=True)
    assert res.frame_probabilities.shape == whole.frame_probabilities.shape == (1 + x.shape[0] // 320, 6)
    np.testing.assert_allclose(res.frame_probabilities, whole.frame_probabilities, atol=1e-5)
    assert res.frame_rate == 100.0 and res.duration == pytest.approx(9.3)
    # frames agree with the model run directly on the whole file
    import torch

    with torch.no_grad():
        direct = torch.sigmoid(tiny_sed(torch.from_numpy(x)[None])["framewise_logits"][0]).numpy()
    np.testing.assert_allclose(res.frame_probabilities, direct, atol=1e-5)
    png = plot_sed(res, tmp_path / "sed.png", top_k=3)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_clip_level_model_through_sliding_windows(tiny_cnn):
    det = SoundEventDetector(tiny_cnn, window_seconds=0.5, hop_seconds=0.25)
    x = (0.1 * np.random.default_rng(2).standard_normal(int(2.1 * SR))).astype(np.float32)
    res = det.detect(x, keep_frames=True)
    assert res.frame_rate == 4.0 and res.time_offset == 0.25
    # windows start 0, .25, ..., 1.5 and a last one at 1.75 zero-padded to 0.5 s
    assert res.num_frames == 8 == res.frame_probabilities.shape[0]
    import torch

    with torch.no_grad():
        w3 = torch.sigmoid(tiny_cnn(torch.from_numpy(x[int(0.75 * SR) : int(1.25 * SR)])[None])["logits"])[0].numpy()
    np.testing.assert_allclose(res.frame_probabilities[3], w3, atol=1e-5)


def test_big_inputs_keep_only_the_overview(tiny_sed):
    det = SoundEventDetector(tiny_sed, chunk_seconds=3.0, margin_seconds=0.4, keep_frames=False)
    x = (0.05 * np.random.default_rng(3).standard_normal(8 * SR)).astype(np.float32)
    res = det.detect(x)
    assert res.frame_probabilities is None
    assert res.overview.shape[1] == 6 and res.class_max.shape == (6,)
    full = quiet(SoundEventDetector, tiny_sed, chunk_seconds=100).detect(x, keep_frames=True).frame_probabilities
    np.testing.assert_allclose(res.class_max, full.max(axis=0), atol=1e-5)
