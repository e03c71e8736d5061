"""Random-weight embeddings: determinism per seed, pooling, hooks for any model, the disk cache,
MFCC features against librosa, and the random-cnn command end to end on tiny synthetic data."""

import csv

import numpy as np
import pytest
import torch

from audiocnn.backends import embed_paths, feature_maps, pool_maps, random_init_
from audiocnn.backends.mfcc import MFCC, dct_matrix, delta, mfcc_stats
from audiocnn.backends.random_cnn import load_frontend
from audiocnn.evaluate.random_cnn_study import RESULT_COLUMNS
from audiocnn.cli import main
from audiocnn.testing import tone, write_wav

SR = 16000


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """3 classes (low tone, high tone, noise) x 2 speakers x 4 takes, 0.3 s at 16 kHz."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    rows = []
    for label, make in {"low": lambda f: tone(200 * f, 0.3, SR), "high": lambda f: tone(2000 * f, 0.3, SR), "noise": lambda f: 0.3 * rng.standard_normal(int(0.3 * SR)).astype(np.float32)}.items():
        for spk in ("a", "b", "c"):
            for take in range(4):
                x = make(1 + 0.05 * take) + 0.01 * rng.standard_normal(int(0.3 * SR)).astype(np.float32)
                name = f"{label}_{spk}_{take}.wav"
                write_wav(root / name, x, SR)
                rows.append((name, label, spk))
    with open(root / "meta.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "label", "speaker"])
        w.writerows(rows)
    return root


def _paths(root):
    return sorted(str(p) for p in root.glob("*.wav"))


def test_random_init_is_deterministic_per_seed_and_differs_across_seeds():
    a = load_frontend("test_pons", seed=3)
    b = load_frontend("test_pons", seed=3)
    c = load_frontend("test_pons", seed=4)
    for (n, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), n
    conv = [n for n, m in a.named_modules() if isinstance(m, torch.nn.Conv2d)][0] + ".weight"
    assert not torch.equal(a.state_dict()[conv], c.state_dict()[conv])
    # He-normal: std of a conv weight ~ sqrt(2 / fan_in)
    w = load_frontend("pons_7x96", seed=0, dim=512).body.branches[0].conv.weight.detach()
    fan_in = w[0].numel()
    assert abs(w.std().item() / np.sqrt(2 / fan_in) - 1) < 0.05
    # the global RNG is not consumed
    torch.manual_seed(0)
    x1 = torch.rand(1)
    torch.manual_seed(0)
    random_init_(a, 5)
    assert torch.equal(torch.rand(1), x1)


def test_biases_are_zero_after_random_init():
    m = load_frontend("test_cnn", seed=1)
    biases = [p for n, p in m.named_parameters() if n.endswith("bias") and "bn" not in n]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_pool_maps_matches_manual_statistics():
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(2, 3, 5, generator=g), torch.randn(2, 4, 6, 7, generator=g)]
    out = pool_maps(maps, ("mean", "max", "std"))
    assert out.shape == (2, 3 * 7)
    np.testing.assert_allclose(out[:, :3], maps[0].numpy().mean(axis=2), rtol=1e-5)
    np.testing.assert_allclose(out[:, 3:7], maps[1].numpy().reshape(2, 4, -1).mean(axis=2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, 7:10], maps[0].numpy().max(axis=2))
    np.testing.assert_allclose(out[:, 14:17], maps[0].numpy().std(axis=2), rtol=1e-5)
    with pytest.raises(ValueError, match="stats"):
        pool_maps(maps, ("median",))


def test_pons_features_are_the_embedding_and_hooks_read_other_models():
    m = load_frontend("test_pons", seed=0)
    x = 0.1 * torch.randn(2, 8000)
    with torch.no_grad():
        maps = feature_maps(m, x)
        torch.testing.assert_close(pool_maps(maps), m(x)["embedding"])
        assert sum(t.shape[1] for t in maps) == m.embedding_dim
        cnn = load_frontend("test_cnn", seed=0)
        cmaps = feature_maps(cnn, torch.randn(2, 32000))
    assert [t.shape[1] for t in cmaps] == [8, 16]  # conv_block1, conv_block2


def test_embeddings_are_deterministic_batch_independent_and_seed_dependent(tiny_data):
    paths = _paths(tiny_data)[:10]
    a = embed_paths(paths, "test_pons", seed=0, clip_seconds=0.3, batch_size=4, progress=False)
    b = embed_paths(paths, "test_pons", seed=0, clip_seconds=0.3, batch_size=3, progress=False)
    c = embed_paths(paths, "test_pons", seed=1, clip_seconds=0.3, batch_size=4, progress=False)
    assert a.X.shape == (10, a.dim) and not a.cached
    np.testing.assert_allclose(a.X, b.X, rtol=1e-5, atol=1e-5)
    assert np.abs(a.X - c.X).max() > 1e-2


def test_cache_hit_on_second_run_and_miss_when_settings_change(tiny_data, tmp_path):
    paths = _paths(tiny_data)[:6]
    kw = dict(seed=0, clip_seconds=0.3, cache_dir=tmp_path, progress=False)
    first = embed_paths(paths, "test_pons", **kw)
    second = embed_paths(paths, "test_pons", **kw)
    assert not first.cached and second.cached and second.cache_path == first.cache_path
    np.testing.assert_array_equal(first.X, second.X)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert not embed_paths(paths, "test_pons", **{**kw, "seed": 1}).cached
    assert not embed_paths(paths, "test_pons", **{**kw, "clip_seconds": 0.25}).cached
    assert not embed_paths(paths[:5], "test_pons", **kw).cached
    assert not embed_paths(paths, "test_pons", stats=("mean", "std"), **kw).cached
    assert len(list(tmp_path.glob("*.npz"))) == 5


def test_unreadable_files_are_named(tiny_data, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="broken.wav"):
        embed_paths(_paths(tiny_data)[:2] + [str(bad)], "test_pons", clip_seconds=0.3, progress=False)


def test_mfcc_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = tone(440, 0.5, SR) + 0.05 * np.random.default_rng(0).standard_normal(SR // 2).astype(np.float32)
    m = MFCC(SR)
    with torch.no_grad():
        db = m.logmel(torch.from_numpy(x)[None])[0].numpy().T  # (n_mels, frames)
        ours = m(torch.from_numpy(x)[None])[0].numpy()
    ref = librosa.feature.mfcc(S=db, n_mfcc=20, dct_type=2, norm="ortho")
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(delta(torch.from_numpy(ref)).numpy(), librosa.feature.delta(ref, width=9, mode="nearest"), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dct_matrix(8, 3).T @ dct_matrix(8, 3), np.eye(3), atol=1e-6)
    stats = mfcc_stats(torch.from_numpy(ref)[None])
    assert stats.shape == (1, 120)
    np.testing.assert_allclose(stats[0, :20].numpy(), ref.mean(axis=1), rtol=1e-5, atol=1e-4)


def test_cli_help_shows_an_example(capsys):
    for cmd in ("random-cnn", "triage"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"audiocnn {cmd} --data" in out


def test_random_cnn_end_to_end(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    code = main([
        "random-cnn", "--data", str(tiny_data / "meta.csv"), "--group-column", "speaker", "--folds", "logo",
        "--frontends", "test_pons,mfcc", "--backends", "svm,elm", "--seeds", "2", "--clip-seconds", "0.3",
        "--grid", "small", "--inner-folds", "2", "--no-progress", "--out", str(out),
    ])
    assert code == 0
    with open(out / "results.csv") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == RESULT_COLUMNS
        rows = list(reader)
    assert [(r["frontend"], r["backend"]) for r in rows] == [("test_pons", "svm"), ("test_pons", "elm"), ("mfcc", "svm"), ("mfcc", "elm")]
    assert all(r["n_folds"] == "3" for r in rows)
    assert rows[2]["embedding_dim"] == "120"
    # three easy classes: every back-end on MFCCs is well above chance (1/3)
    assert all(float(r["accuracy_mean"]) > 0.8 for r in rows if r["frontend"] == "mfcc")
    assert (out / "results.md").read_text().count("|") > 10
    assert (out / "results.png").stat().st_size > 1000
    assert len(list((out / "cache").glob("test_pons-seed*.npz"))) == 2


def test_random_cnn_errors_are_one_clear_line(tiny_data, tmp_path, capsys):
    code = main(["random-cnn", "--data", str(tiny_data / "meta.csv"), "--frontends", "nope", "--out", str(tmp_path / "x")])
    assert code == 1
    err = capsys.readouterr().err
    assert "unknown front-end(s) nope" in err and "Traceback" not in err


@pytest.mark.slow
def test_triage_end_to_end(tiny_data, tmp_path):
    import json

    out = tmp_path / "triage"
    code = main([
        "triage", "--data", str(tiny_data / "meta.csv"), "--group-column", "speaker", "--folds", "logo", "--max-folds", "1",
        "--models", "test_pons,test_pons_wave,test_cnn", "--epochs", "1", "--clip-seconds", "0.3", "--grid", "small",
        "--no-progress", "--out", str(out),
    ])
    assert code == 0
    result = json.loads((out / "triage.json").read_text())
    assert [r["model"] for r in result["rows"]] == ["test_pons", "test_pons_wave", "test_cnn"]
    for r in result["rows"]:
        assert 0 <= r["random_accuracy"] <= 1 and 0 <= r["trained_accuracy"] <= 1
    assert "Spearman" in (out / "triage.md").read_text()
    assert (out / "triage.png").stat().st_size > 1000
    assert (out / "train" / "test_cnn" / "metrics.json").exists()


def test_trained_checkpoint_uses_the_models_own_embedding(tiny_data, tmp_path):
    from audiocnn import create_model, load_audio
    from audiocnn.models._checkpoint import save_checkpoint

    model = create_model("test_cnn", num_classes=3)
    with torch.no_grad():  # "trained" weights: anything that is not a fresh random draw
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ckpt = save_checkpoint(model, tmp_path / "m.pth")
    paths = _paths(tiny_data)[:3]
    res = embed_paths(paths, "test_cnn", checkpoint=ckpt, clip_seconds=1.0, progress=False, cache_dir=tmp_path / "c")
    assert res.seed is None and res.cache_path.name.startswith("test_cnn-ckpt-")
    x = np.stack([np.pad(load_audio(p, sample_rate=model.sample_rate)[0], (0, 22400))[: model.sample_rate] for p in paths])
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x))["embedding"].numpy()
    np.testing.assert_allclose(res.X, ref, rtol=1e-4, atol=1e-5)


def test_bad_rows_stop_the_run_with_names_or_are_skipped_and_listed(tiny_data, tmp_path, capsys):
    meta = tmp_path / "meta.csv"
    lines = (tiny_data / "meta.csv").read_text().splitlines()
    rows = [lines[0]] + [f"{tiny_data}/{line}" if i else line for i, line in enumerate(lines[1:], 1)]
    meta.write_text("\n".join(rows + ["missing_clip.wav,low,a"]) + "\n")
    (tmp_path / "garbage.wav").write_bytes(b"nope")
    meta.write_text(meta.read_text() + "garbage.wav,high,b\n")
    args = ["random-cnn", "--data", str(meta), "--group-column", "speaker", "--folds", "logo", "--frontends", "mfcc",
            "--backends", "elm", "--seeds", "1", "--clip-seconds", "0.3", "--grid", "small", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "missing_clip.wav" in err and "garbage.wav" in err
    assert main(args + ["--skip-bad", "--out", str(tmp_path / "b")]) == 0
    md = (tmp_path / "b" / "results.md").read_text()
    assert "missing_clip.wav" in md and "garbage.wav" in md
