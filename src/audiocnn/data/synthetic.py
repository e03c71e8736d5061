"""A deterministic synthetic sound-event dataset, generated in code (the built-in demo data).

Ten classes of short events placed at a random time in a clip of background noise. Pitch,
duration, level, timing, modulation and the signal-to-noise ratio vary from clip to clip, and
several classes are close cousins (a tone / an amplitude-modulated tone / a vibrato tone; a
noise burst / a fast click train; sustained / decaying harmonic sounds), so a model has to learn
time-frequency patterns rather than one statistic. Every clip depends only on
``(seed, class, clip index)``: the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from scipy import signal as sps

from audiocnn.atomic import write_json_atomic
from audiocnn.data.csvio import write_csv
from audiocnn.testing import write_wav

__all__ = ["SYNTHETIC_CLASSES", "make_synthetic_dataset", "synthesize_clip"]

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "pure_tone",          # steady sine
    "am_tone",            # sine with slow amplitude modulation (tremolo)
    "vibrato_tone",       # sine with periodic frequency modulation
    "chirp_up",           # exponential sweep upwards
    "chirp_down",         # exponential sweep downwards
    "tone_pips",          # a few short beeps of one pitch
    "click_train",        # periodic broadband clicks
    "noise_burst",        # band-limited noise burst
    "harmonic_decay",     # harmonic (plucked-like) tone with an exponential decay
    "harmonic_sustain",   # harmonic (bowed-like) tone with a slow attack and sustain
)

_VERSION = 2  # bump when the generator changes (invalidates existing generated folders)


def _fade(n: int, sr: int, ms: float = 5.0) -> np.ndarray:
    """Raised-cosine fade-in/out window of ``n`` samples (``ms`` milliseconds each side)."""
    env = np.ones(n)
    k = min(n // 2, max(1, int(sr * ms / 1000)))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
    env[:k] *= ramp
    env[n - k:] *= ramp[::-1]
    return env


def _dur(rng: np.random.Generator, lo: float, hi: float, max_dur: float) -> float:
    """A duration in [lo, hi] seconds, shrunk to fit clips shorter than the default 2 s."""
    return rng.uniform(min(lo, 0.5 * max_dur), min(hi, max_dur))


def _harmonic(f0: float, t: np.ndarray, rng: np.random.Generator, sr: int) -> np.ndarray:
    n_harm = int(rng.integers(3, 9))
    rolloff = rng.uniform(0.5, 1.5)
    x = np.zeros_like(t)
    for h in range(1, n_harm + 1):
        if f0 * h >= sr / 2 * 0.9:
            break
        x += (1.0 / h**rolloff) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    return x


def _event(cls: str, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """One event of class ``cls`` (unit peak, before level scaling); length <= the clip."""
    max_dur = seconds * 0.9
    nyq = sr / 2
    if cls in ("pure_tone", "am_tone", "vibrato_tone"):
        dur = _dur(rng, 0.4, 1.6, max_dur)
        t = np.arange(int(dur * sr)) / sr
        f = rng.uniform(250, min(3500, 0.8 * nyq))
        if cls == "pure_tone":
            x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        elif cls == "am_tone":
            rate, depth = rng.uniform(4, 12), rng.uniform(0.8, 1.0)
            x = (1 - depth * 0.5 * (1 + np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))) * np.sin(2 * np.pi * f * t)
        else:
            rate, dev = rng.uniform(3, 8), rng.uniform(0.06, 0.15) * f
            phase = 2 * np.pi * f * t + (dev / rate) * np.sin(2 * np.pi * rate * t)
            x = np.sin(phase)
        return x * _fade(len(t), sr, 10)
    if cls in ("chirp_up", "chirp_down"):
        dur = _dur(rng, 0.3, 1.2, max_dur)
        t = np.arange(int(dur * sr)) / sr
        lo = rng.uniform(200, 900)
        hi = min(lo * rng.uniform(3.0, 8.0), 0.85 * nyq)
        f0, f1 = (lo, hi) if cls == "chirp_up" else (hi, lo)
        x = sps.chirp(t, f0=f0, t1=dur, f1=f1, method="logarithmic", phi=rng.uniform(0, 360))
        return x * _fade(len(t), sr, 10)
    if cls == "tone_pips":
        f = rng.uniform(400, min(3000, 0.8 * nyq))
        n_pips = int(rng.integers(3, 7))
        pip = rng.uniform(0.04, 0.09)
        gap = rng.uniform(0.06, 0.15)
        total = n_pips * (pip + gap)
        x = np.zeros(int(min(total, max_dur) * sr))
        tp = np.arange(int(pip * sr)) / sr
        one = np.sin(2 * np.pi * f * tp) * _fade(len(tp), sr, 5)
        for k in range(n_pips):
            s = int(k * (pip + gap) * sr)
            if s + len(one) > len(x):
                break
            x[s:s + len(one)] += one
        return x
    if cls == "click_train":
        rate = rng.uniform(6, 30)
        dur = _dur(rng, 0.4, 1.5, max_dur)
        x = np.zeros(int(dur * sr))
        click_len = int(0.004 * sr)
        decay = np.exp(-np.arange(click_len) / (0.0008 * sr))
        for t0 in np.arange(0, dur, 1 / rate):
            i = int(t0 * sr)
            c = rng.standard_normal(click_len) * decay
            x[i:i + click_len] += c[: len(x) - i]
        return x
    if cls == "noise_burst":
        dur = _dur(rng, 0.2, 1.2, max_dur)
        n = int(dur * sr)
        lo = rng.uniform(100, 0.4 * nyq)
        hi = min(lo * rng.uniform(2, 8), 0.95 * nyq)
        sos = sps.butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos")
        x = sps.sosfilt(sos, rng.standard_normal(n + 512))[512:]
        return x * _fade(n, sr, 15)
    if cls in ("harmonic_decay", "harmonic_sustain"):
        f0 = rng.uniform(110, 600)
        if cls == "harmonic_decay":
            dur = _dur(rng, 0.5, 1.5, max_dur)
            t = np.arange(int(dur * sr)) / sr
            env = np.exp(-t / rng.uniform(0.05, 0.2))
            env[: int(0.002 * sr)] *= np.linspace(0, 1, int(0.002 * sr))
        else:
            dur = _dur(rng, 0.6, 1.6, max_dur)
            t = np.arange(int(dur * sr)) / sr
            attack = rng.uniform(0.1, 0.3)
            env = np.minimum(1.0, t / attack) * _fade(len(t), sr, 60)
        return _harmonic(f0, t, rng, sr) * env
    raise ValueError(f"unknown synthetic class {cls!r}")


def _background(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Coloured noise (white to brown-ish) with an occasional mains-like hum, unit RMS."""
    white = rng.standard_normal(n)
    tilt = rng.uniform(0.0, 0.97)  # one-pole low-pass: 0 = white, ~1 = brown-ish
    x = sps.lfilter([1.0], [1.0, -tilt], white)
    if rng.random() < 0.3:
        hum_f = rng.choice([50.0, 60.0])
        t = np.arange(n) / sr
        x = x / (np.std(x) + 1e-12) + rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * hum_f * t)
    return x / (np.std(x) + 1e-12)


