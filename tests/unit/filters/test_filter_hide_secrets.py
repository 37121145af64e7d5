"""hide_secrets: one call for `redact(secrets) | mask_secrets`, the chain every call site used."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.filter.hide_secrets import FilterModule, hide_secrets
from plugins.filter.mask_secrets import mask_secrets
from plugins.filter.redact import redact


def test_known_values_are_redacted_and_secret_keys_and_url_passwords_masked():
    data = {
        "log": "boot with k9-Secret-77 at postgresql://app:other-pw@db/app",
        "API_TOKEN": "tok-unknown-1",
        "LOG_LEVEL": "info",
    }
    assert hide_secrets(data, ["k9-Secret-77"]) == {
        "log": "boot with [REDACTED] at postgresql://app:********@db/app",
        "API_TOKEN": "********",
        "LOG_LEVEL": "info",
    }


def test_options_reach_both_steps():
    out = hide_secrets({"dsn": "x k9 y", "n": "k9"}, ["k9"], replacement="<r>", patterns=["DSN"], mask="<m>")
    assert out == {"dsn": "<m>", "n": "<r>"}


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text("ab:/@ TOKEN", max_size=12))
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["x", "token", "db_password", "url", "name"]), children, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(nested, st.lists(st.text("ab@:", min_size=1, max_size=4), max_size=3))
def test_is_exactly_the_chain_it_replaces(data, secrets):
    assert hide_secrets(data, secrets) == mask_secrets(redact(data, secrets))


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [({"secrets": [object()]}, "secrets[0]"), ({"secrets": [], "patterns": "KEY"}, "patterns")],
)
def test_errors_name_the_filter_and_the_argument_never_a_value(kwargs, names):
    with pytest.raises(AnsibleFilterError, match=rf"^hide_secrets: {re.escape(names)}") as error:
        hide_secrets({"PASSWORD": "hunter-22"}, **kwargs)
    assert "hunter-22" not in str(error.value)


def test_filter_module_exposes_hide_secrets():
    assert FilterModule().filters() == {"hide_secrets": hide_secrets}
