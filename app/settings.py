"""Settings, read once from the environment (and an optional .env file) with documented defaults.

Every key has a default, so the service starts with no variables at all. Values are cast here rather
than with starlette's casts because those echo the raw value in their error, and some values are
secrets: a SettingsError names the key and what was expected, never what arrived.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from starlette.config import Config
from starlette.datastructures import Secret

SYNCHRONOUS_CHOICES = ("OFF", "NORMAL", "FULL", "EXTRA")
LOG_LEVEL_CHOICES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_SQLITE_PATH = Path("data") / "app.db"

# Key -> default, as documented in .env.example; tests check the two agree.
DEFAULTS: dict[str, str] = {
    "DATABASE_URL": "",  # empty means sqlite:///<cwd>/data/app.db
    "LOG_LEVEL": "INFO",
    "MAX_BODY_BYTES": "1048576",
    "MAX_JSON_DEPTH": "32",
    "PAGE_DEFAULT_LIMIT": "50",
    "PAGE_MAX_LIMIT": "100",
    "SQLITE_SYNCHRONOUS": "FULL",
    "SQLITE_BUSY_TIMEOUT_MS": "5000",
    "SECRET_KEY": "",
    "PUBLIC_READS": "true",
    "WEB_CONCURRENCY": "",  # empty means one worker per CPU the container may use
    "LIMIT_CONCURRENCY": "200",
    "KEEP_ALIVE_TIMEOUT_S": "20",
    "GRACEFUL_SHUTDOWN_TIMEOUT_S": "8",
    "FORWARDED_ALLOW_IPS": "",  # empty: X-Forwarded-* headers are not trusted
    # false: several hosts share one database and the deploy migrates it once, before any host switches
    "MIGRATE_ON_START": "true",
    "APP_VERSION": "dev",
}
# A body is held in memory while it is read: the cap bounds LIMIT_CONCURRENCY x MAX_BODY_BYTES.
MAX_BODY_BYTES_CAP = 16 * 1024 * 1024
MAX_WORKERS = 64
# Tokens are HMACs keyed by SECRET_KEY: shorter keys are refused when issuing or checking them.
SECRET_KEY_MIN_BYTES = 32
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting has an unusable value; the message names the key, never the value."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__(f"setting {key} is invalid: expected {expected}")
        self.key = key


@dataclass(frozen=True)
class Settings:
    database_url: Secret
    log_level: str
    max_body_bytes: int
    max_json_depth: int
    page_default_limit: int
    page_max_limit: int
    sqlite_synchronous: str
    sqlite_busy_timeout_ms: int
    secret_key: Secret
    public_reads: bool
    web_concurrency: int
    limit_concurrency: int
    keep_alive_timeout_s: int
    graceful_shutdown_timeout_s: int
    forwarded_allow_ips: str
    migrate_on_start: bool
    app_version: str
    # Every variable the settings were read from, kept so the log filter can find secret values;
    # out of repr(), so printing the settings never prints the environment.
    source: Mapping[str, str] = field(repr=False)

    @property
    def url(self) -> URL:
        return make_url(str(self.database_url))

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def _int(key: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(key, expected) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise SettingsError(key, expected)
    return value


def _bool(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise SettingsError(key, "true or false")
    return value in _TRUE


def _cpu_quota() -> float | None:
    """CPUs granted by a CFS quota (docker --cpus), cgroup v2 or v1; None when unlimited."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (docker --cpuset-cpus), lowered by a quota."""
    count = len(os.sched_getaffinity(0))
    quota = _cpu_quota()
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def _workers(raw: str) -> int:
    if not raw.strip():
        return min(available_cpus(), MAX_WORKERS)
    return _int("WEB_CONCURRENCY", raw, 1, MAX_WORKERS)


def _forwarded_allow_ips(raw: str) -> str:
    # uvicorn takes a comma-separated list of addresses, networks or "*"; whitespace is dropped.
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    allowed = re.compile(r"^(\*|[0-9A-Fa-f:.]+(/[0-9]{1,3})?)$")
    if not all(allowed.match(p) for p in parts):
        raise SettingsError("FORWARDED_ALLOW_IPS", "a comma-separated list of IP addresses or networks, or *")
    return ",".join(parts)


