"""The web app's journeys (`web/e2e/`, Playwright) in Debian's Chromium against a real `happening serve`
on a throwaway database, Redis key prefix and RabbitMQ name prefix (loadtests.processes.Platform).

Screenshots of the main pages land in `web/test-results/screenshots/`. Needs `npm ci` in `web/` and
Chromium (`apt-get install chromium`); the web app is rebuilt first when its sources are newer than the build.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from loadtests.processes import Platform

WEB = Path(__file__).resolve().parent.parent / "web"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SOURCES = ("app", "components", "lib", "next.config.ts", "package-lock.json")


def _build_is_stale() -> bool:
    built = WEB / "out" / "index.html"
    if not built.exists():
        return True
    newest = max(p.stat().st_mtime for name in SOURCES for p in [WEB / name, *(WEB / name).rglob("*")] if p.exists())
    return newest > built.stat().st_mtime


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install -y chromium)")
@pytest.mark.skipif(not (WEB / "node_modules").is_dir(), reason="web/node_modules is missing (cd web && npm ci)")
@pytest.mark.timeout(900)
async def test_browser_journeys(tmp_path: Path) -> None:
    if _build_is_stale():
        build = await asyncio.to_thread(subprocess.run, ["npm", "run", "build"], cwd=WEB, capture_output=True,
                                        text=True, timeout=600)
        assert build.returncode == 0, build.stdout + build.stderr
    platform = Platform(logs_dir=tmp_path)
    try:
        serve = await platform.start_serve()
        env = {**os.environ, "HAPPENING_WEB_URL": serve.url, "CHROMIUM_PATH": CHROMIUM}
        done = await asyncio.to_thread(subprocess.run, ["npx", "playwright", "test"], cwd=WEB, env=env,
                                       capture_output=True, text=True, timeout=840)
        log_tail = (tmp_path / "serve.log").read_text(errors="replace")[-4000:]
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n--- serve log (tail) ---\n{log_tail}"
    finally:
        await platform.teardown()
