"""The Docker engine through its CLI (no SDK needed on the host), and the run options of every
container the program starts: the app's releases and the one-off database tool runs."""

from __future__ import annotations

import json
import shlex
import subprocess
from functools import lru_cache
from typing import Any

from .config import Config, Limits


class DockerError(RuntimeError):
    """A docker command failed; the message has its last lines of output."""


def run(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DockerError(f"docker {args[0]} did not finish within {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]) or "no output"
        raise DockerError(f"docker {' '.join(args[:2])} failed (exit {proc.returncode}): {detail}")
    return proc


def inspect(kind: str, name: str) -> dict[str, Any] | None:
    proc = run(kind, "inspect", name, check=False, timeout=60)
    if proc.returncode != 0:
        return None
    found = json.loads(proc.stdout or "[]")
    return found[0] if found else None


def image_id(ref: str) -> str | None:
    info = inspect("image", ref)
    return info["Id"] if info else None


def container_ip(name: str, network: str) -> str | None:
    info = inspect("container", name) or {}
    net = ((info.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
    return net.get("IPAddress") or None


def state(name: str) -> dict[str, Any]:
    """The container's State ({} when there is no such container)."""
    return (inspect("container", name) or {}).get("State") or {}


def logs_tail(name: str, lines: int) -> str:
    proc = run("logs", "--tail", str(lines), name, check=False, timeout=60)
    return "\n".join(part for part in (proc.stdout, proc.stderr) if part.strip())


@lru_cache(maxsize=1)
def apparmor() -> bool:
    """Whether the engine confines containers with AppArmor (Debian, Ubuntu); not on AL2023."""
    proc = run("info", "--format", "{{json .SecurityOptions}}", check=False, timeout=60)
    return proc.returncode == 0 and "apparmor" in proc.stdout


def limit_args(limits: Limits) -> list[str]:
    args = []
    if limits.memory:
        args += ["--memory", limits.memory, "--memory-swap", limits.memory]
    if limits.cpus:
        args += ["--cpus", str(limits.cpus)]
    if limits.pids:
        args += ["--pids-limit", str(limits.pids)]
    tmp = "/tmp:rw,noexec,nosuid,nodev" + (f",size={limits.tmp_size}" if limits.tmp_size else "")  # noqa: S108
    return [*args, "--tmpfs", tmp]


def hardening_args(cfg: Config, security_opts: list[str]) -> list[str]:
    args = ["--user", f"{cfg.uid}:{cfg.gid}", "--read-only", "--cap-drop", "ALL"]
    opts = list(security_opts)
    if apparmor() and not any(opt.startswith("apparmor") for opt in opts):
        opts.append("apparmor=docker-default")
    for opt in opts:
        args += ["--security-opt", opt]
    return args


def release_args(
    cfg: Config, name: str, image: str, settings: str, alias: str, labels: dict[str, str]
) -> list[str]:
    """`docker create` arguments of one release of the app: created stopped with no restart policy
    (a reboot mid-swap must not start it behind the program's back; the policy is set at commit)."""
    c = cfg.container
    args = ["create", "--name", name, "--restart", "no", "--env-file", settings]
    args += ["--network", cfg.network, "--network-alias", alias]
    args += ["--volume", f"{cfg.data_dir}:{c.data_mount}", "--stop-timeout", str(c.stop_timeout)]
    args += hardening_args(cfg, c.security_opts) + limit_args(c.limits)
    check = c.healthcheck
    if check.get("test"):
        test = check["test"]
        args += ["--health-cmd", test[-1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])]
        for key in ("interval", "timeout", "retries", "start_period"):
            if check.get(key) is not None:
                args += [f"--health-{key.replace('_', '-')}", str(check[key])]
    for key, value in sorted(labels.items()):
        args += ["--label", f"{key}={value}"]
    return [*args, image]


def oneoff_args(
    cfg: Config,
    image: str,
    mounts: dict[str, str],
    env: dict[str, str],
    argv: list[str],
    network: str = "none",
    env_file: str = "",
) -> list[str]:
    """A locked-down one-off run of the image (read-only, the app user; no network unless one is
    named, for a database elsewhere)."""
    args = [
        "run",
        "--rm",
        "--network",
        network,
        *hardening_args(cfg, ["no-new-privileges"]),
        *limit_args(cfg.oneoff),
    ]
    if env_file:
        args += ["--env-file", env_file]
    for host, inside in mounts.items():
        args += ["--volume", f"{host}:{inside}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    return [*args, "--entrypoint", argv[0], image, *argv[1:]]
