"""Saliency maps: plumbing checked against direct autograd, SmoothGrad/gradient consistency, every
kind of model, the ``explain`` command, and (slow) a trained model that looks where the class is."""

import numpy as np
import pytest
import torch

import audiocnn
from audiocnn.cli import main as cli_main
from audiocnn.inference.saliency import saliency
from audiocnn.testing import tone, write_wav


def _clip(model, seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    n = max(int(seconds * model.sample_rate), model.info.min_samples)
    return (0.1 * rng.standard_normal(n) + tone(440, n / model.sample_rate, model.sample_rate)[:n]).astype(np.float32)


@pytest.mark.parametrize("name", ["test_imagenet_resnet", "test_cnn", "test_res1dnet", "test_wavegram"])
@pytest.mark.parametrize("method", ["gradient", "smoothgrad", "gradcam"])
def test_every_kind_of_model_gives_a_map_on_the_display_grid(name, method):
    model = audiocnn.create_model(name, num_classes=3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _clip(model)
    r = saliency(model, x, method=method, samples=3, labels=["a", "b", "c"])
    assert r.saliency.shape == r.spectrogram.shape == (len(r.freqs), len(r.times))
    assert np.isfinite(r.spectrogram).all() and np.isfinite(r.saliency).all()
    assert r.saliency.min() >= 0 and r.saliency.max() <= 1 + 1e-6
    assert np.all(np.diff(r.times) > 0) and 0 <= r.times[0] and r.times[-1] <= len(x) / model.sample_rate + 0.06
    assert np.all(np.diff(r.freqs) > 0) and 0 < r.freqs[-1] <= model.sample_rate / 2
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None])["logits"][0]
    assert r.predicted == int(logits.argmax()) == r.target and r.label == "abc"[r.predicted]
    assert r.probability == pytest.approx(float(torch.softmax(logits, 0).max()), rel=1e-5)
    # the model is left as it was
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_spectrogram_gradient_equals_direct_autograd_on_the_front_end_output():
    model = audiocnn.create_model("test_imagenet_resnet", num_classes=3).eval()
    x = _clip(model, 1.3)
    r = saliency(model, x, method="gradient", target=2)
    img = model.frontend(torch.from_numpy(x)[None]).detach().requires_grad_()
    model.backbone(img)[0, 2].backward()
    direct = img.grad[0].abs().sum(0).numpy()
    np.testing.assert_allclose(r.saliency, direct / direct.max(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(r.spectrogram, img[0, 0].detach().numpy(), rtol=1e-6)
    assert r.input_kind == "spectrogram" and r.target == 2


def test_waveform_gradient_is_the_mel_spectrogram_of_the_input_gradient():
    model = audiocnn.create_model("test_res1dnet", num_classes=3).eval()
    x = _clip(model, 0.5)
    r = saliency(model, x, method="gradient")
    w = torch.from_numpy(x)[None].requires_grad_()
    model(w)["logits"][0, r.predicted].backward()
    g = w.grad[0].double().numpy()
    # mel power of the gradient signal with librosa, the display grid's settings (64 Slaney bands, 10-ms hop)
    import librosa

    sr = model.sample_rate
    mel = librosa.feature.melspectrogram(y=g, sr=sr, n_fft=1024, hop_length=sr // 100, window="hann", center=True,
                                         pad_mode="reflect", power=2.0, n_mels=64, fmin=0.0, fmax=sr / 2)
    np.testing.assert_allclose(r.saliency, mel / mel.max(), rtol=1e-3, atol=1e-5)
    assert r.input_kind == "waveform"


@pytest.mark.parametrize("name", ["test_imagenet_resnet", "test_leenet"])
def test_smoothgrad_without_noise_is_the_gradient(name):
    model = audiocnn.create_model(name, num_classes=3).eval()
    x = _clip(model)
    g = saliency(model, x, method="gradient")
    s = saliency(model, x, method="smoothgrad", noise_level=0.0, samples=3)
    np.testing.assert_allclose(s.saliency, g.saliency, rtol=1e-4, atol=1e-6)
    noisy = saliency(model, x, method="smoothgrad", noise_level=0.2, samples=3)
    assert not np.allclose(noisy.saliency, g.saliency, atol=1e-3)


def test_bad_arguments_are_clear_errors():
    model = audiocnn.create_model("test_imagenet_resnet", num_classes=3)
    x = _clip(model)
    with pytest.raises(ValueError, match="method must be one of"):
        saliency(model, x, method="lime")
    with pytest.raises(ValueError, match="target 7 out of range for 3 classes"):
        saliency(model, x, target=7)
    with pytest.raises(ValueError, match="one clip"):
        saliency(model, np.zeros((2, 16000), np.float32))


def test_explain_command_writes_the_figure_and_arrays(tmp_path, capsys):
    model = audiocnn.create_model("test_imagenet_resnet", num_classes=2)
    ckpt = tmp_path / "m.pth"
    bundle = audiocnn.models.ModelBundle.for_model(model, labels=["no tone", "tone"], task="single-label")
    audiocnn.models.save_checkpoint(model, ckpt, bundle)
    wav = write_wav(tmp_path / "clip.wav", tone(3000, 1.0, 16000), 16000)
    out, npz = tmp_path / "s.png", tmp_path / "s.npz"
    code = cli_main(["explain", str(wav), "--model", "test_imagenet_resnet", "--checkpoint", str(ckpt),
                     "--method", "gradcam", "--out", str(out), "--npz", str(npz)])
    assert code == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    arrays = np.load(npz)
    assert arrays["saliency"].shape == arrays["spectrogram"].shape == (128, 50)
    printed = capsys.readouterr().out
    assert "predicted no tone" in printed or "predicted tone" in printed
    assert cli_main(["explain", str(tmp_path / "missing.wav"), "--model", "test_imagenet_resnet", "--out", str(out)]) == 1
    assert "missing.wav: file not found" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# A trained model looks where the class is decided


def _tone_task(n, seed, sr=8000, seconds=2.0):
    """Class 1 = a 3 kHz tone in the second half; both classes have noise and a 400-700 Hz tone
    in the first half (a distractor that says nothing about the class)."""
    rng = np.random.default_rng(seed)
    N, h = int(sr * seconds), int(sr * seconds) // 2
    xs, ys = [], []
    for i in range(n):
        y = i % 2
        x = 0.05 * rng.standard_normal(N).astype(np.float32)
        x[:h] += tone(rng.uniform(400, 700), seconds, sr, amplitude=0.3)[:h]
        if y:
            x[h:] += tone(3000, seconds, sr, amplitude=0.3)[: N - h]
        xs.append(x * rng.uniform(0.5, 2))
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def _region(r, t0, t1, f0, f1):
    return np.outer((r.freqs >= f0) & (r.freqs <= f1), (r.times >= t0) & (r.times <= t1))


@pytest.mark.slow
def test_trained_model_saliency_falls_on_the_tone_that_decides_the_class():
    torch.manual_seed(0)
    model = audiocnn.create_model("test_imagenet_resnet", num_classes=2, sample_rate=8000)
    x, y = _tone_task(32, seed=0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    model.train()
    for _ in range(30):
        idx = torch.randint(0, len(x), (8,))
        loss = torch.nn.functional.cross_entropy(model(x[idx])["logits"], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xt, yt = _tone_task(8, seed=1)
    with torch.no_grad():
        assert (model(xt)["logits"].argmax(1) == yt).float().mean() >= 0.99, "the tiny model did not learn the task"

    energy = {"gradient": [], "gradcam": []}
    for clip in xt[yt == 1]:
        for method in energy:
            r = saliency(model, clip, method=method, target=1)
            tone_band = _region(r, 1.0, 2.0, 2500, 3500)  # the tone: 7 % of the plane
            region = _region(r, 1.0, 2.0, 1500, 4000)  # the tone with a margin of about one Grad-CAM cell: 20 %
            s = r.saliency
            assert tone_band[np.unravel_index(s.argmax(), s.shape)], f"{method}: the peak is not on the tone"
            energy[method].append((s**2 * region).sum() / (s**2).sum())
            if method == "gradient":  # fine-grained: nearly all of the 1 % most salient cells are on the tone
                top = s >= np.quantile(s, 0.99)
                assert (top & tone_band).sum() / top.sum() >= 0.8
    for method, e in energy.items():
        assert np.mean(e) > 0.5, f"{method}: only {np.mean(e):.2f} of the saliency energy in the tone region"
