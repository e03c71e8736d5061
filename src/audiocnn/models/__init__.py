"""The model zoo: a registry of audio CNNs with a uniform waveform-to-dict interface, and the
model bundle that describes a trained model to every consumer."""

from audiocnn.models._checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from audiocnn.models._factory import create_model
from audiocnn.models._registry import get_model_builder, is_model, list_models, model_family, register_model
from audiocnn.models.base import AudioModel, ModelInfo
from audiocnn.models.bundle import BundleError, ModelBundle, apply_activation
from audiocnn.models.pretrained import from_pretrained, infer_model_name, load_into, load_model, read_source, save_pretrained

__all__ = [
    "AudioModel",
    "BundleError",
    "CheckpointError",
    "ModelBundle",
    "ModelInfo",
    "apply_activation",
    "create_model",
    "from_pretrained",
    "get_model_builder",
    "infer_model_name",
    "is_model",
    "list_models",
    "load_checkpoint",
    "load_into",
    "load_model",
    "model_family",
    "read_checkpoint",
    "read_source",
    "register_model",
    "save_checkpoint",
    "save_pretrained",
]
