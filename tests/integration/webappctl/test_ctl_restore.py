"""webappctl restore on the local engine: a bad backup is refused before anything changes (missing,
corrupt, checksum mismatch), a good one is put in place with the replaced database kept and a
verified safety backup taken, and a restore that cannot start is undone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ctlhost import CtlHost
from support import hostkit
from support import testimages as images

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def backup(host: CtlHost) -> Path:
    assert host.deploy(images.V1).state == "committed"
    hostkit.post_item(host.url, "in-the-backup", {})
    taken = host.ctl("backup")
    assert taken.rc == 0, taken
    return Path(taken.result["path"])


def corrupt(source: Path, dest: Path) -> Path:
    data = bytearray(source.read_bytes())
    # Every page after the first two: the schema page survives, the tables do not.
    data[8192:] = bytes(len(data) - 8192)
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize("case", ["missing", "corrupt", "checksum"])
def test_a_bad_backup_is_refused_before_anything_changes(
    host: CtlHost, backup: Path, tmp_path: Path, case: str
):
    assert len(backup.read_bytes()) > 8192, "the backup is too small for the corruption to hit its tables"
    before = (host.running_image(), host.db_items(tmp_path))
    if case == "missing":
        path, message = tmp_path / "nope.db", "no backup file at"
    elif case == "corrupt":
        path, message = corrupt(backup, tmp_path / "corrupt.db"), "failed verification"
    else:
        path = tmp_path / "tampered.db"
        path.write_bytes(backup.read_bytes())
        wrong = hashlib.sha256(b"other bytes").hexdigest()
        assert wrong != hashlib.sha256(path.read_bytes()).hexdigest()
        Path(f"{path}.sha256").write_text(f"{wrong}  tampered.db\n")
        message = "does not match its checksum file"
    outcome = host.ctl("restore", "--file", str(path), "--foreground")
    assert outcome.rc != 0 and message in outcome.message + outcome.stderr, outcome
    assert (host.running_image(), host.db_items(tmp_path)) == before
    assert host.lock_free()


def test_a_good_backup_is_restored_and_the_replaced_database_kept(
    host: CtlHost, backup: Path, tmp_path: Path
):
    since = hostkit.post_item(host.url, "after-the-backup", {})
    outcome = host.ctl("restore", "--file", str(backup), "--label", "the nightly one", "--foreground")
    assert outcome.rc == 0 and outcome.state == "committed", outcome
    assert "Restored the nightly one into " in outcome.message
    live = host.db_items(tmp_path)
    assert "in-the-backup" in live.values() and since not in live
    safety = Path(outcome.result["result"]["backup"]["path"])
    assert safety.parent.name == "pre-restore" and since in host.backup_items(safety, tmp_path)
    assert "the database it replaced is kept as " in outcome.message.lower()
