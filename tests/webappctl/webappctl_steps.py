"""The program's step names, read from its source (so a new step is tested without editing tests)."""

from __future__ import annotations

import sys

import hostkit

sys.path.insert(0, str(hostkit.ROOT / "roles" / "webappctl" / "files"))

from webappctl.swap import FORWARD, UNDO

__all__ = ["FORWARD", "UNDO"]
