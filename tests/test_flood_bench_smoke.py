"""`python -m loadtests.flood_bench --smoke`: while one user floods, it gets 429s with Retry-After and the
ordinary users get none (and no errors); the invariants hold. Correctness only, never timings. Needs wrk."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
@pytest.mark.timeout(120)
def test_flood_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "flood.json"
    done = subprocess.run([sys.executable, "-m", "loadtests.flood_bench", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "invariants hold" in done.stdout
    result = json.loads(out.read_text())
    flood = [p for p in result["phases"] if p["kind"] == "flood"]
    assert flood and all(p["flooder"]["limited_429"] > 0 for p in flood)
    assert all(p["flooder"]["retry_after"] == p["flooder"]["limited_429"] for p in flood)
    assert all(p["ordinary"]["requests"] and not p["ordinary"]["limited_429"] and not p["ordinary"]["errors"]
               for p in result["phases"])
