"""Response bodies of the service, as pydantic models (they document the OpenAPI schema).

Times are in seconds, rates in Hz, probabilities in [0, 1].
"""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "EmbedResponse",
    "ErrorBody",
    "ErrorResponse",
    "EventOut",
    "ModelsResponse",
    "ModelOut",
    "SamplesRequest",
    "SedClass",
    "SedResponse",
    "TagOut",
    "TagResponse",
]


class ErrorBody(BaseModel):
    type: str = Field(description="stable error type: too_large, too_long, empty_audio, undecodable_audio, invalid_audio, unsupported_media_type, bad_request, unauthorized, not_found, overloaded, not_ready, timeout, inference_failed, internal")
    message: str = Field(description="what was wrong, and the limit where one applies")


class ErrorResponse(BaseModel):
    error: ErrorBody


class SamplesRequest(BaseModel):
    samples: list[float] = Field(description="mono samples in [-1, 1]")
    sample_rate: int | None = Field(None, description="rate of the samples in Hz (default: the model's); resampled to the model's rate")


class ModelOut(BaseModel):
    name: str
    task: str = Field(description="multi-label (independent sigmoid outputs) or single-label (softmax)")
    labels: list[str]
    num_classes: int
    sample_rate: int = Field(description="the model's input rate, Hz; other rates are resampled")
    clip_seconds: float = Field(description="window length of tagging and embedding; longer inputs are cut into windows")
    activation: str = Field(description="sigmoid (multi-label) or softmax (single-label)")
    precision: str
    frame_level: bool = Field(description="the model gives frame-wise outputs natively; else SED uses sliding windows")
    sed_frame_rate: float
    embedding_dim: int


class ModelsResponse(BaseModel):
    models: list[ModelOut]


class TagOut(BaseModel):
    label: str
    index: int
    probability: float


class TagResponse(BaseModel):
    model: str
    duration: float = Field(description="length of the input, seconds")
    source_sample_rate: int = Field(description="rate of the input before resampling, Hz")
    tags: list[TagOut] = Field(description="top_k classes by decreasing probability")
    probabilities: list[float] | None = Field(None, description="all class probabilities (with probabilities=true)")


class SedClass(BaseModel):
    label: str
    index: int
    max_probability: float
    probabilities: list[float] = Field(description="probability at each of `times`")


class EventOut(BaseModel):
    onset: float
    offset: float
    label: str
    index: int
    score: float


class SedResponse(BaseModel):
    model: str
    duration: float
    frame_rate: float = Field(description="frames per second of the model's frame-wise output")
    num_frames: int
    times: list[float] = Field(description="time of each point of the class curves, seconds (at most 2000 points; longer inputs are max-pooled)")
    classes: list[SedClass] = Field(description="top_k classes by their largest frame probability")
    events: list[EventOut]
    events_truncated: bool = False


class EmbedResponse(BaseModel):
    model: str
    duration: float
    dim: int
    embedding: list[float] = Field(description="clip-level embedding: the mean over windows of clip_seconds")
