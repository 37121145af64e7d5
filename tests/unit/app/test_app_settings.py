"""Settings: defaults for everything, clear errors naming the key, .env.example in step."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.settings import DEFAULTS, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[3]
VALID = {
    "DATABASE_URL": "sqlite:////srv/other.db",
    "LOG_LEVEL": "debug",
    "MAX_BODY_BYTES": "2048",
    "MAX_JSON_DEPTH": "8",
    "PAGE_DEFAULT_LIMIT": "10",
    "PAGE_MAX_LIMIT": "20",
    "SQLITE_SYNCHRONOUS": "normal",
    "SQLITE_BUSY_TIMEOUT_MS": "100",
    "SECRET_KEY": "s3cr3t-value",
    "PUBLIC_READS": "false",
    "WEB_CONCURRENCY": "3",
    "LIMIT_CONCURRENCY": "50",
    "KEEP_ALIVE_TIMEOUT_S": "30",
    "GRACEFUL_SHUTDOWN_TIMEOUT_S": "4",
    "FORWARDED_ALLOW_IPS": "10.0.0.0/8, 172.18.0.2",
    "MIGRATE_ON_START": "false",
    "APP_VERSION": "1.2.3",
}
EXPECTED_DEFAULTS = {
    "log_level": "INFO",
    "max_body_bytes": 1048576,
    "max_json_depth": 32,
    "page_default_limit": 50,
    "page_max_limit": 100,
    "sqlite_synchronous": "FULL",
    "sqlite_busy_timeout_ms": 5000,
    "public_reads": True,
    "limit_concurrency": 200,
    "keep_alive_timeout_s": 20,
    "graceful_shutdown_timeout_s": 8,
    "forwarded_allow_ips": "",
    "migrate_on_start": True,
    "app_version": "dev",
}
ATTRIBUTE = {key: key.lower() for key in DEFAULTS}


def test_no_variables_gives_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    for attribute, value in EXPECTED_DEFAULTS.items():
        assert getattr(settings, attribute) == value
    assert str(settings.database_url) == f"sqlite:///{tmp_path}/data/app.db"
    assert str(settings.secret_key) == ""


@hsettings(max_examples=60, deadline=None)
@given(present=st.sets(st.sampled_from(sorted(VALID))))
def test_any_missing_subset_falls_back_to_defaults(present: set[str]) -> None:
    cwd = Path("/srv/app")
    settings = load_settings(environ={k: VALID[k] for k in present}, cwd=cwd)
    defaults = load_settings(environ={}, cwd=cwd)
    given_values = load_settings(environ=VALID, cwd=cwd)
    for key, attribute in ATTRIBUTE.items():
        expected = given_values if key in present else defaults
        if key == "PAGE_DEFAULT_LIMIT" and key not in present:
            # Documented: the default page size never exceeds the configured maximum.
            assert settings.page_default_limit == min(50, settings.page_max_limit)
            continue
        assert str(getattr(settings, attribute)) == str(getattr(expected, attribute)), key


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    env = VALID | {"DATABASE_URL": "postgresql+psycopg://u:pw-hunter22@h/d", "OTHER_TOKEN": "tok-hunter33"}
    text = repr(load_settings(environ=env, cwd=tmp_path))
    for secret in ("s3cr3t-value", "pw-hunter22", "tok-hunter33"):
        assert secret not in text


def test_relative_sqlite_path_is_taken_from_working_directory(tmp_path: Path) -> None:
    settings = load_settings(environ={"DATABASE_URL": "sqlite:///db/x.db"}, cwd=tmp_path)
    assert settings.url.database == str(tmp_path / "db" / "x.db")


def test_bare_postgresql_url_gets_the_psycopg_driver(tmp_path: Path) -> None:
    settings = load_settings(environ={"DATABASE_URL": "postgresql://u:p@h/d"}, cwd=tmp_path)
    assert settings.url.drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MAX_BODY_BYTES", "0"),
        ("MAX_BODY_BYTES", "lots"),
        ("MAX_BODY_BYTES", "16777217"),  # above the 16 MiB cap
        ("PUBLIC_READS", "sometimes"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "65"),
        ("LIMIT_CONCURRENCY", "none"),
        ("KEEP_ALIVE_TIMEOUT_S", "-7"),
        ("GRACEFUL_SHUTDOWN_TIMEOUT_S", "-1"),
        ("FORWARDED_ALLOW_IPS", "proxy.internal"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1; rm -rf /"),
        ("MAX_JSON_DEPTH", "1000"),
        ("PAGE_MAX_LIMIT", "-1"),
        ("PAGE_DEFAULT_LIMIT", "500"),  # above the max of 100
        ("SQLITE_SYNCHRONOUS", "SOMETIMES"),
        ("SQLITE_BUSY_TIMEOUT_MS", "1.5"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://u:hunter22@h/d"),
        ("DATABASE_URL", "not a url with hunter22"),
        ("DATABASE_URL", "sqlite://"),
    ],
)
def test_invalid_value_names_the_key_not_the_value(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={key: value}, cwd=tmp_path)
    assert caught.value.key == key
    assert key in str(caught.value)
    assert value not in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=WARNING\nPAGE_MAX_LIMIT=7\nPAGE_DEFAULT_LIMIT=5\n")
    settings = load_settings(environ={"LOG_LEVEL": "ERROR"}, env_file=env_file, cwd=tmp_path)
    assert (settings.log_level, settings.page_max_limit) == ("ERROR", 7)


def test_env_example_documents_every_setting_with_its_default() -> None:
    text = (REPO / ".env.example").read_text()
    for key, default in DEFAULTS.items():
        # The commented example line shows the default itself (where the default is a literal).
        shown = re.search(rf"^#{key}=(.*)$", text, re.MULTILINE)
        assert shown, f"{key} missing from .env.example"
        if default:
            assert shown.group(1) == default, key
    assert text.count("Default:") >= len(DEFAULTS)


def test_workers_default_to_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    from app.settings import available_cpus

    assert load_settings(environ={}, cwd=tmp_path).web_concurrency == available_cpus() >= 1
    assert available_cpus() <= len(os.sched_getaffinity(0))


def test_forwarded_allow_ips_is_normalised(tmp_path: Path) -> None:
    settings = load_settings(environ={"FORWARDED_ALLOW_IPS": " 10.0.0.0/8 , 172.18.0.2,,"}, cwd=tmp_path)
    assert settings.forwarded_allow_ips == "10.0.0.0/8,172.18.0.2"


@pytest.mark.parametrize(
    ("env", "expected", "absent"),
    [
        ({}, ["--no-proxy-headers"], ["--proxy-headers"]),
        (
            {"FORWARDED_ALLOW_IPS": "172.18.0.0/16"},
            ["--proxy-headers", "--forwarded-allow-ips=172.18.0.0/16"],
            ["--no-proxy-headers"],
        ),
        (
            {"WEB_CONCURRENCY": "3", "LIMIT_CONCURRENCY": "50", "KEEP_ALIVE_TIMEOUT_S": "30"},
            [
                "--workers=3",
                "--limit-concurrency=50",
                "--timeout-keep-alive=30",
                "--timeout-graceful-shutdown=8",
            ],
            [],
        ),
    ],
)
def test_uvicorn_options_follow_the_settings(tmp_path: Path, env: dict, expected: list, absent: list) -> None:
    from app.serve import uvicorn_args

    args = uvicorn_args(load_settings(environ=env, cwd=tmp_path))
    assert args[0] == "app.main:app" and "--host=0.0.0.0" in args and "--port=8000" in args
    for option in expected:
        assert option in args
    for option in absent:
        assert option not in args


def test_uvicorn_accepts_the_options(tmp_path: Path) -> None:
    # uvicorn's own command parser reads them (a typo in an option name fails here, not at deploy).
    import click
    import uvicorn

    from app.serve import uvicorn_args

    args = uvicorn_args(load_settings(environ={"FORWARDED_ALLOW_IPS": "10.0.0.1"}, cwd=tmp_path))
    context = uvicorn.main.make_context("uvicorn", [*args, "--help"], resilient_parsing=True)
    assert isinstance(context, click.Context)
    assert context.params["workers"] >= 1 and context.params["proxy_headers"] is True
    assert context.params["forwarded_allow_ips"] == "10.0.0.1"
