"""Front-ends (log-mel etc.) as pure functions plus thin modules, and training-time augmentation."""

from audiocnn.features.augment import Mixup, SpecAugment, SpeedPerturb, drop_stripes, speed_perturb
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
    "SpeedPerturb",
    "drop_stripes",
    "speed_perturb",
    "hann_window",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
    "power_to_db",
    "stft_power",
]
