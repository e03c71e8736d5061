"""``parse_model_args``: ``KEY=VALUE`` strings typed by the registered builder's signature."""

from __future__ import annotations

import inspect

import pytest
import torch

import audiocnn
from audiocnn.models.arguments import model_arguments, parse_model_args


@pytest.mark.parametrize(
    "text, expected",
    [("false", False), ("FALSE", False), ("no", False), ("No", False), ("0", False),
     ("true", True), ("True", True), ("yes", True), ("YES", True), ("1", True)],
)
def test_bool_spellings(text, expected):
    assert parse_model_args("cnn14", [f"spec_augment={text}"]) == {"spec_augment": expected}


def test_spec_augment_false_is_false_and_reaches_the_model():
    kwargs = parse_model_args("test_cnn", ["spec_augment=false"])
    assert kwargs["spec_augment"] is False
    model = audiocnn.create_model("test_cnn", **kwargs)
    assert isinstance(model.spec_augmenter, torch.nn.Identity)


def test_numbers_strings_none_and_tuples():
    got = parse_model_args(
        "test_cnn",
        ["fc_dropout=0.25", "kernel_size=5", "pooling=att", "n_mels=none", "last_pool=(1, 2)", "embedding_dim=16"],
    )
    assert got == {"fc_dropout": 0.25, "kernel_size": 5, "pooling": "att", "n_mels": None, "last_pool": (1, 2), "embedding_dim": 16}
    assert type(got["fc_dropout"]) is float and type(got["kernel_size"]) is int
    assert parse_model_args("test_cnn", ["n_mels=32"]) == {"n_mels": 32}  # int | None: the int
    assert parse_model_args("wavegram_cnn14", ["pre_channels=8,8,8,32"]) == {"pre_channels": (8, 8, 8, 32)}
    assert parse_model_args("wavegram_cnn14", ["pre_channels=[16]"]) == {"pre_channels": (16,)}
    # a later key replaces an earlier one
    assert parse_model_args("test_cnn", ["fc_dropout=0.1", "fc_dropout=0.3"]) == {"fc_dropout": 0.3}


def test_parsed_arguments_build_the_model():
    kwargs = parse_model_args("test_cnn", ["embedding_dim=4", "conv_dropout=0", "pooling=avg"])
    model = audiocnn.create_model("test_cnn", num_classes=3, **kwargs)
    assert model.embedding_dim == 4 and model.conv_dropout == 0.0 and model.info.frame_level


def test_arguments_are_followed_through_helpers_and_super():
    # compact CNNs: builder -> _compact(**kwargs) -> CompactCnn -> super().__init__ -> PannsCnn
    got = parse_model_args("cnn_small", ["lifter=20", "width=1.5", "channel_norm=yes", "fc_dropout=0.2"])
    assert got == {"lifter": 20, "width": 1.5, "channel_norm": True, "fc_dropout": 0.2}
    # a key the builder reads from **kwargs (kwargs.setdefault("sample_rate", 16000))
    assert parse_model_args("cnn14_16k", ["sample_rate=16000"]) == {"sample_rate": 16000}
    # a renamed closure builder (imagenet_*) and its helper's arguments
    assert parse_model_args("imagenet_resnet18", ["init=none", "calibrate_bn=false"]) == {"init": None, "calibrate_bn": False}


def test_unknown_key_names_the_model_and_lists_the_arguments():
    with pytest.raises(ValueError) as err:
        parse_model_args("cnn14", ["spec_augmnet=false"])
    msg = str(err.value)
    assert "'cnn14'" in msg and "'spec_augmnet'" in msg
    for name in ("spec_augment", "fc_dropout", "conv_dropout", "sample_rate"):
        assert name in msg


@pytest.mark.parametrize(
    "name, key",
    [("cnn14", "channels"), ("cnn14_emb32", "embedding_dim"), ("cnn14_mel32", "n_mels"),
     ("cnn14_decision_level_att", "pooling"), ("cnn14", "num_classes"), ("cnn14", "info")],
)
def test_arguments_the_builder_fixes_are_not_accepted(name, key):
    with pytest.raises(ValueError, match=f"has no argument '{key}'"):
        parse_model_args(name, [f"{key}=1"])


@pytest.mark.parametrize(
    "pair, expected_type",
    [("spec_augment=maybe", "bool"), ("fc_dropout=abc", "float"), ("kernel_size=3.5", "int"),
     ("last_pool=1,2,3", "tuple[int, int]"), ("last_pool=1,x", "tuple[int, int]"), ("n_mels=many", "int | None")],
)
def test_value_that_does_not_convert_names_key_value_and_type(pair, expected_type):
    key, _, value = pair.partition("=")
    with pytest.raises(ValueError) as err:
        parse_model_args("test_cnn", [pair])
    msg = str(err.value)
    assert key in msg and repr(value) in msg and f"expected {expected_type}" in msg


@pytest.mark.parametrize("pair", ["spec_augment", "=false", ""])
def test_not_key_value_is_an_error(pair):
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_model_args("test_cnn", [pair])


def test_unknown_model_is_an_error():
    with pytest.raises(ValueError, match="unknown model 'cnn15'"):
        parse_model_args("cnn15", ["spec_augment=false"])


def _as_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(_as_text(v) for v in value)
    return str(value)


@pytest.mark.parametrize("name", audiocnn.list_models("test_*"))
def test_every_accepted_argument_of_the_test_models_builds_with_its_default(name):
    """Each accepted name is a real argument of the builder: its default, written as text and
    parsed back, builds the model."""
    args = model_arguments(name)
    assert args, f"{name}: no arguments found"
    for arg in args.values():
        if arg.default is inspect.Parameter.empty:
            continue
        kwargs = parse_model_args(name, [f"{arg.name}={_as_text(arg.default)}"])
        assert kwargs[arg.name] == arg.default, arg.name
        audiocnn.create_model(name, num_classes=2, **kwargs)
