# Filter plugins of the ec2_instance role: SSH host keys as the instance printed them on its console
# (cloud-init's "SSH HOST KEY KEYS" block) and as ssh-keyscan or a known_hosts file lists them, reduced
# to "type base64" pairs so that the two can be compared.
from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: ec2_instance_console_host_keys
short_description: The SSH host keys an instance printed on its console
description:
  - cloud-init prints the instance's public host keys to the console between
    C(-----BEGIN SSH HOST KEY KEYS-----) and C(-----END SSH HOST KEY KEYS-----) on every boot.
    Returns the keys of the last complete block (the latest boot) as C(type base64) strings, or an
    empty list while no complete block has been printed yet.
options:
  _input:
    description: The decoded console output (ec2 GetConsoleOutput).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Pin the keys the console shows
  ansible.builtin.set_fact:
    __keys: "{{ __console.output | ec2_instance_console_host_keys }}"
"""

RETURN = r"""
_value:
  description:
    - C(type base64) strings; ec2_instance_key_pairs returns the same from ssh-keyscan or known_hosts lines.
  type: list
  elements: str
"""

_BLOCK = re.compile(r"-----BEGIN SSH HOST KEY KEYS-----\r?\n(.*?)-----END SSH HOST KEY KEYS-----", re.S)
_KEY_TYPE = re.compile(r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-\S+@openssh\.com)")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,3}")


def _pair(fields: list[str]) -> str | None:
    """'type base64' from the first key type and the field after it, or None."""
    for index, field in enumerate(fields[:-1]):
        if _KEY_TYPE.fullmatch(field) and _BASE64.fullmatch(fields[index + 1]):
            return f"{field} {fields[index + 1]}"
    return None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise AnsibleFilterError(f"{name}: expected text, got {type(value).__name__}")
    return value


def ec2_instance_console_host_keys(output: Any) -> list[str]:
    """The host keys of the last complete block cloud-init printed to the console."""
    blocks = _BLOCK.findall(_text(output, "ec2_instance_console_host_keys"))
    if not blocks:
        return []
    keys = (_pair(line.split()) for line in blocks[-1].splitlines())
    return sorted({key for key in keys if key})


def ec2_instance_key_pairs(lines: Any) -> list[str]:
    """The host keys in ssh-keyscan output or known_hosts lines (host names, markers and comments dropped)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    if not isinstance(lines, list | tuple):
        raise AnsibleFilterError(
            f"ec2_instance_key_pairs: expected lines of text, got {type(lines).__name__}"
        )
    texts = (_text(line, "ec2_instance_key_pairs") for line in lines)
    keys = (_pair(text.split()) for text in texts if not text.startswith("#"))
    return sorted({key for key in keys if key})


class FilterModule:
    def filters(self) -> dict:
        return {
            "ec2_instance_console_host_keys": ec2_instance_console_host_keys,
            "ec2_instance_key_pairs": ec2_instance_key_pairs,
        }
