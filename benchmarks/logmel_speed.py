"""Log-mel throughput: audiocnn's torch.stft front-end vs the original PANNs front-end
(torchlibrosa 0.1.0 Spectrogram + LogmelFilterBank, PANNs 32 kHz settings), same batch, one run.

    python benchmarks/logmel_speed.py [--batch 8] [--seconds 10] [--threads 2] [--repeats 10]

Prints a markdown table. torchlibrosa is a test dependency (`pip install -e ".[test]"`).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch


def bench(fn, x, repeats):
    with torch.inference_mode():
        fn(x)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from torchlibrosa.stft import LogmelFilterBank, Spectrogram

    from audiocnn.features import LogMel

    sr, n_fft, hop, mels, fmin, fmax = 32000, 1024, 320, 64, 50, 14000
    spec = Spectrogram(n_fft=n_fft, hop_length=hop, win_length=n_fft, window="hann", center=True, pad_mode="reflect", freeze_parameters=True)
    logmel = LogmelFilterBank(sr=sr, n_fft=n_fft, n_mels=mels, fmin=fmin, fmax=fmax, ref=1.0, amin=1e-10, top_db=None, freeze_parameters=True)
    ours = LogMel(sr, n_fft, hop, mels, fmin, fmax)
    x = 0.1 * torch.randn(args.batch, int(args.seconds * sr), generator=torch.Generator().manual_seed(0))

    t_ref = bench(lambda a: logmel(spec(a)), x, args.repeats)
    t_ours = bench(ours, x, args.repeats)
    with torch.inference_mode():
        diff = (ours(x) - logmel(spec(x))[:, 0]).abs().max().item()
    audio_s = args.batch * args.seconds
    print(f"Log-mel front-end, batch {args.batch} x {args.seconds:g} s at 32 kHz, {args.threads} threads, "
          f"median of {args.repeats}; torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print()
    print("| front-end | ms / batch | clips/s | x real time | speed-up |")
    print("|---|---:|---:|---:|---:|")
    print(f"| torchlibrosa 0.1.0 (PANNs) | {t_ref * 1e3:.1f} | {args.batch / t_ref:.1f} | {audio_s / t_ref:.0f} | 1.00 |")
    print(f"| audiocnn LogMel (torch.stft) | {t_ours * 1e3:.1f} | {args.batch / t_ours:.1f} | {audio_s / t_ours:.0f} | {t_ref / t_ours:.2f} |")
    print()
    print(f"max |difference| = {diff:.2e} dB")


if __name__ == "__main__":
    main()
