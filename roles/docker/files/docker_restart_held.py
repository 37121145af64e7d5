#!/usr/bin/python3
"""Restart the Docker engine without refusing a single new connection to a published port.

With live restore the containers keep running while dockerd restarts, but the engine deletes its
iptables chains when it starts and adds the port rules back only once it has restored the
containers (moby/moby#34660). In between, a new connection to a published port meets no DNAT rule,
lands on the host itself and is refused (RST): about a second of refused connections (measured on
the test hosts).

This program drops those connection attempts instead of letting them be refused: for the restart it
adds DROP rules for SYNs to the published ports in the filter table (OUTPUT for the host's own, such
as the deploy's health gate on 127.0.0.1, INPUT for clients outside). A packet that Docker's NAT
sends to a container never reaches those rules, so only the attempts that would have failed are
dropped (refused while dockerd is down, left hanging by the placeholder listener it keeps on the
port): the client retransmits its SYN (after 1 s on Linux) and is served once the engine's rules are
back. Dropped before conntrack confirms them, the attempts leave no stale NAT-less entry.

The rules expire by themselves (iptables `time --datestop`) after --hold-seconds even if this
program is killed, are removed by the next run, and do not survive a reboot. The hold is only used
when the engine's new configuration disables the userland proxy: with the proxy, the host's own
connections are served by docker-proxy processes that these rules would block.

    docker-restart-held [--unit docker] [--hold-seconds 120]

Prints one JSON object on success; exits non-zero with "docker-restart-held: error: ..." otherwise.
Installed by the docker role, which runs it when a daemon.json change needs a restart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

DAEMON_JSON = "/etc/docker/daemon.json"
COMMENT = "docker-restart-held"
# OUTPUT before INPUT: the host's own connection attempt must be dropped before conntrack confirms it
# (on its way out); one dropped only on its way back in keeps a NAT-less conntrack entry, and its
# retransmission would then meet dockerd's placeholder listener on the port instead of the container.
CHAINS = ("OUTPUT", "INPUT")
ANY_ADDRESS = ("", "0.0.0.0")  # noqa: S104 - Docker's notation for "published on every address"
CONNECT_TIMEOUT_S = 0.25


class HoldError(RuntimeError):
    """A step failed; the message says which."""


class Port(NamedTuple):
    """A TCP port the engine publishes on the host: its address ("" for all) and number."""

    address: str
    number: int

    def __str__(self) -> str:
        return f"{self.address or '0.0.0.0'}:{self.number}"  # noqa: S104 - a label, not a bind


def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def published_ports(containers: list[dict]) -> list[Port]:
    """The IPv4 TCP host ports published by the running containers in `docker inspect` data."""
    found: set[Port] = set()
    for container in containers:
        if not (container.get("State") or {}).get("Running"):
            continue
        for spec, bindings in ((container.get("NetworkSettings") or {}).get("Ports") or {}).items():
            if not spec.endswith("/tcp"):
                continue
            for binding in bindings or []:
                address = binding.get("HostIp") or ""
                if ":" in address or not binding.get("HostPort"):
                    continue  # IPv6 is not published by the engine without its userland proxy
                found.add(Port("" if address in ANY_ADDRESS else address, int(binding["HostPort"])))
    return sorted(found)


def hold_rules(ports: list[Port], until: datetime) -> list[list[str]]:
    """Filter rule specs (chain first) that drop new connections to `ports` until `until` (UTC)."""
    tail = [
        "-m",
        "comment",
        "--comment",
        COMMENT,
        "-m",
        "time",
        "--datestop",
        until.strftime("%Y-%m-%dT%H:%M:%S"),
    ]
    rules = []
    for port in ports:
        for chain in CHAINS:
            match = ["-p", "tcp", "--syn", "--dport", str(port.number)]
            if port.address:
                match += ["-d", port.address]
            elif chain == "OUTPUT":
                match += ["-m", "addrtype", "--dst-type", "LOCAL"]
            rules.append([chain, *match, *tail, "-j", "DROP"])
    return rules


def stale_rules(listing: str) -> list[list[str]]:
    """The rule specs of holds left by an earlier run, from `iptables -S CHAIN` output."""
    found = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] == "-A" and COMMENT in parts:
            found.append(parts[1:])
    return found


def userland_proxy_disabled(path: str = DAEMON_JSON) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return False
    return config.get("userland-proxy") is False


def running_containers() -> list[dict]:
    ids = run("docker", "ps", "-q", timeout=60)
    if ids.returncode != 0 or not ids.stdout.split():
        return []
    found = run("docker", "inspect", *ids.stdout.split(), timeout=60)
    return json.loads(found.stdout or "[]") if found.returncode == 0 else []


def iptables(action: str, rule: list[str]) -> None:
    proc = run("iptables", "-w", "5", action, *rule, timeout=30)
    if proc.returncode != 0:
        raise HoldError(f"iptables {action} {' '.join(rule)} failed: {proc.stderr.strip()}")


def remove_stale() -> None:
    for chain in CHAINS:
        for rule in stale_rules(run("iptables", "-w", "5", "-S", chain, timeout=30).stdout):
            iptables("-D", rule)


def restart(unit: str) -> None:
    # An operator's restart must not be refused because earlier ones hit the unit's start limit.
    run("systemctl", "reset-failed", f"{unit}.service")
    proc = run("systemctl", "restart", f"{unit}.service", timeout=300)
    if proc.returncode != 0:
        raise HoldError(f"systemctl restart {unit} failed: {proc.stderr.strip()}; see journalctl -u {unit}")


def reachable(port: Port) -> bool:
    address = port.address or "127.0.0.1"
    try:
        socket.create_connection((address, port.number), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def wait_for(ports: list[Port], deadline: float) -> None:
    """Until each port accepts a connection; while the hold is in place only NAT to a container can."""
    for port in ports:
        while not reachable(port):
            if time.monotonic() > deadline:
                raise HoldError(f"published port {port} did not come back after the restart")
            time.sleep(0.05)


def held_restart(unit: str, hold_seconds: int) -> dict:
    started = time.monotonic()
    containers = running_containers()
    ports = published_ports(containers)
    reason = ""
    if not ports:
        reason = "no published port"
    elif not userland_proxy_disabled():
        reason = "the userland proxy is enabled"
    elif shutil.which("iptables") is None:
        reason = "iptables is not installed"
    if reason:
        restart(unit)
        return {"restarted": True, "running": len(containers), "held": [], "reason": f"not held: {reason}"}
    remove_stale()
    # timezone.utc, not datetime.UTC: the hosts' system Python may be 3.9 (Amazon Linux 2023).
    until = datetime.now(timezone.utc) + timedelta(seconds=hold_seconds)  # noqa: UP017
    rules = hold_rules(ports, until)
    added: list[list[str]] = []
    try:
        for rule in rules:
            iptables("-I", rule)
            added.append(rule)
        restart(unit)
        wait_for(ports, started + hold_seconds)
        back = round(time.monotonic() - started, 2)
    finally:
        for rule in added:
            iptables("-D", rule)
    held = [str(port) for port in ports]
    return {"restarted": True, "running": len(containers), "held": held, "ports_back_after_s": back}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unit", default="docker", help="the engine's systemd unit (default: docker)")
    parser.add_argument("--hold-seconds", type=int, default=120, help="longest hold (default: 120)")
    args = parser.parse_args()
    # A dropped SSH session must not stop it half-way; a stop request still releases the hold.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        print(json.dumps(held_restart(args.unit, max(args.hold_seconds, 10))))
    except (HoldError, subprocess.TimeoutExpired, ValueError) as exc:
        print(f"docker-restart-held: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
