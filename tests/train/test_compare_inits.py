"""`audiocnn train --init imagenet,random`: both initialisations on the same folds, one report."""

import json

import pytest
import torch

import audiocnn
import audiocnn.data
import audiocnn.evaluate.protocol  # noqa: F401 - bound to the real build_model before the spy below
import audiocnn.train.loop
from audiocnn.cli import main
from audiocnn.evaluate.compare import compare_runs

MODEL = "test_imagenet_resnet"  # tiny ResNet on the multi-resolution mel, 16 kHz like the tone data


def torchvision_style_weights(path, seed=7):
    """A weight file laid out like torchvision's (1000-class head, no num_batches_tracked), with
    values no initialiser would produce: every tensor drawn from one seeded generator."""
    net = audiocnn.create_model(MODEL, num_classes=1000, calibrate_bn=False).backbone
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = 0.5 + torch.rand(v.shape, generator=g) if k.endswith("running_var") else 0.1 * torch.randn(v.shape, generator=g)
    torch.save(sd, path)
    return sd


def test_init_comparison_end_to_end(tone_csv, tmp_path, monkeypatch, capsys):
    weights = tmp_path / "resnet_tiny-imagenet.pth"
    file_sd = torchvision_style_weights(weights)

    built, datasets = [], []  # every model fit_fold starts from, every dataset it trains/validates on
    real_build, real_dataset = audiocnn.train.loop.build_model, audiocnn.data.ClipDataset

    def spy_build(config, num_classes, labels=None, multilabel=None):
        model = real_build(config, num_classes, labels, multilabel)
        built.append((config.model_kwargs["init"], num_classes, {k: v.clone() for k, v in model.backbone.state_dict().items()}))
        return model

    class SpyDataset(real_dataset):
        def __init__(self, manifest, cache, clip_seconds, train, seed=0):
            super().__init__(manifest, cache, clip_seconds, train, seed)
            datasets.append((train, seed, sorted(str(it.path) for it in manifest.items)))

    monkeypatch.setattr(audiocnn.train.loop, "build_model", spy_build)
    monkeypatch.setattr(audiocnn.data, "ClipDataset", SpyDataset)

    out = tmp_path / "cmp"
    code = main(["train", "--data", str(tone_csv), "--model", MODEL, "--init", "imagenet,random", "--imagenet-weights", str(weights),
                 "--epochs", "1", "--batch-size", "8", "--clip-seconds", "0.5", "--val-fraction", "0.1", "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{out}/comparison.md" in printed

    # the models fit_fold trained (3 classes; the 2-class ones are compare_inits' up-front checks,
    # the protocol's own probe is not spied): three folds per arm, imagenet first, as listed
    built = [(init, sd) for init, n, sd in built if n == 3]
    assert [b[0] for b in built] == ["imagenet"] * 3 + ["random"] * 3
    for init, sd in built:
        from_file = [k for k in sd if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
        same = [torch.equal(sd[k], file_sd[k]) for k in from_file]
        if init == "imagenet":  # everything but the new 3-class head comes from the file
            assert all(same)
            assert sd["fc.weight"].shape == (3, file_sd["fc.weight"].shape[1])
        else:
            assert not any(same)
            assert not torch.equal(sd["conv1.weight"], built[0][1]["conv1.weight"])

    # identical training/validation sets and seeds per fold in both arms (a train and a val set per fold)
    assert len(datasets) == 12
    assert datasets[:6] == datasets[6:]
    img, rnd = (json.loads((out / f"init_{a}" / "metrics.json").read_text()) for a in ("imagenet", "random"))
    for fi, fr in zip(img["folds"], rnd["folds"]):
        assert fi["fold"] == fr["fold"] and fi["split_sha1"] == fr["split_sha1"]
    tests = [[json.loads((out / f"init_{a}" / f"fold_{k}" / "result.json").read_text())["test_files"] for k in (1, 2, 3)]
             for a in ("imagenet", "random")]
    assert tests[0] == tests[1]
    assert img["config"]["model_kwargs"] == {"init": "imagenet", "imagenet_weights": str(weights)}
    assert rnd["config"]["model_kwargs"] == {"init": "random"}

    # one report with both arms' numbers, read back from their metrics.json
    for f in ("comparison.md", "comparison.json", "comparison.png"):
        assert (out / f).stat().st_size > 0, f
    md = (out / "comparison.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in ("1", "2", "3")}
    assert sorted(rows) == ["1", "2", "3"]
    for fi, fr in zip(img["folds"], rnd["folds"]):
        row = rows[fi["fold"].removeprefix("fold")]
        for key in ("accuracy", "macro_f1"):
            assert f"| {fi[key]:.4f} | {fr[key]:.4f} | {fi[key] - fr[key]:+.4f} |" in row
    for key in ("accuracy", "macro_f1"):
        a, r = img["summary"][key], rnd["summary"][key]
        assert f"imagenet {a['mean']:.4f} ± {a['std']:.4f}, random {r['mean']:.4f} ± {r['std']:.4f}" in md
    assert "identical in both arms" in md and "`model_kwargs.imagenet_weights`" in md and "`model_kwargs.init`" in md
    c = json.loads((out / "comparison.json").read_text())
    diffs = [f["accuracy"]["difference"] for f in c["folds"]]
    assert diffs == pytest.approx([fi["accuracy"] - fr["accuracy"] for fi, fr in zip(img["folds"], rnd["folds"])])
    wins = c["summary"]["accuracy"]["wins"]
    assert wins["imagenet"] == sum(d > 0 for d in diffs) and wins["random"] == sum(d < 0 for d in diffs)
    assert wins["imagenet"] + wins["random"] + wins["ties"] == 3
    assert c["splits_verified"] is True


def test_compare_runs_refuses_runs_on_other_splits(tmp_path):
    def run(name, sha):
        d = tmp_path / name
        d.mkdir()
        folds = [{"fold": "1", "n_train": 8, "n_val": 2, "n_test": 5, "accuracy": 0.6, "macro_f1": 0.5, "best_epoch": 1,
                  "seconds": 1.0, "split_sha1": sha}]
        summary = {k: {"mean": 0.6, "std": 0.0} for k in ("accuracy", "macro_f1")} | {"n_folds": 1, "n_folds_total": 1}
        (d / "metrics.json").write_text(json.dumps({"task": "classification", "folds": folds, "summary": summary,
                                                    "config": {"model": "m", "dataset": "d"}}))
        return d

    ok = compare_runs({"a": run("a", "f00"), "b": run("b", "f00")})
    assert ok["splits_verified"] and ok["folds"][0]["accuracy"]["difference"] == 0.0
    with pytest.raises(ValueError, match="different files"):
        compare_runs({"a": tmp_path / "a", "c": run("c", "ba5")})


@pytest.mark.parametrize("argv, message", [
    (["--model", MODEL, "--init", "imagenet,random"], "needs torchvision's ImageNet weight file"),
    (["--model", MODEL, "--init", "imagenet"], "needs torchvision's ImageNet weight file"),
    (["--model", MODEL, "--init", "random,imagenet", "--imagenet-weights", "missing.pth"], "missing.pth: ImageNet weight file not found"),
    (["--model", "test_cnn", "--init", "random"], "test_cnn has no such choice"),
    (["--model", "test_cnn", "--init", "imagenet,random", "--imagenet-weights", "w.pth"], "ImageNet models (imagenet_densenet121"),
])
def test_init_errors_are_clear_and_come_before_any_training(tone_csv, tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    code = main(["train", "--data", str(tone_csv), "--out", str(out), "--epochs", "1", "--no-progress", *argv])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not list(out.glob("**/best.pth"))


def test_init_flag_syntax():
    from audiocnn.cli import build_parser

    p = build_parser()
    assert p.parse_args(["train", "--data", "x", "--init", "imagenet,random"]).init == ("imagenet", "random")
    for bad in ("imagenet,imagenet", "pretrained", "imagenet,"):
        with pytest.raises(SystemExit):
            p.parse_args(["train", "--data", "x", "--init", bad])
