"""The one way the tests run the real ansible-playbook: the project's config and plain output
(hostkit.ansible_env), from the checkout's root, output captured for the assertion message; and a
Site, an inventory the project's playbooks run against."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from support.hostkit import ROOT, VENV_BIN, ansible_env


def ansible_playbook(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook ARGS, env over the usual environment; never raises on a failed run."""
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), *map(str, args)],
        cwd=ROOT,
        env=ansible_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def vault_view(path: Path, password_file: Path) -> dict[str, object]:
    """The variables of a vault-encrypted file, as ansible-vault shows them."""
    shown = subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "view", "--vault-password-file", str(password_file), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return yaml.safe_load(shown)


def vault_write(path: Path, password_file: Path, values: dict[str, object]) -> None:
    """Replace a vault-encrypted file with values, encrypted with the same password."""
    path.write_text(yaml.safe_dump(values))
    encrypt = [
        str(VENV_BIN / "ansible-vault"),
        "encrypt",
        "--vault-password-file",
        str(password_file),
        str(path),
    ]
    subprocess.run(encrypt, capture_output=True, check=True)


def vars_file(where: Path, extra_vars: dict[str, object]) -> str:
    """The variables in a JSON file of their own in `where` (as an operator's -e @file); "@path"."""
    path = where / f"vars-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(extra_vars))
    return f"@{path}"


def flat(text: str) -> str:
    """Whitespace collapsed, for messages: the YAML output folds long ones over several lines."""
    return " ".join(text.split())


def fail_unless_ok(proc: subprocess.CompletedProcess[str], what: object) -> None:
    """Fails the test with the output's tail unless ansible-playbook succeeded."""
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")


def run_playbook(
    playbook: Path | str,
    *args: str | Path,
    extra_vars: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook PLAYBOOK [ARGS] [-e EXTRA_VARS]; fails the test unless it succeeds (check=False
    returns the failure to look at). .flat is stdout, whitespace collapsed."""
    extra = ["-e", json.dumps(extra_vars)] if extra_vars else []
    proc = ansible_playbook(playbook, *args, *extra, env=env, timeout=timeout)
    proc.flat = flat(proc.stdout)  # type: ignore[attr-defined]
    if check:
        fail_unless_ok(proc, playbook)
    return proc


@dataclass
class Site:
    """A host (or hosts) in an inventory, and the project's playbooks run against it."""

    inventory: Path
    env: dict[str, str] = field(default_factory=dict)

    def play(
        self, name: str, *args: str, check: bool = True, env: dict[str, str] | None = None, **extra: object
    ) -> subprocess.CompletedProcess[str]:
        """playbooks/NAME against the inventory [ARGS], `extra` as variables (run_playbook)."""
        return run_playbook(
            ROOT / "playbooks" / name,
            "-i",
            self.inventory,
            *args,
            extra_vars=extra,
            env={**self.env, **(env or {})},
            check=check,
        )
