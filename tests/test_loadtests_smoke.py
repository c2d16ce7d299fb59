"""`python -m loadtests.bench --smoke`: the whole platform under a small wrk load keeps its invariants.

Runs the benchmark as a user would (it starts `happening serve` and the baseline app itself, on a
throwaway database and prefixes); checks correctness only, never timings. Needs wrk (apt-get install wrk).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
@pytest.mark.timeout(120)
def test_bench_smoke_keeps_invariants() -> None:
    done = subprocess.run([sys.executable, "-m", "loadtests.bench", "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "invariants hold" in done.stdout
