"""The web page served at ``/``: one static HTML file with its script and style inline.

The page needs nothing from the network (no CDN, no web fonts): it is read from the package
once, and served with a Content-Security-Policy that allows only its own inline script and
style (by their SHA-256 hashes) and requests to this origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["Page", "load_page"]


@dataclass(frozen=True)
class Page:
    """The page's ``html`` and the HTTP ``headers`` to serve it with."""

    html: str
    headers: dict


def _hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode('utf-8')).digest()).decode()}'" for b in blocks]


@lru_cache(maxsize=1)
def load_page() -> Page:
    html = resources.files("audiocnn.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_hashes(html, "script")),
            "style-src " + " ".join(_hashes(html, "style")),
            "connect-src 'self'",
            "media-src 'self' blob:",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return Page(html, headers)
