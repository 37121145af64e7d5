"""Test-only fault injection: a test writes a step boundary ("before:hold", "after:gate") into the
fault file, and the program kills itself with SIGKILL when it reaches it (after removing the file,
so the next run goes on). "before:hold pause" makes it stop there instead (it sleeps, having written
the file FAULT_FILE.paused), so a test can restart the whole host at that point. The file lives
under /run (never written on a production host); without it this costs one stat per boundary."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FAULT_FILE = Path(os.environ.get("WEBAPPCTL_FAULT_FILE", "/run/webappctl/fault"))


def checkpoint(boundary: str) -> None:
    try:
        wanted = FAULT_FILE.read_text().split()
    except OSError:
        return
    if not wanted or wanted[0] != boundary:
        return
    FAULT_FILE.unlink()
    if wanted[1:] == ["pause"]:
        FAULT_FILE.with_name(FAULT_FILE.name + ".paused").write_text(boundary)
        time.sleep(3600)
    os.kill(os.getpid(), signal.SIGKILL)
