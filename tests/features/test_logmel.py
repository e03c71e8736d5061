"""The log-mel front-end against the original PANNs front-end (torchlibrosa 0.1.0 + librosa)."""

import numpy as np
import pytest
import torch

from audiocnn.features import LogMel, mel_filterbank, power_to_db, stft_power
from audiocnn.models.layers import PANNS_FRONTENDS

librosa = pytest.importorskip("librosa", reason="librosa is a test-only reference dependency")
tl_stft = pytest.importorskip("torchlibrosa.stft", reason="torchlibrosa is a test-only reference dependency")


def panns_reference(sr):
    n_fft, hop, n_mels, fmin, fmax = PANNS_FRONTENDS[sr]
    spec = tl_stft.Spectrogram(n_fft=n_fft, hop_length=hop, win_length=n_fft, window="hann", center=True, pad_mode="reflect", freeze_parameters=True)
    logmel = tl_stft.LogmelFilterBank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, ref=1.0, amin=1e-10, top_db=None, freeze_parameters=True)
    return lambda x: logmel(spec(x))[:, 0]  # (batch, frames, mels)


def ours(sr):
    n_fft, hop, n_mels, fmin, fmax = PANNS_FRONTENDS[sr]
    return LogMel(sr, n_fft, hop, n_mels, fmin, fmax)


@pytest.mark.parametrize("sr", sorted(PANNS_FRONTENDS))
def test_filterbank_equals_librosa(sr):
    n_fft, _, n_mels, fmin, fmax = PANNS_FRONTENDS[sr]
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T
    np.testing.assert_allclose(mel_filterbank(sr, n_fft, n_mels, fmin, fmax), ref, rtol=1e-6, atol=1e-9)


def test_filterbank_other_settings_equal_librosa():
    for kw in [dict(sr=22050, n_fft=2048, n_mels=128, fmin=0, fmax=None), dict(sr=16000, n_fft=400, n_mels=40, fmin=20, fmax=7600)]:
        ref = librosa.filters.mel(**kw).T
        got = mel_filterbank(kw["sr"], kw["n_fft"], kw["n_mels"], kw["fmin"], kw["fmax"])
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9)
    ref_htk = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=True, norm=None).T
    np.testing.assert_allclose(mel_filterbank(16000, 512, 40, htk=True, norm=None), ref_htk, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sr", sorted(PANNS_FRONTENDS))
def test_logmel_matches_torchlibrosa_on_random_audio(sr):
    g = torch.Generator().manual_seed(sr)
    # white noise at several levels, a quiet segment, and an odd length
    x = torch.randn(3, 2 * sr + 37, generator=g) * torch.tensor([[0.5], [0.05], [0.001]])
    with torch.no_grad():
        ref, got = panns_reference(sr)(x), ours(sr)(x)
    assert got.shape == ref.shape == (3, 1 + x.shape[1] // PANNS_FRONTENDS[sr][1], 64)
    assert (got - ref).abs().max().item() < 1e-3


def test_logmel_matches_torchlibrosa_on_real_recordings(fsdd_dir):
    """FSDD clips resampled to 32 kHz are band-limited to 4 kHz, so their upper mel bins sit
    ~110 dB below the clip's peak, under the float32 noise floor of torchlibrosa's own DFT kernel
    (stored in float32: even run in float64 it is 2-5e-3 dB off an exact DFT there). The match is
    therefore required on every bin within 90 dB of the clip's peak, i.e. all of the content."""
    from audiocnn import load_audio

    files = sorted((fsdd_dir / "recordings").glob("*.wav"))[::300][:10]
    assert len(files) == 10
    ref_fn, mine = panns_reference(32000), ours(32000)
    worst, checked = 0.0, 0
    for f in files:
        wave, _ = load_audio(f, sample_rate=32000)
        x = torch.from_numpy(wave)[None]
        with torch.no_grad():
            ref, got = ref_fn(x), mine(x)
        content = ref > ref.max() - 90.0
        checked += int(content.sum())
        worst = max(worst, (got - ref)[content].abs().max().item())
    assert checked > 10 * 64 * 10  # most bins of every clip are compared
    assert worst < 1e-3


def test_stft_power_equals_numpy_dft():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000).astype(np.float64)
    n_fft, hop = 64, 16
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    got = stft_power(torch.from_numpy(x)[None], n_fft, hop, window)[0].numpy()
    padded = np.pad(x, n_fft // 2, mode="reflect")
    frames = np.stack([padded[i * hop : i * hop + n_fft] for i in range(1 + len(x) // hop)])
    ref = np.abs(np.fft.rfft(frames * window.numpy(), axis=1)) ** 2
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_power_to_db():
    p = torch.tensor([[1.0, 10.0, 1e-12, 0.0]])
    np.testing.assert_allclose(power_to_db(p).numpy(), [[0.0, 10.0, -100.0, -100.0]], atol=1e-5)
    clipped = power_to_db(torch.tensor([[1.0, 1e-3, 1e-9]]), top_db=40.0)
    np.testing.assert_allclose(clipped.numpy(), [[0.0, -30.0, -40.0]], atol=1e-4)


def test_logmel_batched_equals_per_item_and_is_differentiable():
    m = ours(32000)
    x = torch.randn(4, 16000, requires_grad=True)
    out = m(x)
    for i in range(4):
        torch.testing.assert_close(m(x[i : i + 1])[0], out[i], rtol=1e-5, atol=1e-4)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_logmel_exports_with_a_dynamic_length():
    m = ours(16000).eval()
    dyn = {"waveform": {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}}
    program = torch.export.export(m, (torch.randn(2, 8000),), dynamic_shapes=dyn).module()
    for n in (8000, 12345):
        x = torch.randn(3, n)
        torch.testing.assert_close(program(x), m(x))


def test_melw_is_persistent_for_checkpoints_but_window_is_not():
    keys = set(ours(32000).state_dict())
    assert keys == {"melW"}


def test_bad_shapes_and_settings():
    with pytest.raises(ValueError, match="batch, samples"):
        ours(32000)(torch.zeros(16000))
    with pytest.raises(ValueError, match="f_max"):
        LogMel(16000, 512, 160, 64, 50, 9000)
