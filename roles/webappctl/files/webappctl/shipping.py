"""What follows a regular backup on the host (not a restore's safety copy or a mounted snapshot's):
the data volume's snapshot under the host's lock, then, without it, the upload and the age of the
newest offsite copy. Each part is recorded in the backup's result, done, not done and why, or failed;
any failure fails the run (and so the timer's unit, whose OnFailure= alert tells)."""

from __future__ import annotations

from typing import Any

from . import metrics, offsite
from .config import Config


def under_lock(cfg: Config, result: dict[str, Any]) -> None:
    # Under the lock, the snapshot never catches a swap halfway (it is one quick API call).
    why = offsite.why_not(cfg.offsite, "snapshot")
    offsite.attempt(result, "snapshot", why, lambda: offsite.snapshot(cfg, result))


def after_lock(cfg: Config, result: dict[str, Any]) -> None:
    # The upload needs no lock: a backup file is never changed once written.
    why = offsite.why_not(cfg.offsite, "upload")
    offsite.attempt(result, "upload", why, lambda: offsite.upload(cfg, result))
    why = offsite.why_not(cfg.offsite, "metrics") or (
        "" if result["upload"]["done"] else "nothing was uploaded"
    )
    offsite.attempt(result, "backup_age", why, lambda: metrics.publish(cfg, ["backup_age"]))


def outcome(result: dict[str, Any], shipped: bool) -> tuple[str, str]:
    """The backup's state and message, naming every part after the backup."""
    message = f"backed up to {result['path']}" + (f"; {offsite.summary(result)}" if shipped else "")
    problems = result.get("problems") or []
    if problems:
        return "failed", f"{message}. FAILED: {'; '.join(problems)}"
    return "committed", message
