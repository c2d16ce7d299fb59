"""`python -m loadtests.bench --layout split --smoke`: the split layout (2 APIs, an engine and a standby
per shard of 2, a worker) and `happening serve`, in one run under a small wrk load: both layouts report,
and the invariants hold after each. Checks correctness only, never timings. Needs wrk."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
@pytest.mark.timeout(180)
def test_split_bench_smoke_reports_both_layouts_and_keeps_invariants() -> None:
    done = subprocess.run([sys.executable, "-m", "loadtests.bench", "--layout", "split", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    path = next(line.split("results: ", 1)[1] for line in done.stdout.splitlines() if line.startswith("results: "))
    result = json.loads(Path(path).read_text())
    assert result["order"] == ["split", "serve"] and result["problems"] == []
    for layout in ("split", "serve"):
        assert result[f"{layout}_invariants"]["ok"], result[f"{layout}_invariants"]
        for name, figures in result[layout].items():
            assert figures["complete"] and figures["errors"] == 0, (layout, name, figures)
            assert figures["created_201"] + figures["conflicts_409"] == figures["requests"] > 0
    assert result["split"]["flash_sale"]["cpu_ms_per_request"]["api"] > 0  # the APIs were driven
    assert result["split"]["flash_sale"]["mean_commands_per_message"] >= 1
    for name in ("flash_sale", "mix"):
        assert f"{name}: serve " in done.stdout and "of serve" in done.stdout
