"""``gmmlib.memory``: private memory, the watcher of its peak, and scripts under a memory cap."""

import sys

import numpy as np
import pytest

from gmmlib.memory import MemoryWatcher, private_memory, run_python

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RssAnon and RLIMIT_DATA as Linux defines them")


def test_private_memory_grows_with_an_array_whose_pages_are_touched():
    before = private_memory()
    block = np.ones(25_000_000)  # 200 MB, every page written
    during = private_memory()
    del block
    assert during - before > 150e6


def test_watcher_sees_a_peak_that_is_gone_by_the_end():
    with MemoryWatcher(interval=0.005) as watcher:
        block = np.ones(25_000_000)
        block += 1.0  # keep it a while, touching every page again
        del block
    assert watcher.growth > 150e6
    assert watcher.peak >= watcher.before and watcher.seconds > 0
    report = watcher.report()
    assert set(report) == {"before", "peak", "growth", "seconds"}
    assert private_memory() < watcher.peak - 100e6  # the block was released


def test_watcher_of_a_block_that_allocates_little_reports_little():
    with MemoryWatcher() as watcher:
        small = np.ones(1000).sum()
    assert small == 1000
    assert watcher.growth < 20e6


def test_watcher_rejects_a_bad_interval():
    with pytest.raises(ValueError, match="interval"):
        MemoryWatcher(interval=0)


def test_run_python_returns_the_last_json_line_and_reports_failures():
    assert run_python("print('hello')\nimport json; print(json.dumps({'a': 1}))") == {"a": 1}
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        run_python("1 / 0")
    with pytest.raises(RuntimeError, match="JSON"):
        run_python("pass")
    with pytest.raises(ValueError, match="memory_limit"):
        run_python("pass", memory_limit=0)


CAP_SCRIPT = """
import json, sys
import numpy as np
n_bytes = int(sys.argv[1])
try:
    block = np.ones(n_bytes // 8)
    outcome = "allocated"
except MemoryError:
    outcome = "MemoryError"
print(json.dumps(outcome))
"""


@linux_only
def test_run_python_caps_the_memory_of_the_process():
    """Under a 400 MB cap a 600 MB array cannot be made, a 100 MB one can; without the cap
    the 600 MB array is fine."""
    cap = 400 * 2**20
    assert run_python(CAP_SCRIPT, 600 * 2**20, memory_limit=cap) == "MemoryError"
    assert run_python(CAP_SCRIPT, 100 * 2**20, memory_limit=cap) == "allocated"
    assert run_python(CAP_SCRIPT, 600 * 2**20) == "allocated"
