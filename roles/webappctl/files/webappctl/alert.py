"""A failed backup is told, not only logged: webapp-backup.service has OnFailure=webapp-alert@%n,
which runs `webappctl alert --unit webapp-backup.service`: BackupFailures=1 in the metric namespace
and a message on the alarm topic (the same topic the alarms notify) with the unit's last log lines,
secret values redacted."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from . import awscli, offsite
from .config import Offsite
from .metrics import datum

# SNS subjects: ASCII, at most 100 characters.
SUBJECT_MAX = 100


def journal_tail(unit: str, lines: int = 15) -> list[str]:
    try:
        proc = subprocess.run(
            ["journalctl", "-u", unit, "-n", str(lines), "-o", "cat", "--no-pager"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in proc.stdout.splitlines() if line.strip()]


def text(off: Offsite, unit: str, tail: list[str], scrub: Callable[[str], str]) -> tuple[str, str]:
    host = off.host or socket.gethostname()
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    subject = f"{host}: {unit} FAILED".encode("ascii", "replace").decode()[:SUBJECT_MAX]
    body = "\n".join(
        [
            f"{unit} failed on {host} at {when}.",
            "The backup it ran may not have been taken, uploaded or snapshotted: see the lines below, and on "
            f"the host `journalctl -u {unit}` and `webappctl status`.",
            "",
            "Its last log lines:",
            *(scrub(line) for line in tail),
        ]
    )
    return subject, body


def send(off: Offsite, unit: str, scrub: Callable[[str], str]) -> dict[str, Any]:
    """The metric and the message, each when configured; raises awscli.AwsError when one could not be
    sent (after trying the other)."""
    told: list[str] = []
    errors: list[str] = []
    skipped = [why for why in (offsite.why_not(off, "metrics"), offsite.why_not(off, "alert")) if why]
    if not offsite.why_not(off, "metrics"):
        try:
            awscli.call(
                off, "cloudwatch", "put-metric-data", "--namespace", off.namespace,
                "--metric-data", json.dumps([datum(off, "backup_failures", 1)]),
            )  # fmt: skip
            told.append(f"{off.metric_names['backup_failures']}=1 in {off.namespace}")
        except awscli.AwsError as exc:
            errors.append(str(exc))
    if not offsite.why_not(off, "alert"):
        subject, body = text(off, unit, journal_tail(unit), scrub)
        try:
            sent = awscli.call(
                off, "sns", "publish", "--topic-arn", off.topic_arn, "--subject", subject, "--message", body
            )
            told.append(f"message {sent.get('MessageId')} on {off.topic_arn}")
        except awscli.AwsError as exc:
            errors.append(str(exc))
    if errors:
        raise awscli.AwsError(f"alert for {unit}: {'; '.join(errors)} (sent: {', '.join(told) or 'nothing'})")
    message = f"alerted for {unit}: {', '.join(told)}" if told else f"not alerted for {unit}"
    if skipped:
        message += f" ({'; '.join(dict.fromkeys(skipped))})"
    return {"told": told, "message": message}
