"""`python -m loadtests.stream_bench --smoke`: streams held by client processes during a small flash sale
all end at the final state, and the invariants hold. Correctness only, never timings. Needs wrk."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
@pytest.mark.timeout(120)
def test_stream_bench_smoke() -> None:
    done = subprocess.run([sys.executable, "-m", "loadtests.stream_bench", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "behind its final state" in done.stdout and "invariants hold" in done.stdout
