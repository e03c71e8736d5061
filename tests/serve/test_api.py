import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from audiocnn.serve import ServeConfig, create_app  # noqa: E402
from audiocnn.serve.products import ServedModel  # noqa: E402
from audiocnn.testing import tone  # noqa: E402

from serve_helpers import SR, wav_bytes  # noqa: E402


def client(served, **config) -> TestClient:
    return TestClient(create_app(ServeConfig(**config), model=served))


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, flags=re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


class BlockingModel(ServedModel):
    """The served model with a tag handler that waits for ``release`` (or sleeps ``delay``)."""

    release: threading.Event
    started: threading.Event
    delay: float = 0.0

    def tag_batch(self, waveforms):
        self.started.set()
        if self.delay:
            time.sleep(self.delay)
        else:
            self.release.wait(10)
        return super().tag_batch(waveforms)


def blocking(served, delay: float = 0.0) -> BlockingModel:
    m = BlockingModel(served.name, served.tagger, served.detector, served.embedder, served.precision)
    m.release, m.started, m.delay = threading.Event(), threading.Event(), delay
    return m


# ------------------------------------------------------------------------------- endpoints


def test_tag_matches_the_tagger_for_every_body_format(served, clip, clip_wav):
    expected = served.tagger.predict_proba([clip])[0]
    top = int(np.argmax(expected))
    with client(served) as c:
        bodies = [
            {"content": clip_wav, "headers": {"Content-Type": "audio/wav"}},
            {"content": clip_wav},  # no content type: sniffed by the decoder
            {"files": {"file": ("clip.wav", clip_wav, "audio/wav")}},
            {"json": {"samples": clip.tolist(), "sample_rate": SR}},
        ]
        for body in bodies:
            r = c.post("/v1/tag?top_k=3&probabilities=true", **body)
            assert r.status_code == 200, r.text
            j = r.json()
            assert [t["index"] for t in j["tags"]][0] == top and len(j["tags"]) == 3
            assert j["tags"][0]["label"] == served.labels[top]
            np.testing.assert_allclose(j["probabilities"], expected, atol=2e-3)  # 16-bit WAV vs float samples
            assert j["duration"] == pytest.approx(1.5)


def test_other_rates_are_resampled(served, clip):
    x16 = tone(440, 1.5, 16000)
    with client(served) as c:
        r = c.post("/v1/tag", content=wav_bytes(x16, 16000))
    assert r.status_code == 200
    assert r.json()["source_sample_rate"] == 16000 and r.json()["duration"] == pytest.approx(1.5)


def test_sed_returns_curves_times_and_events(served, clip_wav):
    with client(served) as c:
        r = c.post("/v1/sed?top_k=4", content=clip_wav)
    assert r.status_code == 200, r.text
    j = r.json()
    # frame-level model at 100 frames/s: 1.5 s -> 151 frames, short enough to keep every frame
    assert j["frame_rate"] == 100 and j["num_frames"] == 151 and len(j["times"]) == 151
    assert j["times"] == sorted(j["times"]) and 0 <= j["times"][0] and j["times"][-1] <= 1.5
    assert len(j["classes"]) == 4
    maxima = [c["max_probability"] for c in j["classes"]]
    assert maxima == sorted(maxima, reverse=True)
    for c in j["classes"]:
        assert len(c["probabilities"]) == 151 and max(c["probabilities"]) == pytest.approx(c["max_probability"], abs=1e-4)
    for e in j["events"]:
        assert 0 <= e["onset"] < e["offset"] <= 1.5 + 0.011


def test_embed_matches_the_embedder(served, clip, clip_wav):
    expected = served.embedder.embed_batch(clip[None])[0]
    with client(served) as c:
        r = c.post("/v1/embed", content=clip_wav)
    assert r.status_code == 200
    j = r.json()
    assert j["dim"] == served.embedder.embedding_dim == len(j["embedding"])
    np.testing.assert_allclose(j["embedding"], expected, atol=2e-3)


