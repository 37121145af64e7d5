"""AWS through the host's own CLI (AL2023 ships AWS CLI v2; the backup role installs Debian's awscli
where it is missing): it finds the instance role's credentials in the metadata service (IMDSv2),
retries, and needs no Python package beside the program. One call, one JSON answer."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from .config import Offsite


class AwsError(RuntimeError):
    """An AWS call failed; the message names the call and has the CLI's last lines of output."""


def call(off: Offsite, service: str, operation: str, *args: str, timeout: float = 900) -> dict[str, Any]:
    argv = [off.aws_command, "--output", "json", "--cli-connect-timeout", "10", "--cli-read-timeout", "120"]
    if off.region:
        argv += ["--region", off.region]
    if off.endpoint_url:
        argv += ["--endpoint-url", off.endpoint_url]
    # No pager (v2 pipes long output through `less`), the standard retry mode with a few attempts.
    env = {**os.environ, "AWS_PAGER": "", "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "5"}
    try:
        proc = subprocess.run(
            [*argv, service, operation, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise AwsError(
            f"the AWS CLI ({off.aws_command}) is not installed on this host: run the backup role again "
            "(it installs it) or install awscli"
        ) from None
    except subprocess.TimeoutExpired:
        raise AwsError(f"aws {service} {operation} did not finish within {timeout:.0f}s") from None
    if proc.returncode != 0:
        detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]) or "no output"
        raise AwsError(f"aws {service} {operation} failed (exit {proc.returncode}): {detail}")
    try:
        return json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        raise AwsError(f"aws {service} {operation} printed no JSON: {proc.stdout[:200]!r}") from None