def _choice(key: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().upper()
    if value not in choices:
        raise SettingsError(key, "one of " + ", ".join(choices))
    return value


def _database_url(raw: str, cwd: Path) -> str:
    if not raw.strip():
        return f"sqlite:///{cwd / DEFAULT_SQLITE_PATH}"
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise SettingsError("DATABASE_URL", "an SQLAlchemy URL such as sqlite:///data/app.db") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise SettingsError("DATABASE_URL", "a SQLite URL naming a file")
        # Relative SQLite paths are taken from the working directory (/app in the container).
        if not url.database.startswith("file:") and not Path(url.database).is_absolute():
            url = url.set(database=str(cwd / url.database))
    elif backend in ("postgresql", "postgres"):
        # psycopg (3) is the driver the image ships; a bare postgresql:// would ask for psycopg2.
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if importlib.util.find_spec("psycopg") is None:
            raise SettingsError(
                "DATABASE_URL",
                "a sqlite:// URL: this image has no PostgreSQL driver (build it with WITH_POSTGRES=true)",
            )
    else:
        raise SettingsError("DATABASE_URL", "a sqlite:// or postgresql+psycopg:// URL")
    return url.render_as_string(hide_password=False)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = None, cwd: Path | None = None
) -> Settings:
    """Read every setting; raise SettingsError for the first unusable one."""
    env = dict(os.environ if environ is None else environ)
    config = Config(env_file=env_file if env_file and Path(env_file).is_file() else None, environ=env)
    raw = {key: str(config(key, default=default)) for key, default in DEFAULTS.items()}
    if config("PAGE_DEFAULT_LIMIT", default=None) is None:
        # Lowering only the maximum must not make the untouched default invalid.
        maximum = _int("PAGE_MAX_LIMIT", raw["PAGE_MAX_LIMIT"], 1, 10000)
        raw["PAGE_DEFAULT_LIMIT"] = str(min(int(DEFAULTS["PAGE_DEFAULT_LIMIT"]), maximum))
    cwd = cwd or Path.cwd()
    settings = Settings(
        database_url=Secret(_database_url(raw["DATABASE_URL"], cwd)),
        log_level=_choice("LOG_LEVEL", raw["LOG_LEVEL"], LOG_LEVEL_CHOICES),
        max_body_bytes=_int("MAX_BODY_BYTES", raw["MAX_BODY_BYTES"], 1, MAX_BODY_BYTES_CAP),
        max_json_depth=_int("MAX_JSON_DEPTH", raw["MAX_JSON_DEPTH"], 1, 256),
        page_default_limit=_int("PAGE_DEFAULT_LIMIT", raw["PAGE_DEFAULT_LIMIT"], 1),
        page_max_limit=_int("PAGE_MAX_LIMIT", raw["PAGE_MAX_LIMIT"], 1, 10000),
        sqlite_synchronous=_choice("SQLITE_SYNCHRONOUS", raw["SQLITE_SYNCHRONOUS"], SYNCHRONOUS_CHOICES),
        sqlite_busy_timeout_ms=_int("SQLITE_BUSY_TIMEOUT_MS", raw["SQLITE_BUSY_TIMEOUT_MS"], 0, 600000),
        secret_key=Secret(raw["SECRET_KEY"]),
        public_reads=_bool("PUBLIC_READS", raw["PUBLIC_READS"]),
        web_concurrency=_workers(raw["WEB_CONCURRENCY"]),
        limit_concurrency=_int("LIMIT_CONCURRENCY", raw["LIMIT_CONCURRENCY"], 1, 100000),
        keep_alive_timeout_s=_int("KEEP_ALIVE_TIMEOUT_S", raw["KEEP_ALIVE_TIMEOUT_S"], 1, 3600),
        graceful_shutdown_timeout_s=_int(
            "GRACEFUL_SHUTDOWN_TIMEOUT_S", raw["GRACEFUL_SHUTDOWN_TIMEOUT_S"], 1, 3600
        ),
        forwarded_allow_ips=_forwarded_allow_ips(raw["FORWARDED_ALLOW_IPS"]),
        migrate_on_start=_bool("MIGRATE_ON_START", raw["MIGRATE_ON_START"]),
        app_version=raw["APP_VERSION"].strip() or "dev",
        source={**config.file_values, **env},
    )
    if settings.page_default_limit > settings.page_max_limit:
        raise SettingsError("PAGE_DEFAULT_LIMIT", f"a value <= PAGE_MAX_LIMIT ({settings.page_max_limit})")
    return settings
