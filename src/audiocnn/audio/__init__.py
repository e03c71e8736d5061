"""Audio input: decoding (soundfile), resampling (soxr), mono mix, and cutting into windows."""

from audiocnn.audio.io import (
    MAX_SAMPLE_RATE,
    AudioLoadError,
    audio_info,
    check_waveform,
    iter_audio_chunks,
    load_audio,
    resample,
    to_mono,
)
from audiocnn.audio.windows import (
    Windowing,
    aggregate,
    apply_windowed,
    centred_windows,
    crop_or_pad,
    iter_file_windows,
    sliding_windows,
    window_starts,
    windows_of,
)

__all__ = [
    "MAX_SAMPLE_RATE",
    "AudioLoadError",
    "Windowing",
    "aggregate",
    "apply_windowed",
    "audio_info",
    "centred_windows",
    "check_waveform",
    "crop_or_pad",
    "iter_audio_chunks",
    "iter_file_windows",
    "load_audio",
    "resample",
    "sliding_windows",
    "to_mono",
    "window_starts",
    "windows_of",
]
