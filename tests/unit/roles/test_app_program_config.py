"""The configuration the app role writes for webappctl: the database file follows DATABASE_URL (a
database that is not a SQLite file on the data volume gets none, and is never printed), numbers are
numbers, and webappctl's own loader takes it as it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import hostkit

PLAYBOOK = hostkit.ROOT / "tests" / "unit" / "roles" / "playbooks" / "program-config.yml"
sys.path.insert(0, str(hostkit.ROOT / "roles" / "webappctl" / "files"))

from webappctl import config as program_config  # noqa: E402


def rendered(where: Path, **variables: object) -> dict:
    dest = where / "app.json"
    subprocess.run(
        [str(hostkit.VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(PLAYBOOK),
         "-e", json.dumps({**variables, "dest": str(dest)}),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=hostkit.ROOT, env=hostkit.ansible_env(), capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(dest.read_text())


@pytest.mark.parametrize(
    ("url", "db_name"),
    [
        ("sqlite:////app/data/app.db", "app.db"),
        ("sqlite:////app/data/shop.sqlite3", "shop.sqlite3"),
        ("sqlite:////var/lib/elsewhere.db", ""),
        ("postgresql://webapp:pg-Secret-4711@db.internal:5432/webapp", ""),
    ],
)
def test_the_database_file_follows_database_url(url: str, db_name: str, tmp_path):
    config = rendered(tmp_path, app_env={"SECRET_KEY": "x" * 32, "DATABASE_URL": url})
    assert config["db_name"] == db_name
    assert "pg-Secret-4711" not in json.dumps(config)
    loaded = program_config.load(tmp_path)
    assert loaded.uid == 10001 and loaded.container.limits.pids == 256 and loaded.proxy is not None
