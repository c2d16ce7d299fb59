"""The web app's static export served on the API's origin: deep links, caching, 404s, no build."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api import webapp


def _export(root: Path) -> None:
    """The shape `next build` gives a static export (a `_` file or folder per dynamic segment)."""
    files = {
        "index.html": "home", "404.html": "missing", "bookings.html": "bookings",
        "events/_.html": "event page", "events/_.txt": "event payload",
        "events/_/__next.events.$d$id.__PAGE__.txt": "segment payload",
        "orgs/_/events/new.html": "new event", "orgs/_/events/_.html": "manage event",
        "_next/static/chunks/app.js": "js",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


async def _known(_: web.Request) -> web.Response:
    return web.json_response({})


async def _client(root: Path) -> TestClient:
    app = web.Application()
    app.router.add_get("/v1/known", _known)
    webapp.setup(app, root)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_deep_links_resolve_to_their_exported_pages(tmp_path: Path) -> None:
    _export(tmp_path)
    client = await _client(tmp_path)
    try:
        for path, text in [("/", "home"), ("/bookings", "bookings"), ("/events/3f9a", "event page"),
                           ("/events/3f9a.txt", "event payload"),
                           ("/events/3f9a/__next.events.$d$id.__PAGE__.txt", "segment payload"),
                           ("/orgs/o1/events/new", "new event"), ("/orgs/o1/events/e1", "manage event")]:
            response = await client.get(path)
            assert response.status == 200, path
            assert await response.text() == text, path
            assert response.headers["Cache-Control"] == "no-cache"
        response = await client.get("/_next/static/chunks/app.js")
        assert response.status == 200 and "immutable" in response.headers["Cache-Control"]
        for path in ("/nowhere", "/events/a/b/c", "/events/..%2f..%2fetc%2fpasswd", "/orgs/o1/unknown"):
            response = await client.get(path)
            assert response.status == 404, path
            assert await response.text() == "missing", path
        assert (await client.get("/v1/known")).status == 200
        assert (await client.get("/v1/unknown")).status == 404
        assert await (await client.get("/v1/unknown")).text() != "missing"
    finally:
        await client.close()


async def test_without_a_build_the_root_says_how_to_build(tmp_path: Path) -> None:
    client = await _client(tmp_path / "out")
    try:
        response = await client.get("/")
        assert response.status == 503
        assert "npm ci &amp;&amp; npm run build" in await response.text()
        assert (await client.get("/events/1")).status == 404
    finally:
        await client.close()


def test_resolve_refuses_to_leave_the_root(tmp_path: Path) -> None:
    _export(tmp_path / "out")
    (tmp_path / "secret.html").write_text("secret")
    assert webapp.resolve(tmp_path / "out", "/../secret.html") is None
    assert webapp.resolve(tmp_path / "out", "/events/../../secret") is None
