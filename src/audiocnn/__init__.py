"""audiocnn: audio classification with convolutional networks.

The public surface is small::

    import audiocnn
    audiocnn.list_models("cnn*")
    model = audiocnn.create_model("cnn14", checkpoint="Cnn14_mAP=0.431.pth")
    wave, sr = audiocnn.load_audio("clip.wav", sample_rate=model.sample_rate)
    out = model(torch.from_numpy(wave)[None])   # {"logits", "embedding", ...}
"""

from audiocnn.audio import AudioLoadError, iter_audio_chunks, load_audio
from audiocnn.models import create_model, list_models
from audiocnn.inference.tagger import Tagger

__version__ = "0.1.0"

__all__ = ["AudioLoadError", "Tagger", "__version__", "create_model", "iter_audio_chunks", "list_models", "load_audio"]
