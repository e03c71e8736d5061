"""Settings of the tagging service: where it listens, its limits and how it batches.

One dataclass, filled from the ``audiocnn serve`` flags (or by a caller of
:func:`audiocnn.serve.create_app`). Sizes are in bytes, durations in seconds unless the name
says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServeConfig", "read_api_key"]


@dataclass
class ServeConfig:
    """Limits and batching of the service.

    Attributes:
        host: address to bind (``127.0.0.1``: this machine only).
        port: TCP port.
        max_batch: most requests merged into one forward pass.
        max_wait_ms: longest wait, milliseconds, for more requests to join a batch.
        max_queue: requests waiting for the model; one more is answered 503 with ``Retry-After``.
        timeout: seconds a request may take from its first body byte to its answer (504 past it).
        max_upload_bytes: largest request body (413 past it).
        max_seconds: longest audio accepted, seconds (413 past it).
        max_channels: most channels in an uploaded file.
        max_connections: open connections before the server itself answers 503 (uvicorn's
            ``limit_concurrency``); bounds the memory held by requests in flight.
        top_k: default number of tags returned by ``/v1/tag``.
        api_key: when set, ``/v1/*`` and ``/metrics`` need it (``Authorization: Bearer KEY`` or
            ``X-API-Key: KEY``).
        retry_after: seconds suggested to a client turned away with 503.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_queue: int = 64
    timeout: float = 30.0
    max_upload_bytes: int = 50 * 1024 * 1024
    max_seconds: float = 600.0
    max_channels: int = 16
    max_connections: int = 256
    top_k: int = 5
    api_key: str | None = None
    retry_after: int = 1

    def __post_init__(self):
        for name in ("max_batch", "max_queue", "max_upload_bytes", "max_channels", "max_connections", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("timeout", "max_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key is empty")


def read_api_key(path: str | os.PathLike) -> str:
    """The key in ``path``: its first line, surrounding white space removed.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no key, or is readable by other users (a warning would be
            missed: the key would leak).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: API key file not found")
    if os.name == "posix" and p.stat().st_mode & 0o077:
        raise ValueError(f"{p}: API key file is readable by other users (mode {p.stat().st_mode & 0o777:o}); run chmod 600 {p}")
    lines = p.read_text(encoding="utf-8").strip().splitlines()
    key = lines[0].strip() if lines else ""
    if not key:
        raise ValueError(f"{p}: API key file is empty")
    return key
