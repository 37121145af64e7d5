"""The program's step names, read from its source (so a new step is tested without editing tests)."""

from __future__ import annotations

from webappctl.swap import FORWARD, UNDO

__all__ = ["FORWARD", "UNDO"]
