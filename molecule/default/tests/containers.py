"""Every container on a host with what the CIS Docker Benchmark (section 5) asks of it: memory, CPU
and PIDs limits, the AppArmor profile and seccomp mode it runs under, privileges, shared host
namespaces, mounts and the host addresses its ports are published on. Read from `docker inspect`
and, for a running container, from /proc/<pid>/status (what the kernel enforces, not what was asked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock"})
SECCOMP_FILTER = 2  # /proc/<pid>/status "Seccomp:" 0 off, 1 strict, 2 filter


@dataclass(frozen=True)
class Binding:
    container_port: str
    address: str
    host_port: str

    def __str__(self) -> str:
        return f"{self.address or '*'}:{self.host_port}->{self.container_port}"


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    running: bool
    memory: int
    nano_cpus: int
    cpu_quota: int
    pids_limit: int
    apparmor: str
    security_opt: tuple[str, ...]
    seccomp_mode: int | None
    no_new_privs: bool | None
    privileged: bool
    namespaces: dict[str, str]
    mount_sources: tuple[str, ...]
    bindings: tuple[Binding, ...]

    @property
    def cpu_limited(self) -> bool:
        return self.nano_cpus > 0 or self.cpu_quota > 0

    @property
    def seccomp_unconfined(self) -> bool:
        return any(opt.replace(":", "=", 1) == "seccomp=unconfined" for opt in self.security_opt)

    @property
    def shared_host_namespaces(self) -> list[str]:
        return sorted(kind for kind, mode in self.namespaces.items() if mode == "host")

    def limits_missing(self) -> list[str]:
        """What CIS 5.11, 5.12 and 5.29 find missing on this container."""
        missing = []
        if self.memory <= 0:
            missing.append("no memory limit")
        if not self.cpu_limited:
            missing.append("no CPU limit")
        if self.pids_limit <= 0:
            missing.append("no PIDs limit")
        return missing


def proc_status(host: Any, pid: int) -> dict[str, str]:
    result = host.run(f"cat /proc/{pid}/status")
    if result.rc != 0:
        return {}
    return dict(line.split(":\t", 1) for line in result.stdout.splitlines() if ":\t" in line)


def from_inspect(host: Any, item: dict[str, Any]) -> Container:
    config, state = item["HostConfig"], item["State"]
    status = proc_status(host, state["Pid"]) if state.get("Running") and state.get("Pid") else {}
    bindings = tuple(
        Binding(port, bound.get("HostIp") or "", bound.get("HostPort") or "")
        for port, bound_list in sorted((config.get("PortBindings") or {}).items())
        for bound in bound_list or []
    )
    return Container(
        name=item["Name"].lstrip("/"),
        image=item["Config"]["Image"],
        running=bool(state.get("Running")),
        memory=config.get("Memory") or 0,
        nano_cpus=config.get("NanoCpus") or 0,
        cpu_quota=config.get("CpuQuota") or 0,
        pids_limit=config.get("PidsLimit") or 0,
        apparmor=item.get("AppArmorProfile") or "",
        security_opt=tuple(config.get("SecurityOpt") or ()),
        seccomp_mode=int(status["Seccomp"]) if "Seccomp" in status else None,
        no_new_privs=status["NoNewPrivs"].strip() == "1" if "NoNewPrivs" in status else None,
        privileged=bool(config.get("Privileged")),
        namespaces={
            "network": config.get("NetworkMode") or "",
            "pid": config.get("PidMode") or "",
            "ipc": config.get("IpcMode") or "",
            "uts": config.get("UTSMode") or "",
            "user": config.get("UsernsMode") or "",
        },
        mount_sources=tuple(mount.get("Source", "") for mount in item.get("Mounts") or ()),
        bindings=bindings,
    )


def list_containers(host: Any) -> list[Container]:
    """Every container the host's engine holds, running or not."""
    ids = host.check_output("docker ps --all --quiet --no-trunc").split()
    if not ids:
        return []
    found = json.loads(host.check_output(f"docker inspect {' '.join(ids)}"))
    return [from_inspect(host, item) for item in found]


def host_has_apparmor(host: Any) -> bool:
    enabled = host.file("/sys/module/apparmor/parameters/enabled")
    return enabled.exists and enabled.content_string.strip() == "Y"


def report(containers: list[Container]) -> str:
    """One line per container, for assertion messages."""
    return "\n".join(
        f"{c.name} ({c.image}): memory={c.memory} nano_cpus={c.nano_cpus} cpu_quota={c.cpu_quota} "
        f"pids={c.pids_limit} apparmor={c.apparmor or '-'} seccomp={c.seccomp_mode} nnp={c.no_new_privs} "
        f"ports={','.join(map(str, c.bindings)) or '-'}"
        for c in containers
    )
