"""The recipe object: TrainConfig generates the flags of `audiocnn train`, reads recipe files,
and a run's run.json replays the run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from audiocnn.cli import build_parser, main
from audiocnn.cli.config_flags import add_config_flags, given_values
from audiocnn.cli.train import config_from_args
from audiocnn.errors import UsageError
from audiocnn.train import TrainConfig
from audiocnn.train.options import config_options, option
from audiocnn.train.recipe import read_recipe, resolve_config, write_recipe


def _train_parser():
    parser = build_parser()
    return parser, parser._subparsers._group_actions[0].choices["train"]


def test_every_field_has_a_flag_with_its_default():
    _, train = _train_parser()
    strings = {s: a for a in train._actions for s in a.option_strings}
    fields = config_options(TrainConfig)
    assert {f.name for f in dataclasses.fields(TrainConfig)} == {f.name for f, _, _ in fields}
    for f, opt, _ in fields:
        flag = opt.flag_for(f.name)
        assert flag in strings, f"{f.name}: no flag {flag}"
        action = strings[flag]
        if isinstance(f.default, (int, float, str)) and not isinstance(f.default, bool) and opt.values is None:
            assert action.default == f.default
            shown = f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
            assert f"(default {shown})" in action.help, f.name


def test_no_flag_means_the_defaults():
    parser, _ = _train_parser()
    cfg = config_from_args(parser.parse_args(["train", "--data", "x"]))
    assert cfg == TrainConfig()


def test_a_changed_default_reaches_the_flag_and_its_help():
    import argparse

    @dataclasses.dataclass
    class Recipe:
        epochs: int = option(12, "maximum epochs", low=1)
        fast: bool = option(False, "go fast")

    p = argparse.ArgumentParser()
    add_config_flags(p, Recipe)
    assert p.parse_args([]).epochs == 12 and "(default 12)" in p.format_help()
    args = p.parse_args(["--epochs", "3", "--fast"])
    assert given_values(args, Recipe) == {"epochs": 3, "fast": True}
    assert given_values(p.parse_args([]), Recipe) == {}


@pytest.mark.parametrize(
    "argv, field, value",
    [
        (["--val-split", "random"], "val_groups", False),
        (["--eval-windows", "no"], "eval_windows", False),
        (["--eval-windows", "yes"], "eval_windows", True),
        (["--no-progress"], "progress", False),
        (["--devices", "2"], "devices", 2),
        (["--devices", "auto"], "devices", "auto"),
        (["--balanced"], "balanced", True),
        (["--amsgrad"], "amsgrad", True),
        (["--step-epochs", "30", "--schedule", "step"], "step_epochs", 30),
        (["--mixup-on", "logmel"], "mixup_on", "logmel"),
    ],
)
def test_flags_set_their_fields(argv, field, value):
    parser, _ = _train_parser()
    cfg = config_from_args(parser.parse_args(["train", "--data", "x", *argv]))
    assert getattr(cfg, field) == value and type(getattr(cfg, field)) is type(value)


@pytest.mark.parametrize(
    "argv, message",
    [(["--gamma", "0"], "argument --gamma: must be > 0, got 0"),
     (["--optimizer", "sgd"], "argument --optimizer: expected one of adamw, adam, got 'sgd'"),
     (["--eval-windows", "maybe"], "argument --eval-windows: expected one of auto, yes, no"),
     (["--patience", "x"], "argument --patience: expected an integer, got 'x'")],
)
def test_bad_flag_values_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "x", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_recipe_file_round_trip(tmp_path, suffix):
    cfg = TrainConfig(model="test_cnn", model_kwargs={"spec_augment": False, "last_pool": [1, 2]}, epochs=7, lr=5e-4,
                      optimizer="adam", amsgrad=True, schedule="step", eval_windows=False, val_groups=False, devices="auto")
    path = write_recipe(cfg, tmp_path / f"recipe{suffix}")
    assert resolve_config(recipe=path) == cfg
    assert read_recipe(path).config["epochs"] == 7


def test_hand_written_toml_with_words_and_integers(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text('model = "test_cnn"\nweight_decay = 0\neval_windows = "auto"\nval_groups = "random"\n'
                    'data = "clips/"\n[model_kwargs]\nspec_augment = false\n')
    recipe = read_recipe(path)
    assert recipe.run == {"data": "clips/"}
    cfg = resolve_config(recipe=recipe)
    assert cfg.weight_decay == 0.0 and type(cfg.weight_decay) is float
    assert cfg.eval_windows is None and cfg.val_groups is False and cfg.model_kwargs == {"spec_augment": False}


@pytest.mark.parametrize(
    "text, message",
    [('epochs = "ten"\n', "epochs: expected int, got 'ten'"),
     ("epochs = 0\n", "epochs: must be >= 1, got 0"),
     ('optimiser = "adam"\n', "unknown setting(s) optimiser"),
     ('optimizer = "sgd"\n', "optimizer: expected one of adamw, adam, got 'sgd'"),
     ('model = "test_cnn"\n[model_kwargs]\nspec_augmnet = false\n', "has no argument(s) spec_augmnet"),
     ("epochs = [\n", "not a valid TOML file")],
)
def test_bad_recipe_names_the_file_and_the_setting(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as e:
        resolve_config(recipe=path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_explicit_flags_beat_the_recipe_which_beats_the_preset(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text('epochs = 7\nlr = 0.02\n[model_kwargs]\nfc_dropout = 0.1\n')
    parser, _ = _train_parser()
    cfg = config_from_args(parser.parse_args(["train", "--data", "x", "--preset", "panns", "--config", str(path), "--epochs", "3",
                                              "--model-arg", "conv_dropout=0"]))
    assert cfg.epochs == 3  # flag over recipe
    assert cfg.lr == 0.02  # recipe over preset
    assert cfg.optimizer == "adam" and cfg.amsgrad  # preset over defaults
    assert cfg.model_kwargs == {"sample_rate": 32000, "spec_augment": True, "fc_dropout": 0.1, "conv_dropout": 0.0}


def test_typed_model_args_and_their_usage_errors(capsys):
    parser, _ = _train_parser()
    cfg = config_from_args(parser.parse_args(["train", "--data", "x", "--model", "test_cnn", "--model-arg", "spec_augment=false"]))
    assert cfg.model_kwargs == {"spec_augment": False}
    assert main(["train", "--data", "x", "--model", "test_cnn", "--model-arg", "spec_augmnet=false"]) == 2
    err = capsys.readouterr().err
    assert "--model-arg" in err and "'spec_augmnet'" in err and "spec_augment" in err
    assert main(["train", "--data", "x", "--model", "test_cnn", "--model-arg", "fc_dropout=high"]) == 2
    assert "fc_dropout='high'" in capsys.readouterr().err


def test_run_json_replays_the_run(tone_csv, tmp_path, capsys):
    first = tmp_path / "first"
    argv = ["--model", "test_cnn", "--epochs", "1", "--batch-size", "8", "--max-folds", "1", "--clip-seconds", "0.5",
            "--model-arg", "conv_dropout=0", "--optimizer", "adam", "--weight-decay", "0.001", "--no-baselines", "--no-progress"]
    assert main(["train", "--data", str(tone_csv), "--out", str(first), *argv]) == 0
    record = json.loads((first / "run.json").read_text())
    assert record["config"]["model_kwargs"] == {"conv_dropout": 0.0}
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "run.json"), "--out", str(again), "--no-baselines"]) == 0
    replayed = json.loads((again / "run.json").read_text())
    assert replayed["config"] == record["config"] and replayed["data"] == record["data"]
    assert replayed["fingerprint"] == record["fingerprint"]
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (first, again))
    assert m1["folds"][0]["accuracy"] == m2["folds"][0]["accuracy"]
    capsys.readouterr()


def test_without_data_or_a_run_json_data_is_required(capsys):
    assert main(["train", "--model", "test_cnn"]) == 2
    assert "--data is required" in capsys.readouterr().err
