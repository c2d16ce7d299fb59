"""Request ids: unique within a process, and a forked child does not repeat its parent's."""
from __future__ import annotations

import multiprocessing
import re

from happening_engine.ids import new_id


def _child_ids(out: multiprocessing.Queue) -> None:
    out.put([new_id() for _ in range(1000)])


def test_ids_are_unique_32_hex_digits_also_across_a_fork() -> None:
    mine = [new_id() for _ in range(100_000)]
    assert len(set(mine)) == len(mine) and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in mine[:100])
    out: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_child_ids, args=(out,))
    child.start()
    theirs = out.get(timeout=30)
    child.join(30)
    after = [new_id() for _ in range(1000)]
    assert not set(theirs) & set(after) and len(set(theirs)) == len(theirs)
