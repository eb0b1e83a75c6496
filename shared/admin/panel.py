"""The admin panel's files: ``GET /`` (the page) and ``GET /admin/static/{name}`` (its scripts and styles).

Why a module of its own and not Starlette's ``StaticFiles``: the panel is a handful of small files that
ship inside the package (``shared/admin/static/``), the same on every cloud. Reading them once at import
and answering from memory costs nothing per request, needs no file system access after a cold start
(a Lambda or Cloud Function bundle is read-only and may be slow to stat), and makes the set of files that
can ever be served a fixed allow-list: a name is looked up in a dict, never joined to a path, so no
request can reach another file whatever its spelling (``..``, ``%2f``, a symlink added later).

The page runs under a strict Content-Security-Policy (the admin contract's): only this origin's
scripts, styles and API, no inline script or style, no framing. The panel's files are written for it
(``app.js`` builds every element with DOM calls and sets no ``style`` attribute from HTML text).
"""

from __future__ import annotations

import hashlib
import os
import re

from starlette.responses import Response

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
INDEX = "index.html"

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'")

# The page carries the admin's session: never cached, never framed, never sniffed, no Referer sent on.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}

# Assets are public code (no secrets): a browser may keep them five minutes. ``nosniff`` makes the
# browser trust only the type below, so a script is never run from a file that is not one.
ASSET_MAX_AGE = 300

# Only these kinds of file are served; anything else in the directory (an editor's backup, a README) is not.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class _File:
    """One served file, read once: its bytes, content type and a strong ETag of its content."""

    __slots__ = ("body", "content_type", "etag")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _load(directory: str) -> dict[str, _File]:
    """Every servable file directly in ``directory`` (no subdirectories, no hidden files), by name."""
    files: dict[str, _File] = {}
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:  # a deploy that left the panel out: the gateway still works, the page says so
        return files
    for name in names:
        content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower())
        full = os.path.join(directory, name)
        if content_type is None or not _SAFE_NAME.fullmatch(name) or ".." in name or not os.path.isfile(full):
            continue
        with open(full, "rb") as fh:
            files[name] = _File(fh.read(), content_type)
    return files


_FILES = _load(STATIC_DIR)
ALLOWED = frozenset(name for name in _FILES if name != INDEX)  # the page itself is served at / only, with its headers


def index() -> Response:
    """The panel's page (login first), with the security headers above. A deploy missing the panel's
    files still answers, with a plain 404 that says so rather than a crash."""
    page = _FILES.get(INDEX)
    if page is None:
        return Response("The admin panel's files are missing from this deployment (shared/admin/static/).\n",
                        status_code=404, media_type="text/plain; charset=utf-8", headers={"cache-control": "no-store"})
    return Response(page.body, headers={**PAGE_HEADERS, "content-type": page.content_type})


def asset(name: str, if_none_match: str | None = None) -> Response | None:
    """A file of the panel by its bare name (``app.js``), or ``None`` (the caller answers 404).

    A name with a ``/``, a ``..`` or anything not in the allow-list made at import is refused before any
    lookup. ``if_none_match`` is the request's ``If-None-Match`` header, if the caller passes it: a
    matching ETag gets a 304 with no body.
    """
    if "/" in name or "\\" in name or ".." in name or name not in ALLOWED:
        return None
    found = _FILES[name]
    headers = {
        "cache-control": f"public, max-age={ASSET_MAX_AGE}",
        "etag": found.etag,
        "x-content-type-options": "nosniff",
    }
    if if_none_match is not None and found.etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(found.body, headers={**headers, "content-type": found.content_type})
