"""Hostile and unlucky input files for the fault-injection suite (imported by name).

Each maker writes one file into a folder and returns its path; ``FAULTS`` maps a case name to
``(maker, expected error type)``: the type every command must report for that file.
"""

import struct

import numpy as np
import soundfile as sf

from audiocnn.testing import tone, write_wav

SR = 16000


def good(d, name="good.wav", seconds=0.6, freq=440.0):
    return write_wav(d / name, tone(freq, seconds, SR), SR)


def truncated(d):
    """A WAV cut in the middle of its header."""
    data = good(d, "whole.wav").read_bytes()
    p = d / "truncated.wav"
    p.write_bytes(data[:30])
    (d / "whole.wav").unlink()
    return p


def empty(d):
    """0 bytes."""
    p = d / "empty.wav"
    p.write_bytes(b"")
    return p


def zero_length(d):
    """A valid WAV header with no sample."""
    p = d / "zero_length.wav"
    sf.write(str(p), np.zeros(0, np.float32), SR, subtype="PCM_16")
    return p


def nan_filled(d):
    """A float WAV full of NaN."""
    p = d / "nan.wav"
    sf.write(str(p), np.full(SR // 4, np.nan, np.float32), SR, subtype="FLOAT")
    return p


def inf_sample(d):
    """A float WAV with one +inf sample."""
    x = tone(300, 0.5, SR)
    x[100] = np.inf
    p = d / "inf.wav"
    sf.write(str(p), x, SR, subtype="FLOAT")
    return p


def not_audio(d):
    """A text file with an audio extension."""
    p = d / "notes.wav"
    p.write_text("these are not the samples you are looking for\n" * 20)
    return p


def huge_header(d):
    """A WAV whose header claims a 2 GHz sample rate."""
    data = bytearray(good(d, "src.wav").read_bytes())
    (d / "src.wav").unlink()
    data[24:28] = struct.pack("<I", 2_000_000_000)
    data[28:32] = struct.pack("<I", 4_000_000_000)
    p = d / "huge_rate.wav"
    p.write_bytes(bytes(data))
    return p


def missing(d):
    return d / "missing.wav"


def directory(d):
    p = d / "folder.wav"
    p.mkdir()
    return p


def one_sample_48k(d):
    """A single sample at 48 kHz (not a fault: it must give a result)."""
    return write_wav(d / "one_sample_48k.wav", np.array([0.25], np.float32), 48000)


def one_sample_44k(d):
    """A single sample at 44.1 kHz: resampled to a lower rate it rounds to 0 samples."""
    return write_wav(d / "one_sample_44k.wav", np.array([0.25], np.float32), 44100)


def short_256(d):
    """256 samples (the STFT of the plots needs more than half its FFT length)."""
    return write_wav(d / "short_256.wav", tone(500, 256 / SR, SR), SR)


FAULTS = {
    "truncated": (truncated, "not_audio"),
    "empty": (empty, "empty_file"),
    "zero_length": (zero_length, "no_samples"),
    "nan_filled": (nan_filled, "non_finite"),
    "inf_sample": (inf_sample, "non_finite"),
    "not_audio": (not_audio, "not_audio"),
    "huge_header": (huge_header, "bad_sample_rate"),
    "missing": (missing, "file_not_found"),
    "directory": (directory, "not_a_file"),
}

#: Unusual but valid inputs: every command must give them a result.
ODD_BUT_VALID = {"one_sample_48k": one_sample_48k, "one_sample_44k": one_sample_44k, "short_256": short_256}


def write_all(d):
    """Every fault, every odd-but-valid file and two good files in ``d``.

    Returns ``(faults {path: expected type}, valid [paths])``.
    """
    d.mkdir(parents=True, exist_ok=True)
    faults = {str(make(d)): kind for make, kind in FAULTS.values()}
    valid = [str(good(d, "good_a.wav")), str(good(d, "good_b.wav", freq=2000.0))]
    valid += [str(make(d)) for make in ODD_BUT_VALID.values()]
    return faults, valid
