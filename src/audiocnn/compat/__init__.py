"""Drop-in interfaces of other audio-tagging packages over :mod:`audiocnn.inference`:
:mod:`audiocnn.compat.panns_inference` (``AudioTagging``, ``SoundEventDetection``, ``labels``)."""

__all__: list[str] = []
