"""The PANNs waveform models (LeeNet, DaiNet, Res1dNet, Wavegram): geometry, speed, parity.

    python benchmarks/models_1d.py                      # geometry table (instant)
    nice python benchmarks/models_1d.py --speed         # + eval time of one 10-s clip
    AUDIOCNN_PANNS_REFERENCE=/path/to/audioset_tagging_cnn/pytorch \\
        python benchmarks/models_1d.py --parity         # + max differences to the original code

Geometry: parameters, the shortest input the layers accept (``info.min_samples``), and the
receptive field / hop of one step of the last feature map, from each model's list of
time-axis convolutions and poolings (``model.time_ops()``).

Parity: each original class is built with the 32 kHz settings, its BatchNorm statistics and
gains are randomised (so that every path is active), its state dict is saved in the official
``{'model': state_dict}`` layout and loaded with ``audiocnn.create_model(name, checkpoint=...)``;
both run in eval mode on the same random waveforms. The original code is imported from the
directory in ``AUDIOCNN_PANNS_REFERENCE`` (its ``models.py`` and ``pytorch_utils.py``; it needs
torchlibrosa). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

import audiocnn

MODELS = {
    "leenet11": "LeeNet11",
    "leenet24": "LeeNet24",
    "dainet19": "DaiNet19",
    "res1dnet31": "Res1dNet31",
    "res1dnet51": "Res1dNet51",
    "wavegram_cnn14": "Wavegram_Cnn14",
    "wavegram_logmel_cnn14": "Wavegram_Logmel_Cnn14",
}


def geometry(names):
    print("| model | original class | input | parameters (M) | min samples (s at 32 kHz) | receptive field samples (s) | hop samples (ms) | embedding |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        m = audiocnn.create_model(name)
        params = sum(p.numel() for p in m.parameters()) / 1e6
        rf, hop = m.receptive_field()
        sr = m.sample_rate
        extra = ""
        if m.info.input == "both":
            rf_mel, _ = m.receptive_field("logmel")
            extra = f"; log-mel branch {rf_mel} ({rf_mel / sr:.2f})"
        print(
            f"| {name} | {m.info.checkpoint_class} | {m.info.input} | {params:.2f} | {m.info.min_samples} ({m.info.min_samples / sr:.3f}) "
            f"| {rf} ({rf / sr:.2f}){extra} | {hop} ({1000 * hop / sr:.1f}) | {m.embedding_dim} |"
        )


def speed(names, seconds, repeats, threads):
    torch.set_num_threads(threads)
    print(f"\n{threads} thread(s), one {seconds:g}-s clip, eval, median of {repeats} (after one warm-up)\n")
    print("| model | forward (s) |")
    print("|---|---|")
    for name in names:
        m = audiocnn.create_model(name).eval()
        x = 0.1 * torch.randn(1, int(seconds * m.sample_rate))
        times = []
        with torch.inference_mode():
            m(x)
            for _ in range(repeats):
                t0 = time.perf_counter()
                m(x)
                times.append(time.perf_counter() - t0)
        print(f"| {name} | {statistics.median(times):.3f} |", flush=True)


def _import_reference():
    ref_dir = os.environ.get("AUDIOCNN_PANNS_REFERENCE")
    if not ref_dir or not os.path.exists(os.path.join(ref_dir, "models.py")):
        sys.exit("--parity needs AUDIOCNN_PANNS_REFERENCE=<directory with the original PANNs models.py>")
    sys.path.insert(0, ref_dir)
    try:  # the repository's own copy imports `stft`/`augmentation`; torchlibrosa provides both
        import stft  # noqa: F401
    except ImportError:
        import torchlibrosa.augmentation
        import torchlibrosa.stft

        sys.modules["stft"] = torchlibrosa.stft
        sys.modules["augmentation"] = torchlibrosa.augmentation
    import models

    return models


def parity(names, lengths):
    ref = _import_reference()
    print("\n| model | input (s) | max abs diff sigmoid(logits) vs clipwise_output | max abs diff embedding |")
    print("|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for name in names:
        original = getattr(ref, MODELS[name])(
            sample_rate=32000, window_size=1024, hop_size=320, mel_bins=64, fmin=50, fmax=14000, classes_num=527
        )
        with torch.no_grad():
            for m in original.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.weight.uniform_(0.5, 1.5, generator=g)
                    m.bias.normal_(0.0, 0.1, generator=g)
                    m.running_mean.normal_(0.0, 0.1, generator=g)
                    m.running_var.uniform_(0.5, 2.0, generator=g)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "original.pth")
            torch.save({"model": original.state_dict()}, path)
            ours = audiocnn.create_model(name, checkpoint=path).eval()
        original.eval()
        for seconds in lengths:
            x = 0.3 * torch.randn(2, int(seconds * 32000), generator=g)
            with torch.no_grad():
                expected, got = original(x), ours(x)
            d_prob = (torch.sigmoid(got["logits"]) - expected["clipwise_output"]).abs().max().item()
            d_emb = (got["embedding"] - expected["embedding"]).abs().max().item()
            print(f"| {name} | {seconds:g} | {d_prob:.1e} | {d_emb:.1e} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names")
    ap.add_argument("--speed", action="store_true", help="time one forward pass per model")
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length for --speed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parity", action="store_true", help="compare with the original PANNs classes")
    ap.add_argument("--parity-seconds", default="10,3,1.3", help="comma-separated input lengths for --parity")
    args = ap.parse_args()
    names = args.models.split(",")
    geometry(names)
    if args.speed:
        speed(names, args.seconds, args.repeats, args.threads)
    if args.parity:
        parity(names, [float(s) for s in args.parity_seconds.split(",")])


if __name__ == "__main__":
    main()
