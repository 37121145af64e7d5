"""Every playbook that changes something refuses, before any change, a fleet this project cannot
run: several hosts on SQLite (by ec2_instance_count or by the inventory's hosts, whatever --limit
says), or hosts that disagree on the database. The hosts here are unreachable addresses: a playbook
that tried to connect to one (or to AWS, whose endpoint is unreachable too) would say so."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.hostkit import ROOT
from support.playbook import ansible_playbook

PLAYBOOKS = [
    "site.yml",
    "provision.yml",
    "configure.yml",
    "deploy.yml",
    "rollback.yml",
    "backup.yml",
    "restore.yml",
    "token.yml",
    "render-user-data.yml",
    "migrate-to-postgres.yml",
]
# Nothing listens there: any connection attempt fails loudly ("UNREACHABLE", or an AWS error).
NOWHERE = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_user": "nobody"}


def inventory(where: Path, hosts: list[str], everyone: dict, webapp: dict | None = None) -> Path:
    path = where / "hosts.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "all": {"hosts": {"localhost": {"ansible_connection": "local"}}, "vars": everyone},
                "webapp": {"hosts": {name: NOWHERE for name in hosts}, "vars": webapp or {}},
            }
        )
    )
    return path


def play(hosts: Path, playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("-i", hosts, *args, ROOT / "playbooks" / playbook, timeout=300)


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, out[-2000:]
    assert "UNREACHABLE" not in out and "Could not connect" not in out, out[-2000:]
    assert "TASK [Refuse several hosts on SQLite" in out and "Nothing was changed." in out, out[-3000:]
    # The check is the first task of the validation play, which every such playbook imports first; only the
    # declaration of the hosts provision would add (an in-memory inventory entry) may come before it.
    tasks = re.findall(r"TASK \[([^\]]*)\]", out)
    assert tasks[-1].startswith("Refuse several hosts on SQLite"), tasks
    assert all("Declare the host" in task or "arg spec 'declare'" in task for task in tasks[:-1]), tasks
    return out


AWS = {"ec2_instance_endpoint_url": "http://127.0.0.1:9", "ec2_instance_region": "us-east-1"}


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_two_hosts_on_sqlite_are_refused_by_every_playbook(tmp_path: Path, playbook: str):
    hosts = inventory(tmp_path, ["web-a", "web-b"], AWS)
    out = refused(play(hosts, playbook, "-e", "confirm_teardown=yes"))
    # The playbooks that provision count the host provision would add too (declare.yml).
    declared = playbook in ("site.yml", "provision.yml")
    assert f"app_database is sqlite, and the inventory asks for {3 if declared else 2} hosts" in out
    assert "in the webapp group: web-a, web-b" in out


def test_a_count_above_one_on_sqlite_is_refused_before_any_aws_call(tmp_path: Path):
    out = refused(play(inventory(tmp_path, [], AWS | {"ec2_instance_count": 3}), "provision.yml"))
    assert "asks for 3 hosts (ec2_instance_count 3" in out


def test_a_limit_to_one_host_does_not_skip_the_check(tmp_path: Path):
    hosts = inventory(tmp_path, ["web-a", "web-b"], AWS)
    refused(play(hosts, "deploy.yml", "-l", "web-b"))


def test_hosts_that_disagree_on_the_database_are_refused(tmp_path: Path):
    hosts = inventory(tmp_path, ["web-a", "web-b"], AWS, webapp={"app_database": "postgres"})
    out = refused(play(hosts, "deploy.yml"))
    assert "app_database is sqlite for the controller's plays but not for web-a, web-b" in out
    assert "set it once, in group_vars/all" in out


def test_a_fleet_on_postgres_passes_the_check(tmp_path: Path):
    hosts = inventory(
        tmp_path, ["web-a", "web-b"], AWS | {"app_database": "postgres", "ec2_instance_count": 2}
    )
    proc = play(hosts, "fleet-check.yml")
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_one_host_on_sqlite_passes_the_check(tmp_path: Path):
    proc = play(inventory(tmp_path, ["web-a"], AWS), "fleet-check.yml")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "localhost                  : ok=1" in proc.stdout


def test_teardown_skips_the_check(tmp_path: Path):
    """A fleet the project cannot run may still be torn down: the validation goes on past the fleet check."""
    hosts = inventory(tmp_path, ["web-a", "web-b"], AWS)
    out = " ".join(play(hosts, "teardown.yml").stdout.split())
    assert "TASK [Refuse several hosts on SQLite" in out and "skipping: [localhost]" in out, out[-3000:]
