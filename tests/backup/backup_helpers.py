"""Helpers for the backup role tests: paths, the AWS emulator environment, an ansible-playbook runner."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hostkit import ROOT, VENV_BIN, ansible_env

HERE = Path(__file__).resolve().parent


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


def run_playbook(
    playbook: Path | str,
    *args: str,
    extra_vars: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: int = 900,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the project's config; output kept for the assertion message."""

    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    full_env = ansible_env(**(env or {}))
    proc = subprocess.run(
        cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        pytest.fail(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n{tail}")
    return proc
