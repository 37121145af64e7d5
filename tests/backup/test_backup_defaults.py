"""The restore's health gate follows where the app role publishes the app, unless it is set."""

from __future__ import annotations

import re

from backup_helpers import HERE, VENV_BIN, run_playbook

LOCAL = ("-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}")
CASES = {
    "8000:8000": "http://127.0.0.1:8000/health",
    "8080:8000": "http://127.0.0.1:8080/health",
    "0.0.0.0:80:8000": "http://127.0.0.1:80/health",
    "10.0.0.5:8000:8000": "http://10.0.0.5:8000/health",
}


def derived(**extra: object) -> dict[str, str]:
    proc = run_playbook(
        HERE / "playbooks" / "health-url.yml", *LOCAL, extra_vars={"publishes": list(CASES), **extra}
    )
    return dict(re.findall(r"msg: (\S+) -> (\S+)", proc.stdout))


def test_the_health_gate_follows_app_publish() -> None:
    assert derived() == CASES


def test_the_health_path_and_an_explicit_url_are_used() -> None:
    assert derived(app_health_path="/healthz") == {k: f"{v}z" for k, v in CASES.items()}
    explicit = "https://internal.example:8443/ready"
    assert set(derived(backup_restore_health_url=explicit).values()) == {explicit}
