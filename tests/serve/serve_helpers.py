"""Helpers shared by the service tests (imported by name: tests/ has no packages)."""

import io
import socket
import threading
import time
import warnings

import numpy as np
import soundfile as sf

SR = 32000


def wav_bytes(x: np.ndarray, sample_rate: int = SR, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sample_rate, format=fmt)
    return buf.getvalue()


def tiny_served_model(name: str = "test_cnn_sed", **kw):
    """A test-size model with random weights (fixed seed), fp32, as the service builds it."""
    import torch

    from audiocnn.serve import load_served_model

    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random-weight notices
        return load_served_model(name, precision=kw.pop("precision", "fp32"), **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread; ``with ServerThread(app) as url:``."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
