"""Front-ends (log-mel etc.) as pure functions plus thin modules, and training-time augmentation."""

from audiocnn.features.augment import Mixup, SpecAugment, drop_stripes
from audiocnn.features.spectrogram import (
    LogMel,
    MelSpectrogram,
    hann_window,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    power_to_db,
    stft_power,
)

__all__ = [
    "LogMel",
    "MelSpectrogram",
    "Mixup",
    "SpecAugment",
    "drop_stripes",
    "hann_window",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
    "power_to_db",
    "stft_power",
]
