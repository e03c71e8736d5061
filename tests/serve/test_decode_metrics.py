import asyncio
import math
import re

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")

from audiocnn.serve.config import ServeConfig, read_api_key  # noqa: E402
from audiocnn.serve.decode import RequestError, decode_body, decode_bytes, read_body, split_multipart  # noqa: E402
from audiocnn.serve.metrics import Histogram, Metrics  # noqa: E402
from audiocnn.testing import tone  # noqa: E402

from serve_helpers import SR, wav_bytes  # noqa: E402


async def _chunks(parts):
    for p in parts:
        yield p


def test_read_body_stops_at_the_limit_without_a_content_length():
    assert asyncio.run(read_body(_chunks([b"ab", b"cd"]), 4)) == b"abcd"
    with pytest.raises(RequestError) as e:
        asyncio.run(read_body(_chunks([b"ab", b"cd", b"e"]), 4))
    assert e.value.status == 413 and e.value.type == "too_large"
    with pytest.raises(RequestError) as e:
        asyncio.run(read_body(_chunks([]), 4, declared="5"))
    assert e.value.status == 413


def test_decode_mixes_to_mono_and_resamples():
    left, right = tone(440, 0.5, 16000), tone(440, 0.5, 16000, phase=np.pi)  # opposite phases cancel
    stereo = np.stack([left, left + 0 * right], axis=1)
    a = decode_bytes(wav_bytes(stereo, 16000, "FLAC"), SR, max_seconds=10)
    assert a.source_rate == 16000 and a.sample_rate == SR and a.samples.shape == (SR // 2,)
    cancel = decode_bytes(wav_bytes(np.stack([left, right], axis=1), 16000), SR, max_seconds=10)
    assert np.abs(cancel.samples).max() < 1e-3


def test_duration_limit_is_checked_before_decoding():
    with pytest.raises(RequestError) as e:
        decode_bytes(wav_bytes(np.zeros(3 * 8000, np.float32), 8000), SR, max_seconds=2.0)
    assert e.value.status == 413 and "3.0 s" in e.value.message and "2 s" in e.value.message


def test_multipart_takes_the_file_part():
    wav = wav_bytes(tone(440, 0.2, SR))
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n" + wav + b"\r\n--XyZ--\r\n"
    )
    assert split_multipart(body, "multipart/form-data; boundary=XyZ") == wav
    a = decode_body(body, "multipart/form-data; boundary=XyZ", SR, 10)
    assert a.samples.shape == (int(0.2 * SR),)
    with pytest.raises(RequestError) as e:
        split_multipart(body, "multipart/form-data")
    assert e.value.status == 400 and "boundary" in e.value.message


def test_histogram_and_exposition_format():
    h = Histogram([1, 2, 4])
    for v in (1, 1, 3, 9):
        h.observe(v)
    lines = h.lines("x", [("kind", "tag")])
    assert lines[:4] == ['x_bucket{kind="tag",le="1"} 2', 'x_bucket{kind="tag",le="2"} 2', 'x_bucket{kind="tag",le="4"} 3', 'x_bucket{kind="tag",le="+Inf"} 4']
    assert lines[4:] == ['x_sum{kind="tag"} 14', 'x_count{kind="tag"} 4']
    m = Metrics()
    m.observe_request("/v1/tag", 200, 0.02)
    m.observe_request("/v1/tag", 503, 0.001, "overloaded")
    m.observe_batch("tag", 3, 0.1)
    text = m.render({"audiocnn_queue_depth": ("waiting", 2)})
    assert 'audiocnn_requests_total{endpoint="/v1/tag",status="503"} 1' in text
    assert 'audiocnn_errors_total{endpoint="/v1/tag",type="overloaded"} 1' in text
    assert 'audiocnn_batch_size_sum{kind="tag"} 3' in text and "audiocnn_queue_depth 2" in text
    # every sample line is "name{labels} value" with a number, every family has HELP and TYPE
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = re.fullmatch(r'([a-z_]+(?:\{[^}]*\})?) (\S+)', line).groups()
            assert not math.isnan(float(value.replace("+Inf", "inf")))
    families = re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M)
    assert ("audiocnn_batch_size", "histogram") in families and ("audiocnn_queue_depth", "gauge") in families


def test_config_limits_and_api_key_file(tmp_path):
    with pytest.raises(ValueError, match="max_batch"):
        ServeConfig(max_batch=0)
    key = tmp_path / "key"
    key.write_text("  abc123 \n")
    key.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        read_api_key(key)
    key.chmod(0o600)
    assert read_api_key(key) == "abc123"
    key.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        read_api_key(key)
    with pytest.raises(FileNotFoundError):
        read_api_key(tmp_path / "missing")
