"""A process's memory and state as the training worker and the job records read them
(routing_core.platform.memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from routing_core.platform.memory import is_zombie, proc_start, status_bytes


def test_resident_memory_grows_with_what_the_process_touches():
    before = status_bytes("VmRSS")
    block = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, every page written
    after = status_bytes("VmRSS")
    assert block[-1] == 1
    assert after - before > 48 << 20
    assert status_bytes("VmHWM") >= after  # the peak, read where psutil has none
    assert status_bytes("VmData", os.getpid()) >= after - before


def test_an_ended_child_not_yet_waited_for_is_a_zombie_and_a_gone_one_has_no_figures():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while not is_zombie(child.pid) and time.time() < deadline:
        time.sleep(0.02)
    assert is_zombie(child.pid)
    assert proc_start(child.pid) is not None
    child.wait()
    assert not is_zombie(child.pid)
    assert status_bytes("VmRSS", child.pid) is None and proc_start(child.pid) is None
    assert not is_zombie(os.getpid())
