"""A copy of this checkout as a git repository of its own, where deploy/*.sh run with recording
stand-ins for the tools that would act (ansible-playbook, docker, moto_server, curl, ssh, pip).
The stand-ins only log their arguments, so a test proves what a script ran, or that it ran nothing.
The copy has no .venv, so the scripts find the tools on PATH, the stand-ins first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.hostkit import ROOT

# The tools that act; each stand-in appends its argv to $SPY_LOG as one JSON line and exits 0,
# or with $SPY_FAIL_RC when its command line starts with $SPY_FAIL (e.g. "ansible-playbook").
SPIED = ("ansible-playbook", "docker", "moto_server", "curl", "ssh", "pip", "aws")
SPY = """#!/usr/bin/env python3
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["SPY_LOG"], "a") as log:
    log.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
line = " ".join([name, *sys.argv[1:]])
fail = os.environ.get("SPY_FAIL", "")
sys.exit(int(os.environ.get("SPY_FAIL_RC", "1")) if fail and line.startswith(fail) else 0)
"""
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What the scripts need to reach their checks: a PATH with only these has no ansible-playbook at all.
BARE_TOOLS = ("bash", "env", "dirname", "basename", "sed", "git", "cat")


def copy_checkout(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored) committed in a fresh repository."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-C", str(dest), "-c", "user.name=sandbox", "-c", "user.email=sandbox@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "sandbox"], check=True)
    return dest


def spy_dir(dest: Path, tools: tuple[str, ...] = SPIED) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        (dest / tool).write_text(SPY)
        (dest / tool).chmod(0o755)
    return dest


def bare_dir(dest: Path) -> Path:
    """Links to BARE_TOOLS only."""
    dest.mkdir(parents=True, exist_ok=True)
    for tool in BARE_TOOLS:
        found = shutil.which(tool, path=SYSTEM_PATH)
        assert found, f"{tool} is not installed"
        (dest / tool).symlink_to(found)
    return dest


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def ran(self, tool: str) -> list[list[str]]:
        return [call[1:] for call in self.calls if call[0] == tool]


@dataclass
class Sandbox:
    root: Path
    spies: Path
    log: Path

    def run(self, script: str, *args: str, path: str | None = None, **env: str) -> Result:
        """deploy/SCRIPT ARGS in the copy, stdin not a terminal, a clean environment plus `env`."""
        self.log.write_text("")
        proc = subprocess.run(
            [str(self.root / "deploy" / script), *args],
            cwd=self.root,
            env={
                "PATH": path or f"{self.spies}:{SYSTEM_PATH}",
                "HOME": os.environ.get("HOME", "/root"),
                "LANG": "C.UTF-8",
                "SPY_LOG": str(self.log),
                **env,
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return Result(proc.returncode, proc.stdout, proc.stderr, calls)

    def revision(self) -> str:
        return subprocess.run(
            ["git", "-C", str(self.root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
