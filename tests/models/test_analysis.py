"""Parameter and multiply-accumulate counts (``audiocnn.models.analysis``) and ``audiocnn models``."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import audiocnn
from audiocnn.cli import main
from audiocnn.models import analysis
from audiocnn.models.layers import PANNS_FRONTENDS


def _trainable(name: str) -> int:
    return sum(p.numel() for p in audiocnn.create_model(name).parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["test_cnn", "test_resnet", "test_mobilenet", "test_cnn_sed"])
def test_layer_macs_equal_pytorch_flop_counter(name):
    """Our hook count against PyTorch's own FLOP counter on a real CPU forward (2 FLOPs per MAC;
    the counter also sees the mel matrix product, which we leave out)."""
    model = audiocnn.create_model(name)
    n = model.sample_rate  # 1 s
    total, frontend = analysis.count_macs(model, n)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, n))
    counts = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    n_fft, hop, n_mels = PANNS_FRONTENDS[model.sample_rate][:3]
    frames = 1 + n // hop
    mel_matmul = 2 * frames * (n_fft // 2 + 1) * n_mels
    assert 2 * (total - frontend) == counter.get_total_flops() - mel_matmul, counts
    # the STFT is counted as the DFT convolution of the original code
    assert frontend == frames * 2 * (n_fft // 2 + 1) * n_fft


def test_paper_figures_for_cnn14_and_friends():
    """Trainable parameters equal the original code's count (Cnn14: 80,753,615 = the paper's
    80.753 M) and 2 x MACs is within 2 % of PANNs' count_flops (which adds BatchNorm/ReLU/pooling
    element counts: 0.1 % of Cnn14, 0.9 % of MobileNetV1) (Cnn14: 42.220 G multi-adds)."""
    # (parameters, multi-adds) from PANNs' count_parameters / count_flops on the original code
    original = {
        "cnn14": (80_753_615, 42_219_593_359),
        "resnet38": (73_783_247, 48_962_420_367),
        "mobilenet_v1": (4_796_303, 3_614_241_423),
        "mobilenet_v2": (4_075_343, 2_809_604_751),
    }
    for name, (params, multi_adds) in original.items():
        s = analysis.model_stats(name, cache=False)
        assert s.params == params, name
        assert abs(s.paper_style_gflops * 1e9 / multi_adds - 1) < 0.02, (name, s.paper_style_gflops)


def test_stats_fields_and_params_equal_numel():
    s = analysis.model_stats("test_mobilenet", seconds=2.0, cache=False)
    m = audiocnn.create_model("test_mobilenet")
    assert s.params == _trainable("test_mobilenet")
    assert (s.name, s.input, s.sample_rate, s.frame_level) == ("test_mobilenet", "log-mel", 32000, False)
    assert s.embedding_dim == m.embedding_dim and s.seconds == 2.0
    # a clip-level CNN's cost grows about linearly with the clip length
    s4 = analysis.model_stats("test_mobilenet", seconds=4.0, cache=False)
    assert 1.8 < s4.macs / s.macs < 2.2


def test_cache_is_used_and_invalidated(tmp_path):
    path = tmp_path / "stats.json"
    first = analysis.model_stats("test_cnn", seconds=1.0, cache=path)
    data = json.loads(path.read_text())
    key = "test_cnn@1s"
    assert data[key]["stats"]["macs"] == first.macs
    # a doctored entry with the right fingerprint is returned as is: the cache is read
    data[key]["stats"]["macs"] = 12345
    path.write_text(json.dumps(data))
    assert analysis.model_stats("test_cnn", seconds=1.0, cache=path).macs == 12345
    # a stale fingerprint (other version/source) is recomputed and rewritten
    data[key]["fingerprint"] = "stale"
    path.write_text(json.dumps(data))
    assert analysis.model_stats("test_cnn", seconds=1.0, cache=path).macs == first.macs
    assert json.loads(path.read_text())[key]["stats"]["macs"] == first.macs
    # an unreadable cache is ignored, not an error
    path.write_text("{not json")
    assert analysis.model_stats("test_cnn", seconds=1.0, cache=path).macs == first.macs


def test_cli_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOCNN_CACHE_DIR", str(tmp_path))
    assert main(["models", "test_[cmr]*", "--json", "--seconds", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == audiocnn.list_models("test_[cmr]*")
    by_name = {r["name"]: r for r in rows}
    for name in ("test_cnn", "test_resnet", "test_mobilenet"):
        assert by_name[name]["params"] == _trainable(name)
        assert by_name[name]["macs"] > by_name[name]["frontend_macs"] > 0
    assert by_name["test_cnn_sed"]["frame_level"] is True and by_name["test_cnn"]["frame_level"] is False
    assert (tmp_path / "model_stats.json").exists()


def test_cli_table_and_errors(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOCNN_CACHE_DIR", str(tmp_path))
    assert main(["models", "test_cnn*", "--seconds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "per 1-s clip, batch of 1"
    assert lines[1].split()[:2] == ["name", "input"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"test_cnn", "test_cnn_sed"}
    assert rows["test_cnn"][1:3] == ["log-mel", "32000"] and rows["test_cnn"][-1] == "no"
    assert rows["test_cnn_sed"][-1] == "yes"
    assert float(rows["test_cnn"][3]) == pytest.approx(_trainable("test_cnn") / 1e6, abs=1e-3)

    assert main(["models", "no_such_model*"]) == 1
    assert "no model matches 'no_such_model*'" in capsys.readouterr().err
    assert main(["models", "test_cnn", "--seconds", "-1"]) == 1


def test_cli_time_column(capsys, tmp_path, monkeypatch):
    from audiocnn.models import analysis

    monkeypatch.setenv("AUDIOCNN_CACHE_DIR", str(tmp_path))
    calls = []
    real = analysis.time_inference

    def spy(name, seconds, repeats=5, batch=1):
        calls.append((name, seconds, repeats))
        return real(name, seconds, repeats=repeats, batch=batch)

    monkeypatch.setattr(analysis, "time_inference", spy)
    assert main(["models", "test_cnn*", "--seconds", "0.5", "--time", "--repeats", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "CPU ms" in lines[1] and "median of 2" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"test_cnn", "test_cnn_sed"}
    assert all(float(r[-1]) > 0 for r in rows.values())
    assert sorted(calls) == [("test_cnn", 0.5, 2), ("test_cnn_sed", 0.5, 2)]
    assert main(["models", "test_cnn", "--seconds", "0.5", "--time", "--repeats", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["cpu_ms"] > 0
