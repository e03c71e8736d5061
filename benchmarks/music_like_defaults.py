"""Do the `audiocnn train` defaults work on music-like sound? A synthetic instrument-recognition set.

No music recordings ship with the toolkit's shared data, so this generates one (deterministic):
6 "instruments" made by additive synthesis -- pluck (decaying harmonics), organ (steady
harmonics), flute (few harmonics, vibrato, breath noise), clarinet (odd harmonics), brass (1/k
harmonics, slow bright attack), bell (inharmonic partials, long decay) -- each playing random
melodies (notes drawn from the same two octaves for every class, random tempo, level and room
noise), 3-s clips at 22.05 kHz (so the toolkit resamples), one folder per class. Pitch, rhythm
and level carry no class information; timbre does, as in instrument recognition.

    nice python benchmarks/music_like_defaults.py --out runs/music_like [--clips-per-class 40]

Runs exactly `audiocnn train --data DIR --out OUT/cnn` (all defaults: model, clip length,
augmentation, schedule, 5 stratified folds) and, on the same folds, an MFCC-statistics +
logistic-regression baseline, and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SR = 22050
INSTRUMENTS = ("pluck", "organ", "flute", "clarinet", "brass", "bell")


def _note(inst: str, f0: float, dur: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(dur * SR)) / SR
    x = np.zeros_like(t)
    nyq = SR / 2 - 200
    if inst == "pluck":
        for k in range(1, 16):
            if k * f0 < nyq:
                x += np.exp(-t * (3 + 1.5 * k)) * np.sin(2 * np.pi * k * f0 * t) / k
    elif inst == "organ":
        for k, a in zip((1, 2, 3, 4, 6, 8), (1.0, 0.8, 0.6, 0.5, 0.3, 0.25)):
            if k * f0 < nyq:
                x += a * np.sin(2 * np.pi * k * f0 * t)
        x *= np.minimum(1, t / 0.02)
    elif inst == "flute":
        vib = 1 + 0.006 * np.sin(2 * np.pi * 5.0 * t)
        ph = 2 * np.pi * f0 * np.cumsum(vib) / SR
        x = np.sin(ph) + 0.2 * np.sin(2 * ph) + 0.05 * np.sin(3 * ph)
        x += 0.08 * rng.standard_normal(t.size) * np.minimum(1, t / 0.05)
        x *= np.minimum(1, t / 0.08)
    elif inst == "clarinet":
        for k in range(1, 20, 2):
            if k * f0 < nyq:
                x += np.sin(2 * np.pi * k * f0 * t) / k
        x *= np.minimum(1, t / 0.03)
    elif inst == "brass":
        bright = np.minimum(1, t / 0.15)  # harmonics open up during the attack
        for k in range(1, 14):
            if k * f0 < nyq:
                x += bright ** (k / 3) * np.sin(2 * np.pi * k * f0 * t) / k
        x *= np.minimum(1, t / 0.06)
    elif inst == "bell":
        for r, a in zip((1.0, 2.76, 5.40, 8.93), (1.0, 0.6, 0.4, 0.25)):
            if r * f0 < nyq:
                x += a * np.exp(-t * (1.2 + 0.8 * r)) * np.sin(2 * np.pi * r * f0 * t)
    else:
        raise ValueError(inst)
    x *= np.minimum(1, (t[-1] - t) / 0.01 + 1e-9).clip(0, 1)  # 10-ms release, no click
    return x / (np.abs(x).max() + 1e-9)


def make_clip(inst: str, rng: np.random.Generator, seconds: float = 3.0) -> np.ndarray:
    n = int(seconds * SR)
    out = np.zeros(n)
    pos = int(rng.uniform(0, 0.3) * SR)
    beat = rng.uniform(0.15, 0.5)
    while pos < n - int(0.1 * SR):
        dur = beat * rng.choice([1, 1, 2, 0.5])
        f0 = 196.0 * 2 ** (rng.integers(0, 25) / 12)  # G3 .. G5, the same range for every class
        note = _note(inst, f0, min(dur * 1.2, (n - pos) / SR), rng) * rng.uniform(0.4, 1.0)
        out[pos : pos + note.size] += note[: n - pos]
        pos += int(dur * SR)
    out *= 10 ** (rng.uniform(-20, 0) / 20) * 0.5
    noise = rng.standard_normal(n) * 10 ** (rng.uniform(-60, -35) / 20)
    return (out + noise).astype(np.float32)


def make_dataset(root: Path, per_class: int, seed: int = 0) -> Path:
    import soundfile as sf

    for ci, inst in enumerate(INSTRUMENTS):
        (root / inst).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            rng = np.random.default_rng([seed, ci, j])
            sf.write(root / inst / f"{inst}_{j:03d}.wav", make_clip(inst, rng), SR, subtype="PCM_16")
    return root


def mfcc_baseline(root: Path, folds) -> dict:
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audiocnn import load_audio

    X, paths = [], []
    for p in sorted(root.glob("*/*.wav")):
        x, _ = load_audio(p, sample_rate=16000)
        m = librosa.feature.mfcc(y=x, sr=16000, n_mfcc=20, n_fft=512, hop_length=160, n_mels=40)
        d = librosa.feature.delta(m)
        X.append(np.concatenate([m.mean(1), m.std(1), d.mean(1), d.std(1)]))
        paths.append(str(p.resolve()))
    X = np.asarray(X)
    index = {p: i for i, p in enumerate(paths)}
    y = np.array([Path(p).parent.name for p in paths])
    accs = {}
    for name, test_files in folds.items():
        te = np.array([index[str(Path(f).resolve())] for f in test_files])
        tr = np.setdiff1d(np.arange(len(paths)), te)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X[tr], y[tr])
        accs[name] = float(np.mean(clf.predict(X[te]) == y[te]))
    return accs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/music_like"))
    ap.add_argument("--clips-per-class", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("extra", nargs="*", help="more `audiocnn train` flags (after --)")
    args = ap.parse_args(argv)

    from audiocnn.cli import main as cli

    data = args.out / "data"
    t0 = time.time()
    if not data.exists():
        make_dataset(data, args.clips_per_class, args.seed)
    t_gen = time.time() - t0
    run = args.out / "cnn"
    t0 = time.time()
    cmd = ["train", "--data", str(data), "--out", str(run), "--no-progress", *args.extra]
    if (run / "run.json").exists():
        cmd.append("--resume")
    if cli(cmd):
        raise SystemExit("training failed")
    t_cnn = time.time() - t0
    m = json.loads((run / "metrics.json").read_text())
    cnn = {f["fold"]: f["accuracy"] for f in m["folds"]}
    folds = {f.name.removeprefix("fold_"): json.loads((f / "result.json").read_text())["test_files"] for f in sorted(run.glob("fold_*"))}
    t0 = time.time()
    base = mfcc_baseline(data, folds)
    t_base = time.time() - t0
    cfg = m["config"]

    def row(name, accs, secs):
        v = np.array([accs[k] for k in sorted(accs)])
        return f"| {name} | {v.mean():.3f} ± {v.std():.3f} | {' '.join(f'{a:.3f}' for a in v)} | {secs:.0f} |"

    print(f"\nmusic-like synthetic set: {len(INSTRUMENTS)} instruments x {args.clips_per_class} clips of 3 s at {SR} Hz "
          f"(generated in {t_gen:.0f} s); defaults used: model {cfg['model']}, clip {cfg['clip_seconds_used']} s, "
          f"{cfg['epochs']} epochs, mixup {cfg['mixup']}, speed perturbation {cfg['speed_perturb']}\n")
    print("| method | accuracy (mean ± std over folds) | per fold | wall s |")
    print("|---|---|---|---|")
    print(row("`audiocnn train --data DIR` (all defaults)", cnn, t_cnn))
    print(row("MFCC statistics + logistic regression, same folds", base, t_base))


if __name__ == "__main__":
    main()
