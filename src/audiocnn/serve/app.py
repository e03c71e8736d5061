"""The ASGI application: routes, API key, errors as JSON, and the service's life cycle.

    app = create_app(ServeConfig(), loader=lambda: load_served_model("cnn14", "Cnn14.pth"))

Routes: ``POST /v1/tag``, ``/v1/sed``, ``/v1/embed`` (audio bytes, a multipart file or JSON
samples; see :mod:`audiocnn.serve.decode`), ``GET /v1/models``, ``/healthz``, ``/readyz``,
``/metrics`` (Prometheus), ``/openapi.json`` and the web page at ``/``. Every error answer is
``{"error": {"type": ..., "message": ...}}`` with a 4xx/5xx status.

The model is loaded in a background thread when the app starts (``loader``), so ``/healthz``
answers at once and ``/readyz`` says 503 until the model is in place; a ready ``model`` can be
passed instead (tests, embedding the app in another program).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from audiocnn.serve.batching import DynamicBatcher, QueueFullError
from audiocnn.serve.config import ServeConfig
from audiocnn.serve.decode import Audio, RequestError, decode_body, read_body
from audiocnn.serve.metrics import CONTENT_TYPE, Metrics
from audiocnn.serve.page import load_page
from audiocnn.serve.products import ServedModel
from audiocnn.serve.schemas import EmbedResponse, ErrorResponse, ModelsResponse, SamplesRequest, SedResponse, TagResponse

__all__ = ["Service", "create_app"]

log = logging.getLogger("audiocnn.serve")

MAX_EVENTS = 1000
ROUTES = ("/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/models", "/v1/tag", "/v1/sed", "/v1/embed")


class Service:
    """The model, its batcher and the metrics of one app; ``status`` is ``loading``, ``ready``,
    ``failed`` or ``stopped``."""

    def __init__(self, config: ServeConfig, model: ServedModel | None = None, loader: Callable[[], ServedModel] | None = None):
        if model is None and loader is None:
            raise ValueError("give a model or a loader")
        self.config = config
        self.metrics = Metrics()
        self.model: ServedModel | None = None
        self.batcher: DynamicBatcher | None = None
        self.status = "loading"
        self.error: str | None = None
        self._given, self._loader = model, loader

    def start(self) -> None:
        if self._given is not None:
            self._install(self._given)
        else:
            threading.Thread(target=self._load, name="audiocnn-model-loader", daemon=True).start()

    def _load(self) -> None:
        try:
            self._install(self._loader())
        except Exception as e:  # noqa: BLE001 - reported by /readyz and every request
            log.exception("loading the model failed")
            self.error, self.status = f"{type(e).__name__}: {e}", "failed"

    def _install(self, model: ServedModel) -> None:
        c = self.config
        self.batcher = DynamicBatcher(model.handlers(), c.max_batch, c.max_wait_ms, c.max_queue, on_batch=self.metrics.observe_batch).start()
        self.model = model
        if self.status == "loading":
            self.status = "ready"
            log.info("model %s ready (%s, %d classes, %d Hz)", model.name, model.precision, len(model.labels), model.sample_rate)

    def stop(self) -> None:
        self.status = "stopped"
        if self.batcher is not None:
            self.batcher.stop()

    @property
    def ready(self) -> bool:
        return self.status == "ready" and self.batcher is not None and self.batcher.alive

    def require_ready(self) -> ServedModel:
        if not self.ready:
            reason = {"loading": "the model is still loading", "failed": f"the model failed to load ({self.error})"}.get(self.status, "the service is not running")
            raise RequestError(503, "not_ready", reason, {"Retry-After": str(self.config.retry_after)})
        return self.model


class _MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: the body streams through untouched)."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in ROUTES else "other"
            err = scope.get("state", {}).get("error_type")
            if err is None and status[0] >= 400:
                err = "http_" + str(status[0])
            self.metrics.observe_request(endpoint, status[0], time.perf_counter() - t0, err)


def _error(request: Request, status: int, type_: str, message: str, headers: dict | None = None) -> JSONResponse:
    request.state.error_type = type_
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status, headers=headers)


def _audio_body_doc() -> dict:
    return {
        "requestBody": {
            "required": True,
            "description": "An audio file as the body (any format libsndfile decodes: WAV, FLAC, OGG, MP3, AIFF), a multipart/form-data file part, or JSON samples.",
            "content": {
                "audio/*": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
                "application/json": {"schema": SamplesRequest.model_json_schema()},
            },
        }
    }


ERRORS = {s: {"model": ErrorResponse} for s in (400, 401, 413, 415, 422, 503, 504)}


def create_app(config: ServeConfig | None = None, model: ServedModel | None = None, loader: Callable[[], ServedModel] | None = None) -> FastAPI:
    """The service as a FastAPI app (run it with uvicorn, or test it with its TestClient).

    Args:
        config: limits and batching (default :class:`ServeConfig()`).
        model: a ready :class:`ServedModel`; or
        loader: a function building one, called in a background thread at start-up.
    """
    from audiocnn import __version__

    config = config or ServeConfig()
    service = Service(config, model, loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="audiocnn",
        version=__version__,
        description="Audio tagging, sound event detection and embeddings with convolutional networks.",
        docs_url=None,  # the interactive docs pages load their scripts from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(_MetricsMiddleware, metrics=service.metrics)
    bearer = HTTPBearer(auto_error=False, description="the key of --api-key-file")
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the key of --api-key-file")

    def authorize(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),
        key: str | None = Security(header_key),
    ) -> None:
        expected = config.api_key
        if expected is None:
            return
        given = credentials.credentials if credentials is not None else key
        # hmac.compare_digest takes the same time wherever the first differing byte is
        if given is None or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            raise RequestError(401, "unauthorized", "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key: KEY)", {"WWW-Authenticate": "Bearer"})

    # -- errors ------------------------------------------------------------------------------
    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, exc: RequestError):
        return _error(request, exc.status, exc.type, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        type_ = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(request, exc.status_code, type_, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError):
        msg = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return _error(request, 422, "bad_request", msg)

    # -- the work of one request -------------------------------------------------------------
    async def infer(request: Request, kind: str) -> tuple[ServedModel, Audio, object]:
        t0 = time.perf_counter()
        served = service.require_ready()
        batcher = service.batcher
        if batcher.depth >= config.max_queue:  # refuse before spending anything on the body
            raise RequestError(503, "overloaded", f"{config.max_queue} requests are waiting; retry later", {"Retry-After": str(config.retry_after)})
        try:
            body = await asyncio.wait_for(read_body(request.stream(), config.max_upload_bytes, request.headers.get("content-length")), config.timeout)
            audio = await asyncio.to_thread(decode_body, body, request.headers.get("content-type", ""), served.sample_rate, config.max_seconds, config.max_channels)
            del body
            remaining = config.timeout - (time.perf_counter() - t0)
            if remaining <= 0:
                raise asyncio.TimeoutError
            result = await batcher.submit(kind, audio.samples, timeout=remaining)
        except QueueFullError:
            raise RequestError(503, "overloaded", f"{config.max_queue} requests are waiting; retry later", {"Retry-After": str(config.retry_after)}) from None
        except asyncio.TimeoutError:
            raise RequestError(504, "timeout", f"no answer within the request timeout of {config.timeout:g} s") from None
        except RequestError:
            raise
        except Exception as e:  # noqa: BLE001 - the model failed on this request only
            log.exception("%s failed", kind)
            raise RequestError(500, "inference_failed", f"{type(e).__name__}: {e}") from None
        return served, audio, result

    # -- routes ------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        p = load_page()
        return HTMLResponse(p.html, headers=p.headers)

    @app.get("/healthz", tags=["service"], summary="liveness: the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"], summary="readiness: the model is loaded and the batching worker runs", responses={503: {"description": "loading, failed or stopped"}})
    async def readyz():
        if service.ready:
            return {"status": "ready", "model": service.model.name}
        return JSONResponse({"status": service.status, "error": service.error}, status_code=503, headers={"Retry-After": str(config.retry_after)})

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics", response_class=PlainTextResponse, dependencies=[Security(authorize)])
    async def metrics():
        b = service.batcher
        gauges = {
            "audiocnn_queue_depth": ("Requests waiting for the model.", b.depth if b is not None else 0),
            "audiocnn_queue_capacity": ("Most requests that may wait (--max-queue).", config.max_queue),
            "audiocnn_ready": ("1 when the model is loaded and the worker runs.", 1 if service.ready else 0),
        }
        return PlainTextResponse(service.metrics.render(gauges), media_type=CONTENT_TYPE)

    @app.get("/v1/models", tags=["inference"], summary="the loaded model: labels, sample rate, clip length", response_model=ModelsResponse, responses=ERRORS, dependencies=[Security(authorize)])
    async def models():
        return {"models": [service.require_ready().describe()]}

    @app.post("/v1/tag", tags=["inference"], summary="clip-level tags", response_model=TagResponse, responses=ERRORS, openapi_extra=_audio_body_doc(), dependencies=[Security(authorize)])
    async def tag(
        request: Request,
        top_k: int | None = Query(None, ge=1, le=10000, description="tags returned (default --top-k)"),
        probabilities: bool = Query(False, description="also return every class probability"),
    ):
        served, audio, probs = await infer(request, "tag")
        order = np.argsort(-probs, kind="stable")[: top_k or config.top_k]
        out = {
            "model": served.name,
            "duration": round(audio.duration, 6),
            "source_sample_rate": audio.source_rate,
            "tags": [{"label": served.labels[i], "index": int(i), "probability": float(probs[i])} for i in order],
        }
        if probabilities:
            out["probabilities"] = [float(p) for p in probs]
        return JSONResponse(out)

    @app.post("/v1/sed", tags=["inference"], summary="sound event detection: class probabilities over time and events", response_model=SedResponse, responses=ERRORS, openapi_extra=_audio_body_doc(), dependencies=[Security(authorize)])
    async def sed(request: Request, top_k: int = Query(5, ge=1, le=100, description="classes whose curves are returned (by largest probability)")):
        served, audio, res = await infer(request, "sed")
        cols, hop = res.overview.shape[0], res.overview_hop
        times = np.minimum(res.time_offset + (np.arange(cols) * hop + hop / 2) / res.frame_rate, res.duration)
        classes = [
            {"label": res.labels[c], "index": c, "max_probability": float(res.class_max[c]), "probabilities": np.round(res.overview[:, c], 5).tolist()}
            for c in res.top_classes(top_k)
        ]
        events = [
            {"onset": round(float(e.onset), 4), "offset": round(float(e.offset), 4), "label": e.label, "index": int(e.index), "score": float(e.score)}
            for e in res.events[:MAX_EVENTS]
        ]
        return JSONResponse(
            {
                "model": served.name,
                "duration": round(res.duration, 6),
                "frame_rate": res.frame_rate,
                "num_frames": res.num_frames,
                "times": np.round(times, 4).tolist(),
                "classes": classes,
                "events": events,
                "events_truncated": len(res.events) > MAX_EVENTS,
            }
        )

    @app.post("/v1/embed", tags=["inference"], summary="clip-level embedding", response_model=EmbedResponse, responses=ERRORS, openapi_extra=_audio_body_doc(), dependencies=[Security(authorize)])
    async def embed(request: Request):
        served, audio, emb = await infer(request, "embed")
        return JSONResponse({"model": served.name, "duration": round(audio.duration, 6), "dim": int(emb.shape[0]), "embedding": [float(v) for v in emb]})

    return app
