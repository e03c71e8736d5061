import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from audiocnn.cli import main
from audiocnn.testing import tone

from serve_helpers import SR, free_port, wav_bytes


def test_help_shows_the_command_and_a_curl_example(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "audiocnn serve --model" in out and "curl" in out
    assert "default 127.0.0.1" in out


def test_a_world_readable_key_file_is_refused(tmp_path, capsys):
    pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
    key = tmp_path / "key"
    key.write_text("k")
    key.chmod(0o644)
    assert main(["serve", "--model", "test_cnn", "--api-key-file", str(key)]) == 1
    assert "chmod 600" in capsys.readouterr().err


def _get(url, data=None, headers=None, timeout=5):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def test_the_command_serves_on_loopback(tmp_path):
    pytest.importorskip("uvicorn", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
    port = free_port()
    key = tmp_path / "key"
    key.write_text("abc\n")
    key.chmod(0o600)
    cmd = [sys.executable, "-m", "audiocnn.cli", "serve", "--model", "test_cnn", "--precision", "fp32", "--threads", "1", "--port", str(port), "--api-key-file", str(key), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if _get(base + "/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "the service did not become ready"
            time.sleep(0.2)
        status, body = _get(base + "/v1/tag?top_k=2", data=wav_bytes(tone(440, 1.0, SR)), headers={"Content-Type": "audio/wav", "Authorization": "Bearer abc"})
        assert status == 200 and len(json.loads(body)["tags"]) == 2
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(base + "/v1/tag", data=b"x", headers={"Authorization": "Bearer abd"})
        assert e.value.code == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "RANDOM weights" in err.decode() and err.decode().count("RANDOM weights") == 1
