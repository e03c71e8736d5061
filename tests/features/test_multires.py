"""The 3-channel multi-resolution log-mel front-end (Palanisamy et al. 2020 settings)."""

import librosa
import numpy as np
import pytest
import torch
from PIL import Image

from audiocnn.features.multires import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiResolutionMel,
    linear_resize_matrix,
    multi_resolution_mel,
    num_multires_frames,
    resize_frames,
)
from audiocnn.testing import tone


def test_shapes_follow_the_study_250_frames_per_5_s():
    for sr in (22050, 44100):
        x = torch.randn(2, 5 * sr)
        assert MultiResolutionMel(sr)(x).shape == (2, 3, 128, 250)
    m = MultiResolutionMel(16000)
    assert m(torch.randn(1, 2 * 16000)).shape == (1, 3, 128, 100)
    assert num_multires_frames(30 * 22050, 22050) == 1500  # the study's GTZAN size
    assert m.n_fft == 1600 and m.win_lengths == [400, 800, 1600] and m.hop_lengths == [160, 400, 800]


def test_channel_equals_librosa_log_mel_with_the_studys_torchaudio_settings():
    # At 22 kHz the 10-ms hop is 220 samples; 22,150 samples give 101 STFT frames and
    # round(22150 * 50 / 22000) ... with 100 frames/s also 101 columns, so channel 0 is not resized.
    sr, n = 22000, 22150
    rng = np.random.default_rng(0)
    y = (0.3 * rng.standard_normal(n) + tone(440, n / sr, sr)[:n]).astype(np.float32)
    m = MultiResolutionMel(sr, frames_per_second=100.0)
    got = m(torch.from_numpy(y)[None])[0, 0].double().numpy()
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=sr, n_fft=2200, hop_length=220, win_length=550, window="hann",
        center=True, pad_mode="reflect", power=2.0, n_mels=128, fmin=0.0, fmax=sr / 2, htk=True, norm=None,
    )
    assert got.shape == mel.shape
    np.testing.assert_allclose(got, np.log(mel + 1e-6), atol=2e-3, rtol=1e-4)


def test_resize_matches_pil_bilinear_resize_used_by_the_study():
    rng = np.random.default_rng(1)
    for frames_in, frames_out in ((501, 250), (201, 250), (101, 250), (60, 37)):
        spec = rng.standard_normal((128, frames_in)).astype(np.float32) * 3
        ref = np.asarray(Image.fromarray(spec).resize((frames_out, 128), Image.BILINEAR))
        got = resize_frames(torch.from_numpy(spec)[None], frames_out)[0].numpy()
        np.testing.assert_allclose(got, ref, atol=5e-4, rtol=1e-3)  # PIL rounds its filter weights


def test_module_equals_function_and_batch_equals_items():
    sr = 16000
    x = 0.2 * torch.randn(3, int(1.3 * sr))
    m = MultiResolutionMel(sr, normalize=True)
    batch = m(x)
    torch.testing.assert_close(batch, multi_resolution_mel(x, sr, normalize=True))
    for i in range(3):
        torch.testing.assert_close(m(x[i : i + 1])[0], batch[i], rtol=1e-5, atol=1e-5)
    assert m.state_dict() == {}  # buffers are not checkpoint content


def test_imagenet_normalisation_maps_each_channel_to_unit_range_then_standardises():
    sr = 16000
    x = 0.2 * torch.randn(2, sr)
    y = MultiResolutionMel(sr, normalize=True)(x)
    mean = torch.tensor(IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD)[None, :, None, None]
    unit = y * std + mean
    torch.testing.assert_close(unit.amin(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(unit.amax(dim=(2, 3)), torch.ones(2, 3), atol=1e-5, rtol=0)


def test_gradients_flow_to_the_waveform():
    sr = 1000
    x = (0.3 * torch.randn(1, 160, dtype=torch.float64)).requires_grad_()
    f = lambda w: multi_resolution_mel(w, sr, n_mels=8, frames_per_second=20.0)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-4, fast_mode=True)


def test_a_tone_lights_up_its_mel_band_in_every_channel():
    sr = 22050
    m = MultiResolutionMel(sr)
    img = m(torch.from_numpy(tone(3000, 2.0, sr))[None])[0]
    band = int(torch.argmin((m.mel_frequencies() - 3000).abs()))
    peak = img.mean(dim=2).argmax(dim=1)
    assert all(abs(int(p) - band) <= 1 for p in peak), (peak, band)


def test_too_short_input_is_a_clear_error():
    m = MultiResolutionMel(22050)
    with pytest.raises(ValueError, match="at least 1103 samples"):
        m(torch.zeros(1, 1000))


@pytest.mark.parametrize("n_in, n_out", [(1001, 500), (101, 50), (51, 50), (26, 25), (11, 50), (2, 5), (3, 1), (7, 7)])
def test_resize_matrix_equals_antialiased_interpolate(n_in, n_out):
    # the export path resizes by a matrix product (F.interpolate's antialiased mode has no ONNX
    # form); in float64 it is F.interpolate's own arithmetic, so the two agree to rounding
    x = torch.randn(2, 8, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(n_in))
    ref = torch.nn.functional.interpolate(x[:, None], size=(8, n_out), mode="bilinear", align_corners=False, antialias=True)[:, 0]
    got = x @ linear_resize_matrix(n_in, n_out, dtype=torch.float64)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)


def test_frame_count_equals_rounding_the_frame_rate():
    # the count is computed in integers (so that it stays symbolic under torch.export); it must
    # equal rounding n * fps / sr for every length, including exact halves (at 16 kHz, 480
    # samples = 1.5 frames -> 2, 800 = 2.5 -> 2: half to even, as Python's round)
    for sr in (16000, 22050, 44100):
        for fps in (50.0, 31.25, 33.3):
            ns = list(range(1, 2000, 7)) + [160, 480, 800, 1120, 5 * sr, 5 * sr + 1, 30 * sr + 441 // 2]
            assert [num_multires_frames(n, sr, fps) for n in ns] == [max(1, round(n * fps / sr)) for n in ns]
    assert num_multires_frames(480, 16000) == 2 and num_multires_frames(800, 16000) == 2


def test_exported_front_end_follows_the_input_length():
    # exported on 1 s (50 columns) and run on other lengths: a frame count or resize frozen at
    # the example's length would give another width or other values
    m = MultiResolutionMel(16000).eval()
    dyn = {"waveform": {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}}
    program = torch.export.export(m, (0.1 * torch.randn(2, 16000),), dynamic_shapes=dyn).module()
    for n in (12800, 34720):
        x = 0.1 * torch.randn(3, n, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            ref, got = m(x), program(x)
        assert got.shape == ref.shape == (3, 3, 128, num_multires_frames(n, 16000))
        torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


def test_resize_of_bfloat16_spectrograms_equals_the_float32_resize():
    """bf16 autocast training hands the resize bfloat16 spectrograms: the antialiased kernel has no
    bfloat16 form, so the resize runs in float32 and returns bfloat16."""
    spec = torch.randn(2, 8, 100).to(torch.bfloat16)
    out = resize_frames(spec, 37)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 8, 37)
    torch.testing.assert_close(out, resize_frames(spec.float(), 37).to(torch.bfloat16))
