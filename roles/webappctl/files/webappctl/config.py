"""The program's settings: /etc/webapp/app.json (written by the app role), /etc/webapp/backup.json and
/etc/webapp/offsite.json (written by the backup role). Every path the program touches is derived
here, in one place."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(os.environ.get("WEBAPPCTL_CONFIG_DIR", "/etc/webapp"))


class ConfigError(RuntimeError):
    """The configuration is missing or malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Limits:
    memory: str = ""
    cpus: str = ""
    pids: int = 0
    tmp_size: str = ""


@dataclass(frozen=True)
class Container:
    name: str = "webapp"
    port: int = 8000
    data_mount: str = "/app/data"
    restart: str = "unless-stopped"
    stop_timeout: int = 30
    healthcheck: dict[str, Any] = field(default_factory=dict)
    security_opts: list[str] = field(default_factory=lambda: ["no-new-privileges"])
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Proxy:
    container: str = "webapp-proxy"
    upstream_file: str = "/app/proxy/upstream/upstream"
    # A host on which nothing listens on the app's port inside the proxy container: a dial to it is
    # refused at once, and the proxy retries (holds the request) until the file names a release.
    hold_host: str = "127.0.0.1"
    # After the hold is set, requests that read the old upstream just before finish dialing.
    settle_seconds: float = 0.3


@dataclass(frozen=True)
class Backup:
    dir: str = "/app/backups"
    prefix: str = "webapp"
    keep: int = 14
    compress: bool = False


# The metric names of the contract with the alarms (roles/ec2_instance, ec2_instance_metric_names).
METRIC_NAMES = {
    "health": "AppHealthy",
    "disk_used": "DataVolumeUsedPercent",
    "backup_age": "OffsiteBackupAgeSeconds",
    "backup_failures": "BackupFailures",
}


@dataclass(frozen=True)
class Offsite:
    """What the host itself sends to AWS with its instance role (the backup role's offsite.json): each
    backup to S3, snapshots of the data volume, metrics, the alert of a failed backup. An empty name
    switches that part off, and every result says so; `note` says why the host sends nothing at all."""

    note: str = ""
    aws_command: str = "aws"
    region: str = ""
    endpoint_url: str = ""
    host: str = ""
    bucket: str = ""
    key_prefix: str = ""
    encryption: str = "AES256"
    kms_key_id: str = ""
    volume_id: str = ""
    snapshot_keep: int = 7
    # Tags of every snapshot the host takes; only snapshots carrying all of them are ever pruned.
    snapshot_tags: dict[str, str] = field(default_factory=dict)
    snapshot_extra_tags: dict[str, str] = field(default_factory=dict)
    namespace: str = ""
    dimensions: dict[str, str] = field(default_factory=dict)
    metric_names: dict[str, str] = field(default_factory=lambda: dict(METRIC_NAMES))
    topic_arn: str = ""
    # When each metric was last published (tmpfs: after a reboot every metric is due at once).
    metrics_state: str = "/run/webappctl-metrics.json"


@dataclass(frozen=True)
class Config:
    root: str = "/app"
    data_dir: str = "/app/data"
    db_name: str = "app.db"
    uid: int = 10001
    gid: int = 10001
    env_file: str = "/app/.env"
    releases_dir: str = "/app/releases"
    backups_dir: str = "/app/backups"
    repository: str = "webapp"
    keep_images: int = 3
    failure_log_lines: int = 40
    health_path: str = "/health"
    health_timeout: int = 60
    network: str = "webapp"
    container: Container = field(default_factory=Container)
    oneoff: Limits = field(default_factory=Limits)
    proxy: Proxy | None = None
    lock_wait: int = 60
    lock_lease: int = 900
    backup: Backup = field(default_factory=Backup)
    offsite: Offsite = field(default_factory=Offsite)

    # --- derived paths ---------------------------------------------------------------------------
    @property
    def releases(self) -> Path:
        return Path(self.releases_dir)

    @property
    def data(self) -> Path:
        return Path(self.data_dir)

    @property
    def db_file(self) -> Path | None:
        return self.data / self.db_name if self.db_name else None

    @property
    def work_dir(self) -> Path:
        """On the data volume (same file system as the database, so clones are reflinks); owned by
        the app user so a one-off container of the image can open what is in it."""
        return self.data / ".webappctl"

    @property
    def pre_deploy_dir(self) -> Path:
        return Path(self.backups_dir) / "pre-deploy"

    @property
    def settings_dir(self) -> Path:
        return self.releases / "settings"

    @property
    def txn_dir(self) -> Path:
        return self.releases / "txn"


_NESTED: dict[str, dict[str, type]] = {
    "Config": {
        "container": Container,
        "oneoff": Limits,
        "proxy": Proxy,
        "backup": Backup,
        "offsite": Offsite,
    },
    "Container": {"limits": Limits},
}


def _build(kind: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object")
    names = set(kind.__dataclass_fields__)
    # Written by the roles, not by hand: a key this version does not know comes from another version
    # of the roles (an upgrade, or a rollback of the repository) and must not stop a backup or restore.
    values = {key: value for key, value in raw.items() if key in names}
    defaults = kind()
    for key, value in list(values.items()):
        default = getattr(defaults, key, None)
        # Templated JSON may carry numbers as strings: take them as the field's type.
        try:
            if isinstance(default, bool):
                values[key] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            elif isinstance(default, int) and not isinstance(value, int):
                values[key] = int(value)
            elif isinstance(default, float) and not isinstance(value, float):
                values[key] = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.{key} must be a number, got {value!r}") from None
    for key, sub in _NESTED.get(kind.__name__, {}).items():
        if values.get(key) is not None:
            values[key] = _build(sub, values[key], f"{where}.{key}")
    try:
        return kind(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load(config_dir: Path | None = None) -> Config:
    where = config_dir or CONFIG_DIR
    merged: dict[str, Any] = {}
    app_file = where / "app.json"
    try:
        merged.update(json.loads(app_file.read_text()))
    except FileNotFoundError:
        raise ConfigError(f"{app_file} is missing: deploy the app with playbooks/deploy.yml first") from None
    except ValueError as exc:
        raise ConfigError(f"{app_file} is not valid JSON: {exc}") from None
    for key, kind in (("backup", Backup), ("offsite", Offsite)):
        section = _section(where, key)
        if section is not None:
            _build(kind, section, str(where / f"{key}.json"))  # errors name the file the key is in
            merged[key] = section
    return _build(Config, merged, str(app_file))


def _section(where: Path, key: str) -> Any:
    path = where / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def load_offsite(config_dir: Path | None = None) -> Offsite:
    """Only offsite.json: the failure alert must go out even when the app's own settings are broken."""
    where = config_dir or CONFIG_DIR
    section = _section(where, "offsite")
    return Offsite() if section is None else _build(Offsite, section, str(where / "offsite.json"))
