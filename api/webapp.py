"""The web app: the static export of `web/` (Next.js) on the API's own origin, paths resolved segment by
segment to the literal file or `_` (docs/architecture.md). `_next/static/` is content-hashed and cached
for good, the rest revalidated; without a build, `/` says how to make one."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from happening_engine.constants import ROOT

DEFAULT_ROOT = ROOT / "web" / "out"
PLACEHOLDER = "_"
IMMUTABLE = "public, max-age=31536000, immutable"
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Happening</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<h1>Happening's web app is not built</h1>
<p>The API runs; build the web app once and reload this page:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>The API is described at <a href="/v1/openapi.json">/v1/openapi.json</a>.</p></body></html>"""


def resolve(root: Path, path: str) -> Path | None:
    """The exported file that serves `path`, or None."""
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") or "\\" in p for p in parts):
        return None
    here = root
    for part in parts[:-1]:
        here = here / part if (here / part).is_dir() else here / PLACEHOLDER
        if not here.is_dir():
            return None
    if not parts:
        return _file(here / "index.html")
    last = parts[-1]
    suffix = ".txt" if last.endswith(".txt") else ".html"
    return (_file(here / last) or _file(here / f"{last}.html") or _file(here / last / "index.html")
            or _file(here / f"{PLACEHOLDER}{suffix}"))


def _file(path: Path) -> Path | None:
    return path if path.is_file() else None


def handler(root: Path) -> Handler:
    """A GET handler for every path outside /v1 that the API does not serve itself."""

    async def serve(request: web.Request) -> web.StreamResponse:
        if not root.is_dir():
            if request.path == "/":
                return web.Response(text=NOT_BUILT, content_type="text/html", status=503, headers=HEADERS)
            raise web.HTTPNotFound()
        found = resolve(root, request.path)
        if found is None:
            page = root / "404.html"
            if page.is_file():
                return web.FileResponse(page, status=404, headers={**HEADERS, "Content-Type": "text/html"})
            raise web.HTTPNotFound()
        cache = IMMUTABLE if request.path.startswith("/_next/static/") else "no-cache"
        return web.FileResponse(found, headers={**HEADERS, "Cache-Control": cache})

    return serve


def setup(app: web.Application, root: Path) -> None:
    """Serve the web app under every path except /v1 (whose unknown paths stay problem+json 404s)."""
    app.router.add_get(r"/{path:(?!v1/).*}", handler(root))
