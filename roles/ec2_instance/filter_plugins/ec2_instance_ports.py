# Filter plugins of the ec2_instance role: the app's ports in the security group, checked before any AWS
# call: each a TCP port, and together the ports the webapp hosts serve (HTTPS needs 80 and 443).
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: ec2_instance_port_problems
short_description: Explain which entries of a list are not usable app ports for the security group
description:
  - Returns one sentence per entry that is not a TCP port the security group may open for the app
    (a whole number from 1 to 65535, not 22, which ec2_instance_ssh_cidrs governs), and one per repeated
    port; an empty list means every entry is fine. V([]) is fine: it opens no app port.
options:
  _input:
    description: The ports (ec2_instance_app_ports).
    type: list
    required: true
"""

EXAMPLES = r"""
- name: Check the app ports
  ansible.builtin.assert:
    that: ec2_instance_app_ports | ec2_instance_port_problems | length == 0
    fail_msg: "{{ ec2_instance_app_ports | ec2_instance_port_problems | join('; ') }}"

- name: Check that the group opens what the webapp hosts serve
  ansible.builtin.assert:
    that: ec2_instance_app_ports | ec2_instance_serving_problems(hostvars, groups['webapp']) | length == 0
"""

RETURN = r"""
_value:
  description:
    - One sentence per problem. ec2_instance_serving_problems returns one per host whose served ports
      (80 and 443 with app_domain, else the host port of app_publish) the list does not match.
  type: list
  elements: str
"""

_SSH_PORT = 22
_HTTPS_PORTS = [80, 443]
# The app role's default app_publish: what a host serves when its inventory leaves app_publish unset.
_DEFAULT_PUBLISH = "8000:8000"


def _as_port(entry: Any) -> int | None:
    """entry as a port number, or None when it is not a whole number (booleans are not numbers)."""
    if isinstance(entry, bool):
        return None
    if isinstance(entry, int):
        return entry
    if isinstance(entry, str) and entry.strip().isdigit():
        return int(entry)
    return None


def ec2_instance_port_problems(ports: Any) -> list[str]:
    """One sentence per entry of ports that the security group cannot open for the app."""
    if isinstance(ports, str | Mapping) or not isinstance(ports, list | tuple):
        return [f"ec2_instance_app_ports must be a list of ports such as [8000], got {type(ports).__name__}"]
    problems: list[str] = []
    seen: set[int] = set()
    for entry in ports:
        port = _as_port(entry)
        if port is None:
            problems.append(f"{entry!r} is not a port number")
        elif not 1 <= port <= 65535:
            problems.append(f"{port} is not between 1 and 65535")
        elif port == _SSH_PORT:
            problems.append("22 is SSH, which ec2_instance_ssh_cidrs opens to the operators only")
        elif port in seen:
            problems.append(f"{port} is listed twice")
        else:
            seen.add(port)
    return problems


def _published_port(publish: Any) -> int | None:
    """The host port app_publish ("[IP:]HOST_PORT:8000") binds on every address, else None (a bound
    IP such as 127.0.0.1 is not reached through the security group; a malformed value is the app
    role's preflight to explain)."""
    parts = str(publish).split(":")
    if len(parts) == 3 and parts[0] not in ("", "0.0.0.0"):  # noqa: S104 (a value compared, not bound)
        return None
    return _as_port(parts[-2]) if len(parts) in (2, 3) else None


def ec2_instance_serving_problems(
    ports: Any, hostvars: Mapping[str, Any], hosts: Any, behind_load_balancer: bool = False
) -> list[str]:
    """One sentence per host of hosts whose served ports the security group's ports do not match: a host
    with app_domain serves HTTPS on 443 and the redirect (and the certificate challenge) on 80, so the
    ports must be exactly [80, 443]; a host without it serves plain HTTP on app_publish's host port.
    Behind a load balancer every host serves plain HTTP on app_publish's port (TLS ends at the load
    balancer, which holds the domain's certificate)."""
    if isinstance(hosts, str) or not isinstance(hosts, list | tuple):
        raise AnsibleFilterError(
            "ec2_instance_serving_problems: hosts must be a list of inventory names, "
            f"got {type(hosts).__name__}"
        )
    opened = sorted({port for port in map(_as_port, ports or []) if port is not None})
    problems = []
    for host in hosts:
        variables = hostvars[host]
        domain = "" if behind_load_balancer else variables.get("app_domain") or ""
        if domain:
            if opened != _HTTPS_PORTS:
                problems.append(
                    f"{host} serves HTTPS for app_domain {domain!r}, which needs ports 80 and 443 open "
                    "(80 for the certificate challenge and the redirect): set ec2_instance_app_ports: "
                    f"[80, 443] (got {opened})."
                )
            continue
        port = _published_port(variables.get("app_publish") or _DEFAULT_PUBLISH)
        if port is not None and port not in opened:
            problems.append(
                f"{host} serves plain HTTP on port {port} (app_publish), which ec2_instance_app_ports "
                f"{opened} does not open: add {port} to ec2_instance_app_ports, or set app_publish to a port "
                "it opens."
            )
    return problems


class FilterModule:
    def filters(self) -> dict:
        return {
            "ec2_instance_port_problems": ec2_instance_port_problems,
            "ec2_instance_serving_problems": ec2_instance_serving_problems,
        }
