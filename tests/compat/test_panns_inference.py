"""``audiocnn.compat.panns_inference``: a script written for ``panns_inference`` runs with one
import line changed, on tiny checkpoints the tests write; and gives the real package's numbers
when that package is installed."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import audiocnn
from audiocnn.models import ModelBundle, save_checkpoint

SR = 32000
NAMES = ["Speech", "Dog", "Music", "Siren"]

# What a panns_inference user writes (its README's example), with the import line to fill in.
SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np
    {import_line}

    audio = np.load(sys.argv[1])  # (batch_size, segment_samples) at 32 kHz

    at = AudioTagging(checkpoint_path=sys.argv[2], device="cpu")
    (clipwise_output, embedding) = at.inference(audio)

    sed = SoundEventDetection(checkpoint_path=sys.argv[3], device="cpu")
    framewise_output = sed.inference(audio)

    order = np.argsort(clipwise_output[0])[::-1]
    np.savez(sys.argv[4], clipwise=clipwise_output, embedding=embedding, framewise=framewise_output)
    print(json.dumps({{"top": [labels[i] for i in order[:2]], "classes": len(labels)}}))
    """
)


def _write_labels_csv(path: Path, names: list[str]) -> Path:
    """A file in AudioSet's ``class_labels_indices.csv`` layout (index,mid,display_name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(["index", "mid", "display_name"])
        for i, n in enumerate(names):
            w.writerow([i, f"/m/{i:05d}", n])
    return path


def _run_script(tmp_path: Path, module: str, home: Path, tagging: Path, sed: Path, audio: np.ndarray) -> tuple[dict, dict]:
    script = tmp_path / f"script_{module.replace('.', '_')}.py"
    script.write_text(SCRIPT.format(import_line=f"from {module} import AudioTagging, SoundEventDetection, labels"))
    np.save(tmp_path / "audio.npy", audio)
    out = tmp_path / f"out_{module.replace('.', '_')}.npz"
    env = {**os.environ, "HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("AUDIOCNN_PANNS_LABELS", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "audio.npy"), str(tagging), str(sed), str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(out) as z:
        return summary, {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny clip-level model and a tiny frame-level model (4 classes each, multi-label like
    PANNs), saved as audiocnn checkpoints, and a home folder with ``panns_data/class_labels_indices.csv``."""
    root = tmp_path_factory.mktemp("compat")
    torch.manual_seed(3)
    tagger = audiocnn.create_model("test_cnn", num_classes=len(NAMES)).eval()
    sed = audiocnn.create_model("test_cnn_sed", num_classes=len(NAMES)).eval()
    paths = {}
    for name, model in (("tagging", tagger), ("sed", sed)):
        paths[f"{name}_path"] = save_checkpoint(model, root / f"{name}.pth", ModelBundle.for_model(model, labels=NAMES))
    home = root / "home"
    _write_labels_csv(home / "panns_data" / "class_labels_indices.csv", NAMES)
    return {"root": root, "home": home, "tagging": tagger, "sed": sed, **paths}


def _audio(batch: int = 2, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * (300 + 900 * i) * t) + 0.05 * rng.standard_normal(t.size) for i in range(batch)]).astype(np.float32)


def test_a_panns_inference_script_runs_against_the_compat_module(tiny, tmp_path):
    audio = _audio()
    summary, out = _run_script(tmp_path, "audiocnn.compat.panns_inference", tiny["home"], tiny["tagging_path"], tiny["sed_path"], audio)
    assert summary["classes"] == len(NAMES) and set(summary["top"]) <= set(NAMES)
    x = torch.from_numpy(audio)
    with torch.no_grad():
        ref_tag = tiny["tagging"](x)
        ref_sed = tiny["sed"](x)
    # shapes as panns_inference gives them, values of the models themselves (inputs shorter than a clip: one pass)
    assert out["clipwise"].shape == (2, len(NAMES)) and out["clipwise"].dtype == np.float32
    np.testing.assert_allclose(out["clipwise"], torch.sigmoid(ref_tag["logits"]).numpy(), atol=1e-5)
    np.testing.assert_allclose(out["embedding"], ref_tag["embedding"].numpy(), atol=1e-5)
    frames = 1 + audio.shape[1] // (SR // 100)  # 100 frames/s, centred STFT frames
    assert out["framewise"].shape == (2, frames, len(NAMES))
    np.testing.assert_allclose(out["framewise"], torch.sigmoid(ref_sed["framewise_logits"][:, :frames]).numpy(), atol=1e-5)
    assert summary["top"][0] == NAMES[int(np.argmax(out["clipwise"][0]))]


