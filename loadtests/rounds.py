"""Alternated pairs: `python -m loadtests.rounds N [bench options]`.

Runs `python -m loadtests.bench` N times with the given options (each run measures Happening, then the
baseline, on a throwaway database) and prints, per scenario, every pair's rates and ratio, then the
median ratio. On this machine one pair's ratio moves with the CPU's speed of the minute (the same code's
flash-sale ratio spread 4.4-5.2x within an hour), so a ratio target is judged by the median over
alternated pairs, not by one run. Exit status 1 if any run reported a problem (invariants, errors).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_bench(options: list[str]) -> tuple[dict[str, Any], int]:
    """One bench run: its result (the JSON file it wrote) and its exit status."""
    done = subprocess.run([sys.executable, "-m", "loadtests.bench", *options], capture_output=True, text=True)
    paths = [line.split("results: ", 1)[1] for line in done.stdout.splitlines() if line.startswith("results: ")]
    if not paths:
        raise RuntimeError(f"the bench wrote no results:\n{done.stdout}\n{done.stderr}")
    return json.loads(Path(paths[-1]).read_text()), done.returncode


def summary(results: list[dict[str, Any]]) -> list[str]:
    """Per scenario: each pair as `Happening/s / baseline/s = ratio`, then the median, min and max ratio."""
    lines = []
    for name in results[0]["ratio"]:
        ratios = [r["ratio"][name] for r in results]
        pairs = ", ".join(f"{r['engine'][name]['requests_per_s']} / {r['baseline'][name]['requests_per_s']}"
                          f" = {r['ratio'][name]}x" for r in results)
        lines.append(f"{name}: {pairs}; median {statistics.median(ratios):.1f}x"
                     f" (min {min(ratios)}x, max {max(ratios)}x, {len(ratios)} pairs)")
    return lines


def main(argv: list[str]) -> int:
    if not argv or not argv[0].isdigit() or int(argv[0]) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    rounds, options = int(argv[0]), argv[1:]
    if "--no-baseline" in options:
        print("rounds compare with the baseline: --no-baseline makes no pairs", file=sys.stderr)
        return 2
    results, failed = [], 0
    for i in range(rounds):
        result, status = run_bench(options)
        failed += status != 0
        results.append(result)
        print(f"pair {i + 1}/{rounds}: " + ", ".join(f"{name} {ratio}x" for name, ratio in result["ratio"].items())
              + ("" if status == 0 else f" (PROBLEM: {'; '.join(result.get('problems', []))})"), flush=True)
    print("\n".join(summary(results)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
