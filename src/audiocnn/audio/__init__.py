"""Audio input: decoding (soundfile), resampling (soxr), mono mix, pad/crop, chunked reading."""

from audiocnn.audio.io import AudioLoadError, audio_info, iter_audio_chunks, load_audio, resample, to_mono
from audiocnn.audio.clips import crop_or_pad, sliding_windows

__all__ = [
    "AudioLoadError",
    "audio_info",
    "crop_or_pad",
    "iter_audio_chunks",
    "load_audio",
    "resample",
    "sliding_windows",
    "to_mono",
]
