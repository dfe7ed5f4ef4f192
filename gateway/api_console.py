"""The web console (DESIGN §5): static files under gateway/console/, served at `/` (the page) and
`/console/<path>` (its scripts, styles and images). The page calls /api/v1 like any client; nothing here knows a
screen. No build step: the files are what the browser runs (plain ES modules; no third-party code).

Every console answer carries the headers that keep the page to itself: a Content-Security-Policy with no inline
script and no other host (`default-src 'self'`, `frame-ancestors 'none'`), no sniffing, no referrer.

Caching without a build step: the page is revalidated on every load (ETag); it names its files under
`/console/<build>/...`, where <build> is a digest of every console file, so those answers are immutable and cached
for a year — an upgrade changes <build>, and the next load fetches the new files. The page also lists every module
as `modulepreload`, so the browser fetches them at once instead of discovering the imports level by level."""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from werkzeug.security import safe_join
from werkzeug.wrappers import Request, Response

from contracts.errors import NotFound
from gateway.http import api
from gateway.openapi import Operation

ROOT = Path(__file__).parent / "console"
TAG = "console"
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
                           "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
                    "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
         ".ico": "image/x-icon", ".json": "application/json", ".txt": "text/plain; charset=utf-8"}


REVALIDATE, IMMUTABLE = "no-cache", "public, max-age=31536000, immutable"
_BUILD_SEGMENT = re.compile(r"^([0-9a-f]{16})/(.+)$")


class ConsoleRoutes:
    @api("GET", "/", doc=Operation("The web console", TAG, public=True,
                                   responses={200: (("text/html",), "the console's page"),
                                              304: (None, "not modified since the ETag sent")}))
    def console_page(self, request: Request):
        content, etag, mimetype = _page()
        return _answer(request, content, etag, mimetype, REVALIDATE)

    @api("GET", "/console/<path:asset>", doc=Operation(
        "A file of the web console (script, style, image); under /console/<build>/ cached for good", TAG,
        public=True, responses={200: (tuple(sorted({t.split(";")[0] for t in TYPES.values()})), "the file"),
                                304: (None, "not modified since the ETag sent")}))
    def console_asset(self, request: Request, asset: str):
        versioned = _BUILD_SEGMENT.match(asset)
        relative = versioned.group(2) if versioned else asset
        content, etag, mimetype = _file(relative)
        # a page of an earlier build asking for its files gets today's, revalidated: never cached as that build's
        cache = IMMUTABLE if versioned and versioned.group(1) == build() else REVALIDATE
        return _answer(request, content, etag, mimetype, cache)


def _answer(request: Request, content: bytes, etag: str, mimetype: str, cache: str) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": f'"{etag}"', "Cache-Control": cache}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(content, status=200, headers=headers, content_type=mimetype)


def _served() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*") if p.is_file() and p.suffix in TYPES)


@functools.cache
def build() -> str:
    """A digest of every console file: the <build> in the page's file URLs."""
    digest = hashlib.sha256()
    for path in _served():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def _page() -> tuple[bytes, str, str]:
    """index.html with its file URLs under /console/<build>/ and a modulepreload for every module of the console
    (not the public forms' scripts under forms/)."""
    prefix = f"/console/{build()}/"
    text = (ROOT / "index.html").read_text().replace('"/console/', f'"{prefix}')
    preloads = "".join(f'  <link rel="modulepreload" href="{prefix}{p.relative_to(ROOT).as_posix()}">\n'
                       for p in _served() if p.suffix == ".js" and p.relative_to(ROOT).parts[0] != "forms")
    content = text.replace("</head>", preloads + "</head>", 1).encode()
    return content, hashlib.sha256(content).hexdigest(), TYPES[".html"]


@functools.lru_cache(maxsize=256)
def _file(relative: str) -> tuple[bytes, str, str]:
    """(content, sha256, media type) of a console file; NotFound for anything else (no directory listing, no
    path out of the console's folder, no file type we do not serve)."""
    joined = safe_join(str(ROOT), relative)
    path = Path(joined) if joined else None
    mimetype = TYPES.get(path.suffix) if path else None
    if path is None or mimetype is None or not path.is_file():
        raise NotFound(f"the console has no file {relative!r}", code="not_found")
    content = path.read_bytes()
    return content, hashlib.sha256(content).hexdigest(), mimetype


