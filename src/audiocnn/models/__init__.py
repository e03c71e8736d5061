"""The model zoo: a registry of audio CNNs with a uniform waveform-to-dict interface."""

from audiocnn.models._checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from audiocnn.models._factory import create_model
from audiocnn.models._registry import is_model, list_models, register_model
from audiocnn.models.base import AudioModel, ModelInfo

__all__ = [
    "AudioModel",
    "CheckpointError",
    "ModelInfo",
    "create_model",
    "is_model",
    "list_models",
    "load_checkpoint",
    "read_checkpoint",
    "register_model",
    "save_checkpoint",
]
