"""The whole path: a model trained by ``audiocnn train`` works in every other command with nothing
but its checkpoint (or its model folder), and scores files the way its evaluation did."""

import csv
import json

import numpy as np
import pytest
import torch

from audiocnn import hear
from audiocnn.cli import main
from audiocnn.inference.embed import Embedder
from audiocnn.inference.sed import SoundEventDetector
from audiocnn.inference.tagger import Tagger
from audiocnn.models import load_model
from audiocnn.testing import make_tone_csv


@pytest.fixture(scope="module", params=["padded", "by-length"])
def trained(tmp_path_factory, request):
    """A run of ``audiocnn train``; "by-length" trains with ``--batch-by-length``, so its model
    scores the many files shorter than a clip unpadded in every command."""
    root = tmp_path_factory.mktemp("round_trip")
    data = make_tone_csv(root / "data", per_class=6, folds=3, seconds=0.6)
    out = root / "run"
    code = main([
        "train", "--data", str(data), "--model", "test_cnn", "--epochs", "3", "--batch-size", "6",
        "--max-folds", "1", "--patience", "0", "--out", str(out), "--no-progress",
        *(["--batch-by-length"] if request.param == "by-length" else []),
    ])
    assert code == 0
    return root, data, out


def _fold_files(data, fold="1"):
    with open(data, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["fold"] == fold]
    return [str(data.parent / r["filename"]) for r in rows], [r["label"] for r in rows]


@pytest.mark.parametrize("source", ["fold_1/best.pth", "fold_1/model"])
def test_tag_needs_only_the_checkpoint_and_agrees_with_evaluate(trained, source, tmp_path, capsys):
    root, data, out = trained
    ckpt = out / source
    files, labels = _fold_files(data)
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(data), "--fold", "1", "--out", str(tmp_path / "ev")]) == 0
    accuracy = json.loads((tmp_path / "ev" / "metrics.json").read_text())["accuracy"]
    capsys.readouterr()
    assert main(["tag", *files, "--checkpoint", str(ckpt), "--format", "json", "--top-k", "3", "--workers", "0", "--no-progress"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in rows] == files
    for r in rows:  # a single-label model: softmax over its 3 classes
        assert sum(t["probability"] for t in r["tags"]) == pytest.approx(1.0, abs=1e-4)
        assert {t["label"] for t in r["tags"]} == {"high", "low", "mid"}
    top1 = np.mean([r["tags"][0]["label"] == lab for r, lab in zip(rows, labels)])
    assert top1 == pytest.approx(accuracy)
    # and the run's own fold score is the same number
    run_accuracy = json.loads((out / "metrics.json").read_text())["folds"][0]["accuracy"]
    assert top1 == pytest.approx(run_accuracy)


def test_python_api_reads_the_bundle(trained):
    _, data, out = trained
    files, _ = _fold_files(data)
    tagger = Tagger.from_checkpoint(out / "fold_1" / "model")
    model, bundle = load_model(out / "fold_1" / "best.pth")
    assert tagger.labels == list(bundle.labels) == ["high", "low", "mid"]
    assert bundle.task == "single-label" and tagger.activation == "softmax"
    assert tagger.clip_seconds == pytest.approx(bundle.windowing.clip_seconds) and bundle.windowing.clip_seconds != 10.0
    rng = np.random.default_rng(0)
    x = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (3000, 16000, 40000)]
    p = tagger.predict_proba(x)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-4)
    # the same numbers by hand: windows of the clip every half clip, padded when short (unless
    # trained by length), mean of softmax
    window, hop = bundle.windowing.sizes(model.sample_rate, model.info.min_samples)
    assert bundle.windowing.pad_short is not json.loads((out / "run.json").read_text())["config"]["batch_by_length"]
    with torch.no_grad():
        for xi, pi in zip(x, p):
            if len(xi) <= window:
                w = [np.pad(xi, (0, window - len(xi)))] if bundle.windowing.pad_short else [xi]
            else:
                starts = list(range(0, len(xi) - window + 1, hop))
                starts += [len(xi) - window] if starts[-1] + window < len(xi) else []
                w = [xi[s : s + window] for s in starts]
            ref = torch.softmax(model(torch.from_numpy(np.stack(w)))["logits"], -1).mean(0).numpy()
            np.testing.assert_allclose(pi, ref, atol=1e-5)


def test_sed_embed_export_and_hear_with_only_the_checkpoint(trained, tmp_path, capsys):
    _, data, out = trained
    files, _ = _fold_files(data)
    ckpt = out / "fold_1" / "best.pth"
    assert main(["sed", files[0], "--checkpoint", str(ckpt), "--events", str(tmp_path / "ev.csv")]) == 0
    det = SoundEventDetector.from_checkpoint(ckpt)
    res = det.detect(files[0], keep_frames=True)
    np.testing.assert_allclose(res.frame_probabilities.sum(1), 1.0, atol=1e-4)
    assert res.labels == ["high", "low", "mid"]

    assert main(["embed", *files[:3], "--checkpoint", str(ckpt), "--out", str(tmp_path / "e.npz"), "--workers", "0", "--no-progress"]) == 0
    emb = np.load(tmp_path / "e.npz")
    assert emb["embeddings"].shape[0] == 3 and str(emb["model"]) == "test_cnn"
    np.testing.assert_allclose(emb["embeddings"], Embedder.from_checkpoint(ckpt).embed_files(files[:3]).embeddings, atol=1e-5)

    onnx_path = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(onnx_path)]) == 0
    import onnx

    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(props["audiocnn_bundle"])["labels"] == ["high", "low", "mid"]

    m = hear.load_model(str(out / "fold_1" / "model"))
    assert m.network_sample_rate == load_model(ckpt)[1].sample_rate and m.info.name == "test_cnn"
    audio = torch.from_numpy(np.stack([np.zeros(8000, np.float32), 0.1 * np.ones(20000, np.float32)[:8000]]))
    scene = hear.get_scene_embeddings(audio, m)
    assert scene.shape == (2, m.scene_embedding_size)
    ts, t = hear.get_timestamp_embeddings(audio, m)
    assert ts.shape[:2] == t.shape and ts.shape[0] == 2


def test_an_explicit_flag_that_contradicts_the_bundle_wins_with_a_warning(trained):
    _, _, out = trained
    with pytest.warns(UserWarning, match="clip_seconds=2.0 overrides"):
        t = Tagger.from_checkpoint(out / "fold_1" / "best.pth", clip_seconds=2.0)
    assert t.clip_seconds == 2.0