def synthesize_clip(cls: str, index: int, *, sample_rate: int = 16000, seconds: float = 2.0,
                    seed: int = 0) -> np.ndarray:
    """Clip ``index`` of class ``cls``: float32 ``(round(seconds * sample_rate),)`` in [-1, 1].

    Deterministic in ``(seed, cls, index, sample_rate, seconds)``.
    """
    if cls not in SYNTHETIC_CLASSES:
        raise ValueError(f"unknown synthetic class {cls!r}; expected one of {SYNTHETIC_CLASSES}")
    c = SYNTHETIC_CLASSES.index(cls)
    rng = np.random.default_rng([int(seed), _VERSION, c, int(index)])
    n = int(round(seconds * sample_rate))
    ev = _event(cls, rng, sample_rate, seconds)
    ev = ev / (np.sqrt(np.mean(ev**2)) + 1e-12)  # unit RMS over the event
    ev = ev[:n]
    level_db = rng.uniform(-32, -14)  # event RMS in dBFS
    snr_db = rng.uniform(6, 30)       # event RMS over background RMS
    start = int(rng.integers(0, n - len(ev) + 1))
    x = np.zeros(n)
    x[start:start + len(ev)] = ev * 10 ** (level_db / 20)
    x += _background(n, rng, sample_rate) * 10 ** ((level_db - snr_db) / 20)
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32)


def make_synthetic_dataset(out_dir: str | os.PathLike, clips_per_class: int = 30, *,
                           sample_rate: int = 16000, seconds: float = 2.0, seed: int = 0,
                           folds: int = 5) -> Path:
    """Write the synthetic dataset to ``out_dir`` and return the path of its ``metadata.csv``.

    Layout: ``out_dir/audio/<class>_<index>.wav`` (16-bit PCM) and ``out_dir/metadata.csv`` with
    columns ``filename,label,fold`` (folds 1..``folds``, balanced per class). The same arguments
    give byte-identical files; when ``out_dir`` already holds a complete dataset made with the
    same arguments it is reused without writing anything.
    """
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be >= 1, got {clips_per_class}")
    if folds < 1 or folds > clips_per_class:
        raise ValueError(f"folds must be in 1..clips_per_class ({clips_per_class}), got {folds}")
    out = Path(out_dir)
    meta = out / "metadata.csv"
    params = {"version": _VERSION, "clips_per_class": clips_per_class, "sample_rate": sample_rate,
              "seconds": seconds, "seed": seed, "folds": folds, "classes": list(SYNTHETIC_CLASSES)}
    pfile = out / "synthetic.json"
    rows = [
        (f"audio/{cls}_{i:03d}.wav", cls, str(i % folds + 1))
        for cls in SYNTHETIC_CLASSES
        for i in range(clips_per_class)
    ]
    if pfile.exists() and meta.exists():
        try:
            same = json.loads(pfile.read_text()) == params
        except (OSError, ValueError):
            same = False
        if same and all((out / r[0]).exists() for r in rows):
            return meta
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for fname, cls, _ in rows:
        i = int(fname.rsplit("_", 1)[1].split(".")[0])
        x = synthesize_clip(cls, i, sample_rate=sample_rate, seconds=seconds, seed=seed)
        write_wav(out / fname, x, sample_rate)
    write_csv(meta, ["filename", "label", "fold"], rows)
    write_json_atomic(pfile, params)
    return meta
