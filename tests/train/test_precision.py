"""--precision auto: bfloat16 autocast on CPUs with native bfloat16, float32 elsewhere."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import audiocnn.cpu as cpu
from audiocnn.cli import build_parser
from audiocnn.cli.train import config_from_args
from audiocnn.train import TrainConfig
from audiocnn.train.config import auto_precision


@pytest.fixture
def cpu_with(monkeypatch):
    """Pretend the CPU has these /proc/cpuinfo flags."""
    def pretend(*flags):
        monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    return pretend


@pytest.mark.parametrize("flags, expected", [
    (("avx512f", "avx512_bf16"), "bf16-mixed"),
    (("avx512f", "amx_bf16", "amx_tile"), "bf16-mixed"),
    (("avx2", "fma"), "32-true"),  # bfloat16 would be emulated: slower than float32
    ((), "32-true"),  # no /proc/cpuinfo (not Linux)
])
def test_auto_is_bf16_only_on_a_cpu_with_native_bf16(cpu_with, flags, expected):
    cpu_with(*flags)
    assert auto_precision("cpu") == expected
    assert TrainConfig().precision == expected  # the default is resolved when the configuration is made
    assert config_from_args(build_parser().parse_args(["train", "--data", "x"])).precision == expected


def test_an_explicit_precision_or_another_accelerator_is_kept(cpu_with):
    cpu_with("avx512_bf16")
    assert TrainConfig(precision="32-true").precision == "32-true"
    assert config_from_args(build_parser().parse_args(["train", "--data", "x", "--precision", "32-true"])).precision == "32-true"
    assert TrainConfig(accelerator="gpu").precision == "32-true"
    # a saved configuration is reloaded as it was trained, whatever the CPU that reads it
    cpu_with()
    assert TrainConfig(**dataclasses.asdict(TrainConfig(precision="bf16-mixed"))).precision == "bf16-mixed"


def test_bf16_mixed_trains_in_bfloat16_keeps_float32_weights_and_records_it(tone_csv, tiny_config, tmp_path):
    """What the default means on such a CPU: convolutions run in bfloat16 during training, the
    saved weights and the scored model are float32, and the run records the precision it used."""
    from audiocnn.evaluate.protocol import run_experiment

    seen: set[torch.dtype] = set()

    def spy(module, args, out):
        if isinstance(module, torch.nn.Conv2d) and module.training:
            seen.add(out.dtype)

    hook = torch.nn.modules.module.register_module_forward_hook(spy)
    try:
        run_experiment(tone_csv, dataclasses.replace(tiny_config, precision="bf16-mixed", epochs=1), tmp_path / "run", max_folds=1)
    finally:
        hook.remove()
    assert seen == {torch.bfloat16}
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["config"]["precision"] == "bf16-mixed"
    weights = torch.load(tmp_path / "run" / "fold_1" / "best.pth", map_location="cpu", weights_only=False)["model"]
    floats = [v for v in weights.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float32 for v in floats)
