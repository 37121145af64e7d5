"""mask_secrets: secret-looking keys and URL passwords are masked, the rest is kept."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.filter.mask_secrets import DEFAULT_MASK, FilterModule, mask_secrets

M = DEFAULT_MASK


@pytest.mark.parametrize(
    "key",
    ["SECRET_KEY", "api_token", "DbPassword", "smtp_passwd", "ssh_private", "aws_credentials", "Key"],
)
def test_default_patterns_match_case_insensitively(key):
    assert mask_secrets({key: "value"}) == {key: M}


def test_other_keys_are_kept():
    settings_ = {"PORT": 8000, "LOG_LEVEL": "info", "DEBUG": False}
    assert mask_secrets(settings_) == settings_


def test_values_below_a_secret_key_are_masked_and_keep_their_shape():
    data = {"tokens": {"github": "ghp_x", "extra": [1, "y"]}}
    assert mask_secrets(data) == {"tokens": {"github": M, "extra": [M, M]}}


def test_unset_values_and_flags_stay_visible_under_secret_keys():
    data = {"SECRET_KEY": None, "DB_PASSWORD": "", "ssh_key_checking": False}
    assert mask_secrets(data) == data


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cr3t@db:5432/app", f"postgresql://app:{M}@db:5432/app"),
        ("redis://:pw@cache:6379/0", f"redis://:{M}@cache:6379/0"),
        ("https://user:p@ss@host/x", f"https://user:{M}@host/x"),
        ("use amqp://u:p@mq and s3+https://k:v@s3", f"use amqp://u:{M}@mq and s3+https://k:{M}@s3"),
        ("https://token@github.com/x", "https://token@github.com/x"),
        ("https://host:8443/path", "https://host:8443/path"),
    ],
)
def test_url_passwords_are_masked_in_any_value(url, masked):
    assert mask_secrets({"DATABASE_URL": url}, ["NOTHING"]) == {"DATABASE_URL": masked}
    assert mask_secrets({"items": [url]}) == {"items": [masked]}


def test_patterns_can_be_overridden():
    data = {"SENTRY_DSN": "https://k@o.ingest/1", "API_TOKEN": "t"}
    assert mask_secrets(data, ["dsn"]) == {"SENTRY_DSN": M, "API_TOKEN": "t"}


def test_custom_mask():
    assert mask_secrets({"password": "x"}, mask="<hidden>") == {"password": "<hidden>"}


def test_input_is_not_mutated():
    data = {"nested": {"password": "x"}, "list": ["a"]}
    out = mask_secrets(data)
    out["list"].append("b")
    assert data == {"nested": {"password": "x"}, "list": ["a"]}


@pytest.mark.parametrize("patterns", ["PASSWORD", [""], [3], None])
def test_bad_patterns_are_an_error(patterns):
    with pytest.raises(AnsibleFilterError, match="patterns"):
        mask_secrets({}, patterns)


def test_filter_module_exposes_mask_secrets():
    assert FilterModule().filters() == {"mask_secrets": mask_secrets}


secret_values = st.text(st.characters(exclude_categories=["Cs", "Zs", "Cc"]), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["db_password", "API_TOKEN", "ssh_private_key", "Secret", "aws_credential"]),
        secret_values,
        min_size=1,
    ),
    st.dictionaries(st.sampled_from(["HOST", "PORT", "NAME"]), st.text("abc:/", max_size=8)),
)
def test_no_value_under_a_secret_key_survives(secret, plain):
    out = mask_secrets({**secret, **plain})
    assert {key: out[key] for key in secret} == dict.fromkeys(secret, M)
    assert {key: out[key] for key in plain} == plain


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z][a-z0-9+.-]{0,6}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._~-]{0,8}", fullmatch=True),
    st.text(st.characters(exclude_categories=["Cs", "Zs", "Cc", "Zl", "Zp"]), min_size=1, max_size=12),
    st.from_regex(r"[a-z0-9.-]{1,10}(:[0-9]{1,5})?(/[a-z]{0,5})?", fullmatch=True),
)
def test_url_password_never_survives(scheme, user, password, host):
    url = f"{scheme}://{user}:{password}@{host}"
    assert mask_secrets({"url": url}) == {"url": f"{scheme}://{user}:{M}@{host}"}
