"""int8 of Cnn14 (PT2E, oneDNN) against fp32 and bf16: start-up cost, speed and agreement.

    OMP_NUM_THREADS=1 nice python benchmarks/int8_pt2e.py --threads 1 --batch 4 --rounds 3
    # with another implementation of audiocnn.inference.quantize beside it (a file from the history):
    git show <commit>:src/audiocnn/inference/quantize.py > /tmp/quantize_before.py
    OMP_NUM_THREADS=1 nice python benchmarks/int8_pt2e.py --compare /tmp/quantize_before.py

Random Cnn14 weights with randomised BatchNorm statistics (so that activations are not near the
identity), calibrated on 4 synthetic clips of 5 s; timed on a batch of synthetic 10-s clips at
32 kHz. Build time is ``quantize_conv_blocks`` (BatchNorm folding, capture, calibration,
lowering). Every entry runs once per round, rounds interleaved (load from other processes hits
them alike); the median round is reported. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import time
import warnings

import torch

import audiocnn
from audiocnn.inference.quantize import quantize_conv_blocks, synthetic_calibration
from audiocnn.inference.runtime import Runner


def _module_from_file(path: str):
    spec = importlib.util.spec_from_file_location("quantize_compared", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4, help="10-s clips per timed forward pass")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compare", metavar="QUANTIZE_PY", help="another quantize.py with quantize_conv_blocks(model, calibration)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True):  # the random-weights notice; this is a benchmark
        model = audiocnn.create_model("cnn14", num_classes=527).eval()
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    calibration = synthetic_calibration(32000, n=4, seconds=5.0)
    x = torch.from_numpy(synthetic_calibration(32000, n=args.batch, seconds=10.0, seed=7))

    builders = {"fp32, channels-last": lambda: copy.deepcopy(model).to(memory_format=torch.channels_last),
                "bf16 (`Runner`, Winograd where the CPU has bf16)": lambda: Runner(copy.deepcopy(model), "bf16"),
                "int8, PT2E + oneDNN": lambda: quantize_conv_blocks(model, calibration)[0]}
    if args.compare:
        other = _module_from_file(args.compare)
        builders[f"int8, {args.compare}"] = lambda: other.quantize_conv_blocks(model, calibration)[0]
    built, build_s = {}, {}
    for name, build in builders.items():
        t = time.perf_counter()
        built[name] = build()
        build_s[name] = time.perf_counter() - t
    times = {name: [] for name in built}
    with torch.inference_mode():
        ref = torch.sigmoid(model(x)["logits"])
        diffs = {name: (torch.sigmoid(m(x)["logits"].float()) - ref).abs().max().item() for name, m in built.items()}
        for _ in range(args.rounds):
            for name, m in built.items():
                t = time.perf_counter()
                m(x)
                times[name].append(time.perf_counter() - t)
    fp32 = statistics.median(times["fp32, channels-last"])
    print(f"cnn14, batch {args.batch} x 10 s, {args.threads} thread(s), median of {args.rounds} interleaved rounds\n")
    print("| what | build s | ms per batch | speed vs fp32 | max probability change |")
    print("|---|---:|---:|---:|---:|")
    for name in built:
        ms = statistics.median(times[name])
        print(f"| {name} | {build_s[name]:.1f} | {1000 * ms:.0f} | {fp32 / ms:.2f}x | {diffs[name]:.4f} |")


if __name__ == "__main__":
    main()
