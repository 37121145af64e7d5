"""SSH host keys from an instance's console (cloud-init's block) and from ssh-keyscan or known_hosts lines
(the role's filter_plugins/ec2_instance_host_keys.py), reduced to comparable "type base64" pairs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from role_filters import load

keys = load("ec2_instance_host_keys")

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABB"
NEW = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINew"


def console(*blocks: list[str]) -> str:
    """A console as AL2023 prints it: kernel lines, and cloud-init's host key block once per boot."""
    text = "[    0.000000] Linux version 6.1\r\n"
    for block in blocks:
        lines = "".join(f"{line} root@ip-10-0-0-1\r\n" for line in block)
        text += f"-----BEGIN SSH HOST KEY KEYS-----\r\n{lines}-----END SSH HOST KEY KEYS-----\r\n"
    return text + "[   42.1] cloud-init: finished\r\n"


def test_the_keys_of_the_block_are_read():
    assert keys.ec2_instance_console_host_keys(console([ED, ECDSA])) == sorted([ED, ECDSA])


def test_the_latest_boot_wins():
    assert keys.ec2_instance_console_host_keys(console([ED], [NEW])) == [NEW]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[    0.000000] Linux version 6.1\n",
        "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3Nz root@x\n",  # still being written
        "-----BEGIN SSH HOST KEY KEYS-----\n-----END SSH HOST KEY KEYS-----\n",
    ],
)
def test_no_complete_block_means_no_key(text):
    assert keys.ec2_instance_console_host_keys(text) == []


def test_prefixed_lines_are_read_too():
    text = (
        "ec2: -----BEGIN SSH HOST KEY KEYS-----\nec2: "
        + ED
        + " root@x\nec2: -----END SSH HOST KEY KEYS-----\n"
    )
    assert keys.ec2_instance_console_host_keys(text) == [ED]


def test_keyscan_and_known_hosts_lines_give_the_same_pairs():
    lines = [
        "# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2p1",
        f"[127.0.0.1]:2222 {ED}",
        f"@cert-authority *.example.com {ECDSA} ca",
        "",
        "garbage",
    ]
    assert keys.ec2_instance_key_pairs(lines) == sorted([ED, ECDSA])
    assert keys.ec2_instance_key_pairs("\n".join(lines)) == sorted([ED, ECDSA])


def test_a_real_key_round_trips(tmp_path: Path):
    key = tmp_path / "host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    pair = " ".join(public.split()[:2])
    assert keys.ec2_instance_console_host_keys(console([public])) == [pair]
    assert keys.ec2_instance_key_pairs([f"203.0.113.10 {public}"]) == [pair]


def test_wrong_input_types_are_refused():
    with pytest.raises(AnsibleFilterError, match="expected text"):
        keys.ec2_instance_console_host_keys(None)
    with pytest.raises(AnsibleFilterError, match="expected lines of text"):
        keys.ec2_instance_key_pairs(42)
