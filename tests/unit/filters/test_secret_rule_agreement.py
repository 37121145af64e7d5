"""One secret rule, held once per side: the app's log filter (app/redaction.py), the host program
(webappctl/redact.py) and the controller's filters and stdout callback
(plugins/plugin_utils/secret_rule.py) must say the same about every name and value."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webappctl import redact as host_rule

from app import redaction as app_rule
from plugins.plugin_utils import secret_rule as controller_rule

# Names as they occur: env variables, Ansible variables, dict keys, camelCase, plus random text.
REAL_NAMES = [
    "SECRET_KEY", "DATABASE_URL", "LOG_LEVEL", "API_TOKEN", "DbPassword", "smtp_passwd", "ssh_private",
    "aws_credentials", "Key", "monkey", "SECRET_KEY_FILE", "ec2_instance_key_name", "ec2_instance_public_key",
    "ec2_instance_public_key_file", "ec2_instance_ssh_private_key_file", "ec2_instance_kms_key_id",
    "backup_s3_kms_key_id", "__backup_s3_key_prefix", "__app_secret_key_pattern", "ssh_host_key_rsa_public",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "privateKeyFile", "privateKey", "app_db_password",
    "vault_app_secret_key", "tokenArn", "KEYS", "api_keys", "PORT", "ansible_become_password",
]  # fmt: skip
names = st.one_of(
    st.sampled_from(REAL_NAMES),
    st.text(st.sampled_from("aAkKeEyYsStTpPiIdDfFlLnNuUbBcC_-.0 "), max_size=24),
    st.builds(
        "_".join,
        st.lists(st.sampled_from(["db", "KEY", "file", "Public", "name", "token", "x1"]), max_size=4),
    ),
)


def test_both_sides_hold_the_same_constants():
    for constant in (
        "SECRET_WORDS",
        "REFERENCE_WORDS",
        "PUBLIC_WORD",
        "URL_NAME_SUFFIX",
        "MIN_SECRET_LENGTH",
        "NOT_SECRET",
    ):
        assert getattr(app_rule, constant) == getattr(controller_rule, constant), constant
        assert getattr(host_rule, constant) == getattr(controller_rule, constant), constant


@settings(max_examples=500, deadline=None)
@given(names)
def test_both_sides_mark_the_same_names_secret(name):
    assert app_rule.is_secret_name(name) == controller_rule.is_secret_name(name)
    assert host_rule.is_secret_name(name) == controller_rule.is_secret_name(name)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("SECRET_KEY", True), ("app_db_password", True), ("Key", True), ("ssh_private", True),
        ("LOG_LEVEL", False), ("SECRET_KEY_FILE", False), ("ec2_instance_key_name", False),
        ("ec2_instance_public_key", False), ("ec2_instance_kms_key_id", False), ("privateKeyFile", False),
        ("__backup_s3_key_prefix", False), ("AWS_ACCESS_KEY_ID", False), ("AWS_SECRET_ACCESS_KEY", True),
    ],
)  # fmt: skip
def test_the_rule_marks_secrets_and_not_what_only_refers_to_them(name, secret):
    # The positive control for the agreement above: a rule that says False everywhere agrees too.
    assert controller_rule.is_secret_name(name) is secret


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.text(max_size=8), st.sampled_from(["true", " TRUE ", "no", "None", "abcd", " ab ", "1234"]))
)
def test_both_sides_keep_the_same_minimum(value):
    assert app_rule.can_be_secret(value) == controller_rule.can_be_secret(value)


def test_the_minimum_spares_short_words_and_flags():
    assert [
        v for v in ["abc", "true", "Yes", " no ", "abcd", "8000"] if controller_rule.can_be_secret(v)
    ] == [
        "abcd",
        "8000",
    ]


password_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=16)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["postgresql", "postgresql+psycopg", "mysql", "sqlite"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True),
    password_text,
    st.from_regex(r"[a-z][a-z0-9.-]{0,9}(:[0-9]{1,5})?", fullmatch=True),
)
def test_both_sides_take_the_same_password_from_a_database_url(scheme, user, password, host):
    url = f"{scheme}://{user}:{quote(password, safe='')}@{host}/app"
    env = {"DATABASE_URL": url, "LOG_LEVEL": "info"}
    app_side = {value for value in app_rule.secret_values(env) if app_rule.can_be_secret(value)}
    assert set(controller_rule.secret_values(env)) == app_side
    assert controller_rule.url_password(url) == password


@pytest.mark.parametrize(
    "value", ["sqlite:////app/data/app.db", "not a url at all", "postgresql://app@db/app"]
)
def test_both_sides_agree_on_database_urls_without_a_password(value):
    env = {"DATABASE_URL": value}
    app_side = {v for v in app_rule.secret_values(env) if app_rule.can_be_secret(v)}
    assert set(controller_rule.secret_values(env)) == app_side