def test_import_reads_no_file_and_labels_say_where_they_are_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "empty_home"))
    monkeypatch.delenv("AUDIOCNN_PANNS_LABELS", raising=False)
    mod = importlib.reload(importlib.import_module("audiocnn.compat.panns_inference"))
    with pytest.raises(FileNotFoundError, match=r"empty_home/panns_data/class_labels_indices.csv does not exist"):
        mod.labels  # noqa: B018
    csv_path = _write_labels_csv(tmp_path / "my_labels.csv", ["a", "b", "c"])
    monkeypatch.setenv("AUDIOCNN_PANNS_LABELS", str(csv_path))
    assert mod.labels == ["a", "b", "c"]
    importlib.reload(mod)  # no cached labels for the other tests


def test_labels_path_and_the_checkpoint_labels(tiny, tmp_path):
    from audiocnn.compat.panns_inference import AudioTagging, SoundEventDetection

    assert AudioTagging(checkpoint_path=tiny["tagging_path"]).labels == NAMES
    own = ["w", "x", "y", "z"]
    at = AudioTagging(checkpoint_path=tiny["tagging_path"], labels_path=_write_labels_csv(tmp_path / "l.csv", own))
    assert at.labels == own and at.classes_num == 4 and at.sample_rate == SR
    assert SoundEventDetection(checkpoint_path=tiny["sed_path"], labels_path=own).labels == own
    with pytest.raises(ValueError, match="has 3 labels but the model has 4 outputs"):
        AudioTagging(checkpoint_path=tiny["tagging_path"], labels_path=_write_labels_csv(tmp_path / "three.csv", own[:3]))


def test_no_checkpoint_is_downloaded(tmp_path, monkeypatch):
    from audiocnn.compat.panns_inference import AudioTagging, SoundEventDetection

    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"panns_data/Cnn14_mAP=0.431.pth does not exist; audiocnn downloads nothing"):
        AudioTagging(checkpoint_path=None)
    with pytest.raises(FileNotFoundError, match=r"panns_data/Cnn14_DecisionLevelMax.pth does not exist"):
        SoundEventDetection()


def test_device_and_interpolation_arguments(tiny):
    from audiocnn.compat.panns_inference import AudioTagging, SoundEventDetection

    with pytest.warns(UserWarning, match="device='cuda': audiocnn's inference runs on the CPU"):
        AudioTagging(checkpoint_path=tiny["tagging_path"], device="cuda")
    with pytest.raises(ValueError, match="interpolate_mode: only 'nearest'"):
        SoundEventDetection(checkpoint_path=tiny["sed_path"], interpolate_mode="linear")


def test_long_input_is_scored_like_the_tagger(tiny):
    from audiocnn.compat.panns_inference import AudioTagging

    at = AudioTagging(checkpoint_path=tiny["tagging_path"], clip_seconds=1.0)
    audio = _audio(batch=1, seconds=2.5, seed=1)
    probs, emb = at.inference(audio)
    x = torch.from_numpy(audio)
    with torch.no_grad():  # windows [0, 1), [1, 2), [1.5, 2.5) s, averaged
        outs = [tiny["tagging"](x[:, s : s + SR]) for s in (0, SR, int(1.5 * SR))]
    np.testing.assert_allclose(probs, torch.stack([torch.sigmoid(o["logits"]) for o in outs]).mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(emb, torch.stack([o["embedding"] for o in outs]).mean(0).numpy(), atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("panns_inference") is None, reason="the panns_inference package is not installed (pip install panns-inference)")
def test_the_same_script_gives_the_real_package_numbers(tmp_path):
    """Official-layout Cnn14 and Cnn14_DecisionLevelMax files written from panns_inference's own
    classes (random weights), read by both packages."""
    from panns_inference import models as panns_models

    home = tmp_path / "home"
    _write_labels_csv(home / "panns_data" / "class_labels_indices.csv", [f"class {i}" for i in range(527)])
    torch.manual_seed(0)
    kwargs = dict(sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000, classes_num=527)
    files = {}
    for cls, name in (("Cnn14", "Cnn14_mAP=0.431.pth"), ("Cnn14_DecisionLevelMax", "Cnn14_DecisionLevelMax.pth")):
        files[cls] = tmp_path / name
        torch.save({"model": getattr(panns_models, cls)(**kwargs).state_dict()}, files[cls])
    audio = _audio(batch=2, seconds=3.0)
    ours_summary, ours = _run_script(tmp_path, "audiocnn.compat.panns_inference", home, files["Cnn14"], files["Cnn14_DecisionLevelMax"], audio)
    theirs_summary, theirs = _run_script(tmp_path, "panns_inference", home, files["Cnn14"], files["Cnn14_DecisionLevelMax"], audio)
    assert ours_summary == theirs_summary
    for key in ("clipwise", "embedding", "framewise"):
        assert ours[key].shape == theirs[key].shape, key
        np.testing.assert_allclose(ours[key], theirs[key], atol=1e-4, err_msg=key)
