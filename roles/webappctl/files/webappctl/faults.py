"""Test-only fault injection: a test writes a step name into the fault file, and the program kills
itself with SIGKILL when it reaches that step (after removing the file, so the next run goes on).
The file lives under /run (never on a production host unless someone writes it there); without it
this costs one stat per step."""

from __future__ import annotations

import os
import signal
from pathlib import Path

FAULT_FILE = Path(os.environ.get("WEBAPPCTL_FAULT_FILE", "/run/webappctl/fault"))


def checkpoint(step: str) -> None:
    try:
        wanted = FAULT_FILE.read_text().strip()
    except OSError:
        return
    if wanted == step:
        FAULT_FILE.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
