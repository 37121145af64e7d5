"""secret_values: the values the project's secret rule marks, for redact/hide_secrets in the roles."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from plugins.filter.secret_values import FilterModule, secret_values


def test_values_under_secret_names_at_any_depth_each_once_in_order():
    settings = {
        "SECRET_KEY": "s3cret-key-1",
        "LOG_LEVEL": "info",
        "tokens": {"github": "ghp-token-2", "list": ["tok-three", "s3cret-key-1"]},
        "nested": {"db_password": 12345, "port": 8000},
    }
    assert secret_values(settings) == ["s3cret-key-1", "ghp-token-2", "tok-three", "12345"]


def test_database_url_gives_its_password_decoded_not_the_url():
    url = "postgresql+psycopg://app:p%40ss-w0rd@db:5432/app"
    assert secret_values({"DATABASE_URL": url, "READONLY_DATABASE_URL": "sqlite:////app/data/app.db"}) == [
        "p@ss-w0rd"
    ]


def test_a_database_url_that_is_no_url_is_secret_whole():
    assert secret_values({"DATABASE_URL": "app:pw-in-text@db"}) == ["app:pw-in-text@db"]


@pytest.mark.parametrize(
    "settings",
    [
        {
            "SECRET_KEY": "abc",
            "API_TOKEN": "true",
            "PASSWORD": " no ",
            "KEY": None,
            "TOKEN": False,
            "PASSWD": "",
        },
        {
            "SECRET_KEY_FILE": "/run/secrets/key",
            "ssh_public_key": "ssh-ed25519 AAAA",
            "key_name": "deploy-key",
        },
        {"LOG_LEVEL": "debug", "PORT": 8000},
    ],
)
def test_short_values_flags_references_and_plain_settings_are_not_secrets(settings):
    assert secret_values(settings) == []


@pytest.mark.parametrize("settings", [["SECRET_KEY"], "SECRET_KEY=x", None])
def test_anything_but_a_dict_is_an_error(settings):
    with pytest.raises(AnsibleFilterError, match="secret_values: expected a dict"):
        secret_values(settings)


def test_filter_module_exposes_secret_values():
    assert FilterModule().filters() == {"secret_values": secret_values}
