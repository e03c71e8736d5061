"""The train / evaluate / demo commands."""

import json

import pytest

from audiocnn.cli import build_parser, main


@pytest.mark.parametrize("cmd", ["train", "evaluate", "demo"])
def test_help_shows_examples(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"audiocnn {cmd}" in out


def test_init_flags_reach_model_kwargs_only_when_given():
    from audiocnn.cli.train import config_from_args

    p = build_parser()
    cfg = config_from_args(p.parse_args(["train", "--data", "x.csv"]))
    assert cfg.model_kwargs == {}
    cfg = config_from_args(p.parse_args(["train", "--data", "x.csv", "--init", "imagenet", "--imagenet-weights", "w.pth"]))
    assert cfg.model_kwargs == {"init": "imagenet", "imagenet_weights": "w.pth"}
    assert config_from_args(p.parse_args(["train", "--data", "x.csv", "--folds", "logo"])) is not None
    cfg = config_from_args(p.parse_args(["train", "--data", "x", "--model-arg", "fc_dropout=0.2", "--model-arg", "channel_norm=True",
                                         "--model-arg", "pooling=att"]))
    assert cfg.model_kwargs == {"fc_dropout": 0.2, "channel_norm": True, "pooling": "att"}
    with pytest.raises(SystemExit):
        p.parse_args(["train", "--data", "x.csv", "--folds", "1"])


def test_validation_flags_without_a_validation_split_are_warned_about():
    from audiocnn.cli.train import config_from_args, validation_warnings

    p = build_parser()

    def warned(argv):
        args = p.parse_args(["train", "--data", "x.csv", *argv])
        return validation_warnings(args, config_from_args(args))

    assert warned([]) == []
    [line] = warned(["--patience", "3"])
    assert "--patience" in line and "--val-fraction 0.1" in line
    [line] = warned(["--patience", "3", "--val-split", "random"])
    assert "--patience and --val-split" in line
    assert warned(["--patience", "3", "--val-fraction", "0.1"]) == []
    assert warned(["--preset", "rethinking", "--patience", "5"]) == []  # the preset holds out 10 %


def test_train_then_evaluate_commands(tone_csv, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(tone_csv), "--model", "test_cnn", "--epochs", "1", "--batch-size", "8",
                 "--max-folds", "1", "--clip-seconds", "0.5", "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{out}/report.md" in printed and "accuracy" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["summary"]["n_folds"] == 1 and m["summary"]["n_folds_total"] == 3
    assert "only 1 of 3 folds" in (out / "report.md").read_text()
    code = main(["evaluate", "--checkpoint", str(out / "fold_1" / "best.pth"), "--data", str(tone_csv), "--fold", "1"])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["n"] == 6 and shown["accuracy"] == pytest.approx(m["folds"][0]["accuracy"])


def test_train_command_lists_every_bad_file(tmp_path, make_tones, capsys):
    csv = make_tones(tmp_path / "data", extra_rows=[{"filename": "gone1.wav", "label": "low", "fold": "1"},
                                                  {"filename": "gone2.wav", "label": "mid", "fold": "2"}])
    code = main(["train", "--data", str(csv), "--model", "test_cnn", "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "gone1.wav" in err and "gone2.wav" in err and "--skip-bad" in err
    assert not (tmp_path / "run" / "fold_1").exists()


def test_demo_command_smoke(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--model", "test_cnn", "--epochs", "1", "--clips-per-class", "5",
                 "--max-folds", "1", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.md'}" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["classes"]) == 10 and m["folds"][0]["n_test"] == 10
    # the baseline is printed beside the model, with the score the run recorded
    mfcc = m["baselines"]["mfcc_svm"]["summary"]["accuracy"]["mean"]
    assert f"baseline MFCC + SVM: accuracy {mfcc:.4f}" in printed
    assert (out / "data" / "metadata.csv").exists()


def test_demo_trains_the_default_model_of_train():
    # the demo's help says it is `audiocnn train --data ... --epochs 10`: the same model
    from audiocnn.cli.demo import DEMO_MODEL
    from audiocnn.models import create_model
    from audiocnn.train.config import TrainConfig

    assert DEMO_MODEL == TrainConfig().model
    assert create_model(DEMO_MODEL, num_classes=2).info.name == TrainConfig().model
