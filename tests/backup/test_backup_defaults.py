"""What the backup role takes from the app role's settings unless told otherwise: the restore's health
gate follows where the app is published, and the database file follows DATABASE_URL; a database it
cannot back up is refused without printing its URL."""

from __future__ import annotations

import re

from backup_helpers import HERE, VENV_BIN, run_playbook

PLAYBOOK = HERE / "playbooks" / "derived.yml"
LOCAL = ("-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}")
PUBLISHES = {
    "8000:8000": "http://127.0.0.1:8000/health",
    "8080:8000": "http://127.0.0.1:8080/health",
    "0.0.0.0:80:8000": "http://127.0.0.1:80/health",
    "10.0.0.5:8000:8000": "http://10.0.0.5:8000/health",
}
DATABASE_URLS = {
    "sqlite:////app/data/app.db": "app.db",
    "sqlite:////app/data/shop.sqlite3": "shop.sqlite3",
}


def derived(task: str, **extra: object) -> dict[str, str]:
    proc = run_playbook(PLAYBOOK, *LOCAL, extra_vars=extra)
    section = proc.stdout.split(f"TASK [{task}]", 1)[1].split("TASK [", 1)[0]
    return dict(re.findall(r"msg: (\S+) -> (\S+)", section))


def test_the_health_gate_follows_app_publish() -> None:
    assert derived("Derive the health gate URL", publishes=list(PUBLISHES)) == PUBLISHES


def test_the_health_path_and_an_explicit_url_are_used() -> None:
    got = derived("Derive the health gate URL", publishes=list(PUBLISHES), app_health_path="/healthz")
    assert got == {k: f"{v}z" for k, v in PUBLISHES.items()}
    explicit = "https://internal.example:8443/ready"
    got = derived("Derive the health gate URL", publishes=list(PUBLISHES), backup_restore_health_url=explicit)
    assert set(got.values()) == {explicit}


def test_the_database_file_follows_database_url() -> None:
    assert derived("Derive the database file name", database_urls=list(DATABASE_URLS)) == DATABASE_URLS


def test_a_database_it_cannot_back_up_is_refused_without_echoing_its_url() -> None:
    url = "postgresql://webapp:pg-Secret-4711@db.internal:5432/webapp"
    proc = run_playbook(
        PLAYBOOK,
        *LOCAL,
        "-v",
        extra_vars={"with_preflight": True, "app_env": {"DATABASE_URL": url}},
        check=False,
    )
    assert proc.returncode != 0
    assert "app_env.DATABASE_URL does not name a SQLite file in /app/data" in proc.stdout
    assert "pg-Secret-4711" not in proc.stdout + proc.stderr


def test_the_default_database_passes_preflight() -> None:
    proc = run_playbook(PLAYBOOK, *LOCAL, extra_vars={"with_preflight": True}, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
