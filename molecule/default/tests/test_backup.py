"""The scheduled backup configure.yml installs."""

from __future__ import annotations

from conftest import journal


def test_nightly_backup_is_scheduled(host):
    # configure.yml installs it, so a host has backups from its first deploy on.
    timer = host.service("webapp-backup.timer")
    assert timer.is_enabled and timer.is_running, journal(host, "webapp-backup.timer")
    assert host.file("/usr/local/sbin/webappctl").mode == 0o755
    unit = host.file("/etc/systemd/system/webapp-backup.service").content_string
    assert "ExecStart=/usr/local/sbin/webappctl backup --defer 3600 --by timer" in unit
    assert "OnFailure=webapp-alert@%n.service" in unit
