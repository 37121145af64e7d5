"""webappctl's parts that need no engine: its configuration loader, the redaction of secrets from
what it prints, the journal, the resumable database replacement, the packing into one file, and
that it runs on Amazon Linux 2023's Python (3.9)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import hostkit
from webappctl import config, dbfiles, journal, redact

PACK = hostkit.ROOT / "roles" / "webappctl" / "files" / "pack.py"


def write_config(where: Path, **values: object) -> Path:
    (where / "app.json").write_text(json.dumps(values))
    return where


def test_the_config_ignores_keys_of_other_versions_and_names_a_bad_number(tmp_path: Path):
    loaded = config.load(write_config(tmp_path, container={"name": "app", "from_a_newer_version": "x"}))
    assert loaded.container.name == "app"
    with pytest.raises(config.ConfigError, match=r"app\.json\.keep_images must be a number, got 'three'"):
        config.load(write_config(tmp_path, keep_images="three"))
    with pytest.raises(config.ConfigError, match=r"deploy the app with playbooks/deploy\.yml first"):
        config.load(tmp_path / "nowhere")


def test_templated_numbers_are_taken_as_numbers(tmp_path: Path):
    loaded = config.load(
        write_config(tmp_path, uid="10001", container={"limits": {"pids": "64"}}, proxy=None)
    )
    assert loaded.uid == 10001 and loaded.container.limits.pids == 64 and loaded.proxy is None


def test_secret_values_and_url_passwords_are_redacted_in_every_encoding(tmp_path: Path):
    settings = tmp_path / "release.env"
    settings.write_text(
        "SECRET_KEY=s3cr3t/value+with spaces\nLOG_LEVEL=INFO\nAPI_TOKEN=true\n"
        "DATABASE_URL=postgresql://app:pg-Pass-4711@db:5432/app\n"
    )
    found = redact.secrets_of(redact.read_settings(settings))
    assert found == {"s3cr3t/value+with spaces", "pg-Pass-4711"}
    scrub = redact.for_files([settings])
    line = 'key=s3cr3t/value+with spaces url=s3cr3t%2Fvalue%2Bwith%20spaces json="pg-Pass-4711" level=INFO'
    assert scrub(line) == 'key=[REDACTED] url=[REDACTED] json="[REDACTED]" level=INFO'


def test_the_journal_keeps_steps_and_the_open_transaction(tmp_path: Path):
    jr = journal.Journal(tmp_path / "txn")
    txn = jr.create("deploy", {"image": "x"}, "me@here")
    txn.mark("prepare", 0.5, alias="a")
    again = jr.active()
    assert again is not None and again.id == txn.id and again.done("prepare") and again.facts["alias"] == "a"
    assert not again.done("hold")
    again.finish("committed", "done")
    assert jr.active() is None and not jr.active_file.exists()


@pytest.fixture
def cfg(tmp_path: Path) -> config.Config:
    data = tmp_path / "data"
    data.mkdir()
    return config.Config(data_dir=str(data), uid=os.getuid(), gid=os.getgid())


@pytest.mark.parametrize("crash_after", [None, "copied", "moved"])
def test_replacing_the_database_resumes_after_a_crash_at_any_stage(
    cfg: config.Config, tmp_path: Path, crash_after: str | None
):
    db = cfg.db_file
    assert db is not None
    db.write_text("live")
    Path(f"{db}-wal").write_text("live-wal")
    source = tmp_path / "source"
    source.mkdir()
    (source / db.name).write_text("restored")
    facts: dict[str, object] = {}
    saved = []

    def save() -> None:
        saved.append(json.loads(json.dumps(facts)))
        stage = facts.get("replace_replaced") or {}
        if crash_after and isinstance(stage, dict) and stage.get(crash_after):
            raise KeyboardInterrupt  # the process dies here

    if crash_after:
        with pytest.raises(KeyboardInterrupt):
            dbfiles.replace(cfg, source, "replaced", facts, save)
        facts = saved[-1]  # what the journal holds after the crash
    aside = dbfiles.replace(cfg, source, "replaced", facts, lambda: None)
    assert db.read_text() == "restored" and not Path(f"{db}-wal").exists()
    assert Path(aside).read_text() == "live" and Path(f"{aside}-wal").read_text() == "live-wal"
    assert sorted(p.name for p in db.parent.iterdir()) == sorted(
        [db.name, Path(aside).name, f"{Path(aside).name}-wal"]
    )


def test_packing_is_byte_for_byte_repeatable(tmp_path: Path):
    for name in ("a.pyz", "b.pyz"):
        subprocess.run([sys.executable, str(PACK), str(tmp_path / name)], check=True)
    assert (tmp_path / "a.pyz").read_bytes() == (tmp_path / "b.pyz").read_bytes()
    status = subprocess.run(
        [sys.executable, str(tmp_path / "a.pyz"), "--help"], capture_output=True, text=True
    )
    assert status.returncode == 0 and "deploy" in status.stdout


def python39() -> str | None:
    found = shutil.which("python3.9")
    if found is None:
        return None
    probe = subprocess.run(
        [found, "--version"], capture_output=True, text=True, env={**os.environ, "PYENV_VERSION": "3.9.18"}
    )
    return found if probe.returncode == 0 and "3.9" in probe.stdout + probe.stderr else None


@pytest.mark.skipif(python39() is None, reason="no Python 3.9 on this machine")
def test_it_runs_on_python_3_9_as_on_amazon_linux_2023(tmp_path: Path):
    packed = tmp_path / "webappctl.pyz"
    subprocess.run([sys.executable, str(PACK), str(packed)], check=True)
    env = {
        **os.environ,
        "PYENV_VERSION": "3.9.18",
        "WEBAPPCTL_CONFIG_DIR": str(write_config(tmp_path, proxy=None)),
    }
    proc = subprocess.run([str(python39()), str(packed), "status"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["lock"] == "free"
    # The timers' commands too (metrics, and the OnFailure alert), with nothing to send.
    for argv, said in (
        (["metrics"], "no metrics published: no metric namespace configured"),
        (["alert", "--unit", "x.service"], "not alerted for x.service"),
    ):
        run = subprocess.run([str(python39()), str(packed), *argv], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["message"].startswith(said)
