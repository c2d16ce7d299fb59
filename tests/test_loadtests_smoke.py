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


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
@pytest.mark.timeout(120)
def test_rounds_run_alternated_pairs_and_print_the_median() -> None:
    done = subprocess.run([sys.executable, "-m", "loadtests.rounds", "2", "--smoke", "--scenarios", "flash_sale"],
                          cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["pair 1/2", "pair 2/2"]
    assert lines[2].startswith("flash_sale: ") and "median" in lines[2] and "2 pairs" in lines[2]


def test_rounds_summary_takes_the_median_of_the_pairs() -> None:
    from loadtests.rounds import summary

    def pair(engine: int, baseline: int) -> dict[str, object]:
        return {"engine": {"flash_sale": {"requests_per_s": engine}},
                "baseline": {"flash_sale": {"requests_per_s": baseline}},
                "ratio": {"flash_sale": round(engine / baseline, 1)}}

    assert summary([pair(4000, 1000), pair(3000, 500), pair(2250, 500)]) == [
        "flash_sale: 4000 / 1000 = 4.0x, 3000 / 500 = 6.0x, 2250 / 500 = 4.5x;"
        " median 4.5x (min 4.0x, max 6.0x, 3 pairs)"]  # the mean would be 4.8x
