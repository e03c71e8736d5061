"""The web page in a real browser: headless Chromium driven by Playwright, on a live server."""

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="the service needs the [serve] extra: pip install -e '.[serve]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright; the browser is the system Chromium)")

from audiocnn.serve import ServeConfig, create_app  # noqa: E402
from audiocnn.testing import tone, write_wav  # noqa: E402

from serve_helpers import SR, ServerThread  # noqa: E402

CHROMIUM = os.environ.get("AUDIOCNN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]

# a browser process per module: in the slow set (-m slow)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"),
]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _canvas_colours(page, selector: str) -> int:
    """Distinct colours drawn on a canvas (1 for a blank one)."""
    return page.evaluate(
        """(sel) => {
            const c = document.querySelector(sel);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3]);
            return seen.size;
        }""",
        selector,
    )


def test_upload_shows_tags_and_the_sed_plot(browser, served, tmp_path):
    x = tone(880, 2.0, SR) + 0.02 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    wav = write_wav(tmp_path / "upload.wav", x, SR)
    expected = served.tagger.predict_proba([x])[0]
    top = served.labels[int(np.argmax(expected))]
    errors = []
    with ServerThread(create_app(ServeConfig(), model=served)) as url:
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(url + "/")
        # a locator wait, not wait_for_function: polling a string predicate is an eval, which the page's CSP refuses
        sync_api.expect(page.locator("#model-info")).to_contain_text("test_cnn_sed", timeout=15000)
        assert page.locator("#results").is_hidden()
        page.set_input_files("#file", str(wav))
        page.wait_for_selector("#results[data-state=done]", timeout=30000)
        labels = page.locator("#tags-list li").evaluate_all("els => els.map(e => e.dataset.label)")
        assert len(labels) == 10 and labels[0] == top
        assert int(page.get_attribute("#tags-canvas", "data-drawn")) == 10
        assert int(page.get_attribute("#sed-canvas", "data-drawn")) == 201  # 2 s at 100 frames/s
        assert _canvas_colours(page, "#tags-canvas") > 5 and _canvas_colours(page, "#sed-canvas") > 5
        assert "upload.wav" in page.inner_text("#status") and page.locator("#error").is_hidden()
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert not errors, errors


def test_an_unreadable_file_shows_the_reason(browser, served, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"this is not audio")
    with ServerThread(create_app(ServeConfig(), model=served)) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.set_input_files("#file", str(bad))
        page.wait_for_selector("#error.shown", timeout=30000)
        assert "not a readable audio file" in page.inner_text("#error")
        assert page.get_attribute("#results", "data-state") == "error"