def test_long_input_embedding_is_the_mean_over_clip_windows(served):
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(int(25 * SR))).astype(np.float32)  # 10-s windows at 0, 10, 15 s
    (emb,) = served.embed_batch([x])
    w = served.embedder.clip
    rows = served.embedder.embed_batch(np.stack([x[:w], x[w : 2 * w], x[-w:]]))
    np.testing.assert_allclose(emb, rows.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_models_health_ready_openapi_and_page(served):
    with client(served) as c:
        m = c.get("/v1/models").json()["models"][0]
        assert (m["name"], m["sample_rate"], m["clip_seconds"], m["num_classes"]) == ("test_cnn_sed", SR, 10.0, 527)
        assert m["labels"][:2] == ["class_0", "class_1"] and m["frame_level"] is True
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/v1/tag", "/v1/sed", "/v1/embed", "/v1/models", "/healthz", "/readyz", "/metrics"} <= set(paths)
        assert "multipart/form-data" in paths["/v1/tag"]["post"]["requestBody"]["content"]
        page = c.get("/")
        assert page.status_code == 200 and "<canvas" in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "sha256-" in csp and "http" not in csp
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "the page must load nothing from the network"


def test_ready_only_after_the_loader_finished(served):
    gate = threading.Event()

    def loader():
        gate.wait(10)
        return served

    with TestClient(create_app(ServeConfig(), loader=loader)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading" and "retry-after" in r.headers
        r = c.post("/v1/tag", content=b"x")
        assert r.status_code == 503 and r.json()["error"]["type"] == "not_ready"
        gate.set()
        for _ in range(200):
            if c.get("/readyz").status_code == 200:
                break
            time.sleep(0.02)
        assert c.get("/readyz").status_code == 200


def test_a_failed_load_is_reported():
    def loader():
        raise FileNotFoundError("model.pth: checkpoint not found")

    with TestClient(create_app(ServeConfig(), loader=loader)) as c:
        for _ in range(200):
            r = c.get("/readyz")
            if r.json()["status"] != "loading":
                break
            time.sleep(0.02)
        assert r.status_code == 503 and "checkpoint not found" in r.json()["error"]


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, status, type_",
    [
        ({"content": b"RIFF\x00\x00not audio at all"}, 415, "undecodable_audio"),
        ({"content": b""}, 422, "empty_audio"),
        ({"content": wav_bytes(np.zeros(0, np.float32))}, 422, "empty_audio"),
        ({"json": {"samples": [], "sample_rate": SR}}, 422, "empty_audio"),
        ({"content": b'{"samples": [0.1, NaN], "sample_rate": 32000}', "headers": {"Content-Type": "application/json"}}, 422, "invalid_audio"),
        ({"json": {"samples": [[0.1, 0.2]], "sample_rate": SR}}, 422, "invalid_audio"),
        ({"json": {"samples": [0.1] * 100, "sample_rate": 12.5}}, 422, "invalid_audio"),
        ({"json": {"wave": [0.1]}}, 400, "bad_request"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "bad_request"),
        ({"content": b"x", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"content": wav_bytes(np.zeros(int(3 * SR), np.float32))}, 413, "too_long"),
        ({"content": b"\x00" * 300_000}, 413, "too_large"),
    ],
)
def test_bad_requests_get_a_json_error(served, kwargs, status, type_):
    with client(served, max_seconds=2.0, max_upload_bytes=250_000) as c:
        r = c.post("/v1/tag", **kwargs)
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert err["type"] == type_ and err["message"]
        assert c.post("/v1/tag", content=wav_bytes(tone(300, 1.0, SR))).status_code == 200  # the service is unharmed
        text = c.get("/metrics").text
    assert f'audiocnn_errors_total{{endpoint="/v1/tag",type="{type_}"}} 1' in text


def test_query_and_routing_errors_use_the_same_body(served, clip_wav):
    with client(served) as c:
        r = c.post("/v1/tag?top_k=zero", content=clip_wav)
        assert r.status_code == 422 and r.json()["error"]["type"] == "bad_request" and "top_k" in r.json()["error"]["message"]
        assert c.get("/v1/nothing").json()["error"]["type"] == "not_found"
        assert c.get("/v1/tag").json()["error"]["type"] == "method_not_allowed"


def test_api_key(served, clip_wav):
    with client(served, api_key="s3cret-key") as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cret-kez"}):
            r = c.post("/v1/tag", content=clip_wav, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
        assert c.get("/metrics").status_code == 401 and c.get("/v1/models").status_code == 401
        assert c.post("/v1/tag", content=clip_wav, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert c.post("/v1/tag", content=clip_wav, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200  # probes and the page stay open


def test_full_queue_answers_503_with_retry_after(served, clip_wav):
    model = blocking(served)
    with client(model, max_batch=1, max_queue=1, max_wait_ms=0) as c, ThreadPoolExecutor(2) as pool:
        first = pool.submit(c.post, "/v1/tag", content=clip_wav)
        assert model.started.wait(10), "the worker never took the first request"
        second = pool.submit(c.post, "/v1/tag", content=clip_wav)  # waits in the queue
        for _ in range(500):
            if metric(c.get("/metrics").text, "audiocnn_queue_depth") == 1:
                break
            time.sleep(0.01)
        r = c.post("/v1/tag", content=clip_wav)
        assert r.status_code == 503 and r.json()["error"]["type"] == "overloaded"
        assert int(r.headers["retry-after"]) >= 1
        model.release.set()
        assert first.result().status_code == 200 and second.result().status_code == 200


def test_request_timeout_gives_504(served, clip_wav):
    with client(blocking(served, delay=1.0), timeout=0.3) as c:
        t0 = time.perf_counter()
        r = c.post("/v1/tag", content=clip_wav)
        assert r.status_code == 504 and r.json()["error"]["type"] == "timeout"
        assert time.perf_counter() - t0 < 0.9


# ------------------------------------------------------------------------------- batching


def test_concurrent_requests_share_a_forward_pass_and_keep_their_own_results(served):
    signals = [tone(f, 1.0, SR) for f in (200, 700, 1500, 3000, 5000, 9000)]
    expected = [served.tagger.predict_proba([x])[0] for x in signals]
    with client(served, max_batch=8, max_wait_ms=300) as c, ThreadPoolExecutor(len(signals)) as pool:
        results = list(pool.map(lambda x: c.post("/v1/tag?probabilities=true", json={"samples": x.tolist(), "sample_rate": SR}), signals))
        text = c.get("/metrics").text
    for r, e in zip(results, expected):
        assert r.status_code == 200
        np.testing.assert_allclose(r.json()["probabilities"], e, atol=1e-4)
    n = metric(text, 'audiocnn_batch_size_count{kind="tag"}')
    total = metric(text, 'audiocnn_batch_size_sum{kind="tag"}')
    assert total == len(signals) and n < len(signals), "no two requests were merged"
    assert metric(text, 'audiocnn_requests_total{endpoint="/v1/tag",status="200"}') == len(signals)


def test_an_undecodable_request_does_not_disturb_concurrent_ones(served, clip_wav):
    with client(served, max_batch=8, max_wait_ms=200) as c, ThreadPoolExecutor(6) as pool:
        bodies = [clip_wav, b"garbage", clip_wav, b"", clip_wav, b"RIFF"]
        codes = list(pool.map(lambda b: c.post("/v1/tag", content=b).status_code, bodies))
    assert codes == [200, 415, 200, 422, 200, 415]
